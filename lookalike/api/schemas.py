"""The API's own shapes (faces check, keys, gallery) and the OpenAPI helpers for Astria-style bodies.

Tunes and prompts have their schema family in ``lookalike.schemas``, shared
with the CLI and the client.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from lookalike.schemas.common import ErrorBody, ErrorDetail


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

    @classmethod
    def from_spec(cls, spec: Any) -> GalleryTunePublic:
        """A catalog ``BaseModelSpec`` as an Astria gallery tune."""
        return cls(
            id=spec.gallery_id,
            title=spec.name,
            name=spec.id,
            model_type="checkpoint",
            family=spec.family,
            native_size=spec.native_size,
            engine_supported=spec.engine_supported,
            license=spec.license,
            description=spec.description,
            tags=list(spec.tags),
        )


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
        if name in ("image_urls", files):
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
