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
    installed: bool = Field(
        True,
        description="Not Astria's: its weights are on this server, so prompts on it can run now "
        "(GET /models says what is missing and the pull command).",
    )

    @classmethod
    def from_spec(cls, spec: Any, installed: bool = True) -> GalleryTunePublic:
        """A catalog ``BaseModelSpec`` as an Astria gallery tune."""
        return cls(
            installed=installed,
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


class SchedulerReadinessPublic(BaseModel):
    name: str = Field(description="The value of prompt[scheduler].")
    label: str
    default_steps: int
    default_cfg: float
    installed: bool = Field(description="False: this scheduler needs a LoRA for this base model that is not on the server.")
    pull_command: str | None = Field(None, description="What the operator runs to add it; null when installed.")


class BaseModelReadinessPublic(BaseModel):
    id: int = Field(description="The gallery id (tune[base_tune_id]).")
    slug: str
    title: str
    description: str
    native_size: int
    engine_supported: bool = Field(description="False: catalogued, but the engine cannot run it yet.")
    installed: bool = Field(description="Every file a FaceID prompt on it needs is on the server.")
    missing: list[str] = Field(description="Model packs not on the server.")
    pull_commands: list[str] = Field(description="What the operator runs to add them.")
    schedulers: list[SchedulerReadinessPublic]

    @classmethod
    def from_readiness(cls, ready: Any) -> BaseModelReadinessPublic:
        spec = ready.spec
        return cls(
            id=spec.gallery_id,
            slug=spec.id,
            title=spec.name,
            description=spec.description,
            native_size=spec.native_size,
            engine_supported=spec.engine_supported,
            installed=ready.installed,
            missing=list(ready.missing),
            pull_commands=ready.pull_commands,
            schedulers=[SchedulerReadinessPublic(**vars(s)) for s in ready.schedulers],
        )


class FinishingStepPublic(BaseModel):
    name: str = Field(description="The prompt field: face_swap, face_correct or super_resolution.")
    title: str
    description: str
    installed: bool = Field(description="The step's weights and packages are on the server.")
    message: str | None = Field(None, description="Why not, as a prompt asking for it would be told.")
    hint: str | None = Field(None, description="What the operator runs or installs.")
    pull_command: str | None = Field(None, description="`lookalike models pull ...` for the missing weights, when that is the fix.")


class ControlNetPublic(BaseModel):
    kind: str = Field(description="The prompt's controlnet value.")
    family: str = Field(description="The base models it runs on: sd15 or sdxl (the tiny models' are built in).")
    pack_id: str
    title: str
    license: str
    preprocessor: str = Field(description="How the control image is made from prompt[input_image].")
    installed: bool = Field(description="A prompt asking for it would run here.")
    missing: list[str] = Field(description="Model packs not on the server.")
    pull_commands: list[str]

    @classmethod
    def from_readiness(cls, ready: Any) -> ControlNetPublic:
        return cls(**{name: getattr(ready, name) for name in cls.model_fields if name not in ("missing", "pull_commands")},
                   missing=list(ready.missing), pull_commands=ready.pull_commands)


class ModelsPublic(BaseModel):
    default_base_tune_id: int | None = Field(
        description="The base model to offer first: Realistic Vision V5.1 when installed, else the first installed one "
        "(the tiny model on a fresh server); null when none can run."
    )
    base_models: list[BaseModelReadinessPublic]
    finishing_steps: list[FinishingStepPublic]
    controlnets: list[ControlNetPublic] = Field(
        default_factory=list, description="Not Astria's: each ControlNet type per family, installed or not."
    )

    @classmethod
    def from_readiness(cls, ready: Any) -> ModelsPublic:
        default = ready.default_base_model
        return cls(
            default_base_tune_id=None if default is None else default.gallery_id,
            base_models=[BaseModelReadinessPublic.from_readiness(m) for m in ready.base_models],
            finishing_steps=[FinishingStepPublic(**vars(step)) for step in ready.finishing_steps],
            controlnets=[ControlNetPublic.from_readiness(c) for c in getattr(ready, "controlnets", ())],
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
        keep = ("type", "format", "anyOf", "enum", "maximum", "minimum", "maxLength", "description")  # format: binary files
        schema = {k: v for k, v in info.items() if k in keep}
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
