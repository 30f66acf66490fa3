"""Request and response shapes for the OpenAPI document.

Bodies are read by ``forms`` (they arrive as bracketed form fields or JSON),
so these models document the wire format; they do not parse it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from lookalike.prompts.options import ASPECT_RATIOS, MAX_DEEPCACHE, MAX_IMAGES, MAX_STEPS, MIN_IMAGES, MIN_STEPS
from lookalike.prompts.schedulers import SCHEDULER_NAMES


class ErrorDetail(BaseModel):
    code: str
    message: str
    hint: str | None = None
    field: str | None = None
    image_index: int | None = None
    details: dict[str, Any] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class TuneFields(BaseModel):
    title: str = Field(max_length=255, description="Required. Also the idempotency key: a second POST with the same title returns the first tune.")
    name: str = Field(description="Class name: man, woman, boy, girl, person, male, female, child, baby.")
    base_tune_id: int | str | None = Field(None, description="Gallery id of a base model (GET /gallery/tunes) or its slug.")
    model_type: str | None = Field("faceid", description="Only `faceid`.")
    callback: str | None = Field(None, description="POSTed the tune's JSON once it is ready.")
    image_urls: list[str] | None = Field(None, description="Not supported: upload files instead (422 image_urls_unsupported).")


class PromptFields(BaseModel):
    text: str = Field(max_length=4000, description="Prompt text with <faceid:TUNE_ID:WEIGHT> tokens.")
    negative_prompt: str | None = None
    num_images: int | None = Field(None, ge=MIN_IMAGES, le=MAX_IMAGES)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    steps: int | None = Field(None, ge=MIN_STEPS, le=MAX_STEPS)
    cfg_scale: float | None = Field(None, ge=0, le=15)
    w: int | None = Field(None, description="Multiple of 8; with h.")
    h: int | None = Field(None, description="Multiple of 8; with w.")
    aspect_ratio: str | None = Field(None, json_schema_extra={"enum": list(ASPECT_RATIOS)})
    scheduler: str | None = Field(None, json_schema_extra={"enum": list(SCHEDULER_NAMES)})
    super_resolution: bool | None = Field(None, description="Upscale each image x4 (Real-ESRGAN x4plus), last.")
    face_correct: bool | None = Field(
        None, description="Restore every face (GFPGAN v1.4); 503 model_unavailable until its weights are pulled."
    )
    face_swap: bool | None = Field(
        None, description="Put the tune's face on each realistic face, first; skipped (said in the PNG) on illustrations."
    )
    deepcache: int | None = Field(
        None, ge=0, le=MAX_DEEPCACHE, description="Not Astria's: full UNet every N-th step, deep features reused between (0/1: off)."
    )
    tiny_vae: bool | None = Field(
        None, description="Not Astria's: decode with TAESD for a quick preview; 503 until `lookalike models pull taesd`."
    )
    callback: str | None = Field(None, description="POSTed the prompt's JSON once it succeeded or failed.")


class TunePublic(BaseModel):
    id: int
    title: str
    name: str
    token: str
    model_type: str
    base_model: str
    base_tune_id: int
    trained_at: str | None
    created_at: str
    updated_at: str
    expires_at: str | None
    orig_images: list[str]
    url: str
    images: list[dict[str, Any]]
    identity: list[dict[str, Any]]


class GalleryTunePublic(BaseModel):
    id: int = Field(description="The gallery id: use it as tune[base_tune_id] or in POST /tunes/{id}/prompts.")
    title: str
    name: str = Field(description="The base model's slug.")
    model_type: str
    family: str
    native_size: int
    engine_supported: bool
    license: str
    description: str
    tags: list[str]


class PromptPublic(BaseModel):
    id: int
    tune_id: int
    base_model: str | None
    text: str
    negative_prompt: str
    status: str = Field(description="queued, processing, succeeded or failed.")
    error: ErrorDetail | None
    images: list[str]
    image_details: list[dict[str, Any]]
    num_images: int | None
    seed: int | None
    steps: int | None
    cfg_scale: float | None
    w: int | None
    h: int | None
    aspect_ratio: str | None
    scheduler: str | None
    super_resolution: bool
    face_correct: bool
    face_swap: bool
    deepcache: int | None = None
    tiny_vae: bool = False
    callback: str | None
    trained_at: str | None
    started_at: str | None
    created_at: str
    updated_at: str
    url: str


class FaceCheckFace(BaseModel):
    box: dict[str, float]
    quality: dict[str, Any]
    ignored_faces: int = Field(description="Smaller background faces left out of the check.")


class FaceCheckPublic(BaseModel):
    ok: bool
    index: int
    face: FaceCheckFace | None = None
    crop: str | None = Field(None, description="The aligned face crop as a PNG data URL.")
    error: ErrorDetail | None = Field(None, description="Why POST /tunes would refuse this photo.")


class KeyFields(BaseModel):
    name: str = Field(min_length=1, max_length=255, description="A name for the new account and its key.")


class NewKeyPublic(BaseModel):
    key: str = Field(description="Shown once; the server keeps only its hash.")
    id: int
    account_id: int
    name: str
    callback_secret: str | None = Field(None, description="Verifies the HMAC signature of this account's callbacks.")


def _multipart(group: str, fields: type[BaseModel], files: str | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name, info in fields.model_json_schema()["properties"].items():
        if name == "image_urls":
            continue
        schema = {k: v for k, v in info.items() if k in ("type", "anyOf", "enum", "maximum", "minimum", "maxLength", "description")}
        properties[f"{group}[{name}]"] = schema
    if files:
        properties[f"{group}[{files}][]"] = {"type": "array", "items": {"type": "string", "format": "binary"}}
    required = [f"{group}[{n}]" for n in fields.model_json_schema().get("required", [])]
    return {"type": "object", "properties": properties, "required": required}


def request_body(group: str, fields: type[BaseModel], files: str | None = None) -> dict[str, Any]:
    """``openapi_extra`` for a route that takes ``group[...]`` form fields or ``{"group": {...}}`` JSON."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": _multipart(group, fields, files)},
                "application/json": {
                    "schema": {"type": "object", "properties": {group: fields.model_json_schema()}, "required": [group]}
                },
            },
        }
    }


ERRORS = {
    401: {"model": ErrorBody, "description": "Missing or unknown API key."},
    404: {"model": ErrorBody, "description": "No such object for this key."},
    422: {"model": ErrorBody, "description": "The request is wrong; retrying it unchanged will not help."},
}
CREATE_ERRORS = {
    **ERRORS,
    413: {"model": ErrorBody, "description": "A photo or the whole body is too large."},
    429: {"model": ErrorBody, "description": "Rate limited; see Retry-After."},
    503: {"model": ErrorBody, "description": "A model is missing on the server."},
}
