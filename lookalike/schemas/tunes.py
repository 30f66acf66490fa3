"""Tunes: ``TuneCreate`` (the request) and ``TunePublic`` (what the API shows)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema, field_validator, model_validator

from lookalike.errors import InvalidFieldError, UnsupportedFieldError
from lookalike.prompts.options import Flag, WholeNumber, invalid_field
from lookalike.schemas.common import ErrorDetail, Text, Upload, without_blanks
from lookalike.schemas.fields import ASTRIA_TUNE_FIELDS_NOT_OFFERED, given, refuse_unknown

MODEL_TYPES = ("faceid", "lora")
# Astria's other model types, refused with what to send instead.
_OTHER_MODEL_TYPES = {
    "pti": "Astria's SDXL LoRA + text embedding; here SDXL trains as lora (the high preset trains both text encoders)",
    "checkpoint": "full checkpoint fine-tunes are not offered; lora trains in minutes and loads on any model of its family",
    "null": "full checkpoint fine-tunes are not offered; lora trains in minutes and loads on any model of its family",
}
# Training fields: a LoRA tune's, refused by name on a FaceID tune (which is not trained).
TRAINING_FIELDS = ("steps", "preset", "face_crop")
MAX_TRAINING_STEPS = 10_000
# Astria's branch values; flux1 is refused by the base-model check (no Flux model here).
BRANCHES = ("fast", "sd15", "sdxl1", "flux1")


class TuneCreate(BaseModel):
    """A tune as a client sends it (``tune[...]`` form fields with ``tune[images][]`` files, or JSON)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    title: Text = Field(
        max_length=255,
        description="Required. Not a key by default (Astria's default): send Idempotency-Key for safe retries, "
        "or run the server with LOOKALIKE_TUNE_TITLE_IDEMPOTENT=true to make the title one.",
    )
    name: Text = Field(max_length=64, description="Class name: man, woman, boy, girl, person, male, female, child, baby.")
    base_tune_id: int | str | None = Field(None, description="Gallery id of a base model (GET /gallery/tunes) or its slug.")
    model_type: Text = Field(
        "faceid",
        description="`faceid` (ready at once, nothing trained) or `lora` (a LoRA fine-tune trained by a worker: "
        "queued, then training; prompts on it wait for it).",
    )
    # Plain decimals and true/false words only, as prompt fields (prompts/numbers.py): "1_0" is not 10.
    steps: WholeNumber | None = Field(
        None, ge=1, le=MAX_TRAINING_STEPS, description="LoRA only: training steps; leave out for the preset's."
    )
    preset: Text | None = Field(
        None, max_length=40, description="LoRA only: training preset (portrait, fast, high or an operator's; GET /tunes/presets)."
    )
    face_crop: Flag | None = Field(
        None, description="LoRA only: train on the aligned face crops too (the preset's default: true)."
    )
    callback: Text | None = Field(None, max_length=4096, description="POSTed the tune's JSON once it is ready.")
    token: Text | None = Field(None, max_length=64, description="Astria's class token (ohwx by default); kept and shown.")
    branch: Text | None = Field(
        None,
        description="`fast`: Astria's mock tune (no face model; its prompts get placeholder images at once). "
        "`sd15`/`sdxl1` must match the base model.",
    )
    prompts_attributes: list[dict[str, Any]] = Field(
        default_factory=list, description="Prompts to queue on the new tune, each with prompt fields."
    )
    images: Annotated[list[Upload], WithJsonSchema({"type": "array", "items": {"type": "string", "format": "binary"}})] = Field(
        default_factory=list, description="The photos, as uploaded files (multipart only)."
    )
    image_urls: list[str] = Field(
        default_factory=list,
        description="Photos by URL, fetched by the server (public http(s) addresses only; size, time and redirect limits).",
    )

    @field_validator("title", "name")
    @classmethod
    def _not_blank(cls, value: str, info) -> str:
        if not value.strip():
            raise InvalidFieldError(f"{info.field_name} is required.", field=info.field_name)
        return value

    @field_validator("model_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in MODEL_TYPES:
            why = _OTHER_MODEL_TYPES.get(value, "not a model type")
            raise InvalidFieldError(
                f"tune[model_type] {value!r} is not supported ({why}); use faceid or lora.",
                field="model_type",
                details={"valid": list(MODEL_TYPES)},
            )
        return value

    @field_validator("base_tune_id", mode="before")
    @classmethod
    def _gallery_ref(cls, value: Any) -> Any:
        if isinstance(value, bool) or (value is not None and not isinstance(value, (str, int))):
            raise InvalidFieldError("tune[base_tune_id] must be a gallery id or a base model slug.", field="base_tune_id")
        return value

    @field_validator("images", mode="before")
    @classmethod
    def _files(cls, value: Any) -> Any:
        if isinstance(value, Upload):
            return [value]
        if not isinstance(value, list):
            raise InvalidFieldError("tune[images][] must be uploaded files.", field="images")
        for index, item in enumerate(value):
            if not isinstance(item, Upload):
                raise InvalidFieldError(
                    f"tune[images][{index}] is not a file; upload photos as files (curl -F 'tune[images][]=@photo.jpg').",
                    field="images",
                    image_index=index,
                )
        return value

    @field_validator("image_urls", mode="before")
    @classmethod
    def _urls(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(url, str) for url in value):
            raise InvalidFieldError("tune[image_urls][] must be a list of http(s) URLs.", field="image_urls")
        return value

    @field_validator("branch")
    @classmethod
    def _known_branch(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        if value not in BRANCHES:
            raise InvalidFieldError(
                f"tune[branch] {value!r} is not one of {', '.join(BRANCHES)}.", field="branch", details={"valid": list(BRANCHES)}
            )
        return value

    @field_validator("prompts_attributes", mode="before")
    @classmethod
    def _prompt_groups(cls, value: Any) -> Any:
        if isinstance(value, dict):
            # A form's tune[prompts_attributes][0][text] arrives keyed by index.
            value = [value[key] for key in sorted(value, key=str)]
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise InvalidFieldError(
                "tune[prompts_attributes] must be a list of prompts (tune[prompts_attributes][][text]=...).",
                field="prompts_attributes",
            )
        return value

    @model_validator(mode="after")
    def _photos_given_once(self) -> TuneCreate:
        if self.images and self.image_urls:
            raise InvalidFieldError("Send tune[images][] or tune[image_urls][], not both.", field="image_urls")
        return self

    @model_validator(mode="after")
    def _training_fields_need_lora(self) -> TuneCreate:
        if self.model_type == "lora":
            return self
        for name in TRAINING_FIELDS:
            if given(getattr(self, name)):
                raise UnsupportedFieldError(
                    f"tune[{name}] is one of Astria's training fields, but a FaceID tune is not trained.",
                    field=name,
                    hint="Send tune[model_type]=lora to train a LoRA, or leave the field out.",
                )
        return self

    @classmethod
    def parse(cls, fields: Mapping[str, Any]) -> TuneCreate:
        """From a body's ``tune`` group, however it arrived; fields nobody offers are refused by name."""
        refuse_unknown(fields, known=cls.model_fields, not_offered=ASTRIA_TUNE_FIELDS_NOT_OFFERED, group="tune")
        known = {name: fields[name] for name in cls.model_fields if name in fields}
        try:
            return cls(**without_blanks(known, keep=("title", "name")))
        except ValidationError as exc:
            raise invalid_field(exc) from None


class TuneUpdate(BaseModel):
    """``PATCH /tunes/{id}``: what may change after creation (Astria's title and name)."""

    model_config = ConfigDict(frozen=True)

    title: Text | None = Field(None, max_length=255, description="A new title.")
    name: Text | None = Field(None, max_length=64, description="A new class name.")

    @classmethod
    def parse(cls, fields: Mapping[str, Any]) -> TuneUpdate:
        for name in TUNE_FIELDS_FIXED & set(fields):
            raise InvalidFieldError(
                f"tune[{name}] is set when a tune is made and cannot change.",
                field=name,
                hint="Make a new tune instead.",
            )
        refuse_unknown(fields, known=cls.model_fields, not_offered=ASTRIA_TUNE_FIELDS_NOT_OFFERED, group="tune")
        known = {name: fields[name] for name in cls.model_fields if name in fields}
        try:
            update = cls(**without_blanks(known))
        except ValidationError as exc:
            raise invalid_field(exc) from None
        if update.title is None and update.name is None:
            raise InvalidFieldError("Send tune[title] or tune[name] to change.", field="title")
        return update


# Fields a tune is made with that cannot change afterwards (a new tune is the way).
TUNE_FIELDS_FIXED = frozenset(
    {"images", "image_urls", "base_tune_id", "model_type", "branch", "token", "callback", "steps", "preset", "face_crop"}
)


class TunePhotoPublic(BaseModel):
    index: int
    filename: str | None
    width: int
    height: int
    box: dict[str, Any]
    landmarks: list[list[float]]
    quality: dict[str, Any]
    ignored_faces: int


class TuneIdentityPublic(BaseModel):
    encoder: str
    dim: int
    min_similarity: float


class TuneProgress(BaseModel):
    """Where a LoRA tune's training is (docs/API.md, "Tune progress"): the tune's ``progress`` until it is trained."""

    phase: Literal["queued", "preparing", "class_images", "training", "saving"] = Field(
        description="queued (waiting for a worker); preparing (loading the model, encoding the pictures); "
        "class_images (prior preservation drawing its class images); training (step of steps); saving."
    )
    queue_position: int | None = Field(None, description="Place in the training line while queued (1: next).")
    step: int | None = Field(None, description="Training steps done.")
    steps: int | None = Field(None, description="Training steps in all.")
    loss: float | None = Field(None, description="Mean training loss over the last 20 steps.")
    class_image: int | None = Field(None, description="While drawing class images: the one being drawn (from 1).")
    class_images: int | None = Field(None, description="Class images prior preservation draws.")
    eta: str | None = Field(None, description="When training should end, from this run's speed so far.")
    elapsed_s: float | None = Field(None, description="Seconds since this worker started the training.")
    resumed_from: int | None = Field(None, description="The checkpoint's step this run resumed from; null if none.")
    attempt: int | None = Field(None, description="Which run this is (2 and more: resumed after a lost worker).")
    updated_at: str = Field(description="When this state was recorded.")


class TunePublic(BaseModel):
    """A tune with Astria's fields (same names, types and null-ness) and ours (photo checks, identity)."""

    id: int
    title: str
    name: str | None
    is_api: bool
    token: str
    base_tune_id: int | None = Field(description="The gallery id of the tune's base model (Astria shows null).")
    args: str | None = Field(None, description="Astria's training arguments: none (the plan is in `training`).")
    steps: int | None = Field(None, description="Training steps of a LoRA tune; none for a FaceID tune.")
    face_crop: bool | None = None
    training_face_correct: bool | None = None
    preset: str | None = Field(None, description="A LoRA tune's training preset.")
    ckpt_url: str | None = Field(
        None,
        description="A trained LoRA tune's .safetensors (kohya layout: A1111, ComfyUI, diffusers), a signed link; "
        "null for a FaceID tune and until trained.",
    )
    ckpt_urls: list[str] = Field(default_factory=list)
    eta: str | None = Field(description="When it is (or should be) trained; null while a LoRA tune waits in line.")
    trained_at: str | None = Field(description="When it became ready: at once for FaceID, when training ends for LoRA.")
    started_training_at: str | None
    status: Literal["queued", "training", "trained", "failed"] = Field(
        "trained", description="Not Astria's: a FaceID tune is trained when made; a LoRA tune is queued, training, then trained or failed."
    )
    progress: TuneProgress | None = Field(None, description="Not Astria's: a LoRA tune's training progress until it ends.")
    error: ErrorDetail | None = Field(None, description="Not Astria's: why a LoRA tune's training failed.")
    expires_at: str | None = Field(None, description="Never: tunes stay until deleted.")
    created_at: str
    updated_at: str
    branch: str = Field(description="sd15 or sdxl1 from the base model; fast for a mock tune.")
    model_type: str
    url: str
    orig_images: list[str] = Field(description="Signed links to the tune's photos (uploads if kept, else aligned crops).")
    base_model: str = Field(description="Not Astria's: the base model's slug.")
    images: list[TunePhotoPublic] = Field(description="Not Astria's: each photo's face check.")
    identity: list[TuneIdentityPublic] = Field(description="Not Astria's: the identity per face encoder.")

    @classmethod
    def from_tune(cls, tune: Mapping[str, Any], base_url: str, link: Callable[[str], str]) -> TunePublic:
        """A tune as the tunes service returns it (``tunes.views.tune_to_dict``).

        ``link`` turns a path into a signed one (``UrlSigner.stable_link``).
        """
        base = base_url.rstrip("/")
        fields = {k: v for k, v in tune.items() if k != "training"}
        training = tune.get("training")
        if training is None:
            # Nothing is trained: a FaceID tune is ready the moment it exists.
            timing = {"eta": tune["trained_at"], "started_training_at": tune["created_at"]}
        else:
            timing = _training_fields(tune, training, base, link)
        return cls(
            **fields,
            **timing,
            url=f"{base}/tunes/{tune['id']}.json",
            orig_images=[base + link(tune_photo_path(tune["id"], photo["index"])) for photo in tune["images"]],
        )


_STATUS = {"queued": "queued", "training": "training", "succeeded": "trained", "failed": "failed"}


def _training_fields(tune: Mapping[str, Any], training: Mapping[str, Any], base: str, link: Callable[[str], str]) -> dict:
    """A LoRA tune's Astria fields (steps, eta, ckpt_url...) and ours (status, progress, error) from its training."""
    status = _STATUS.get(training["status"], "queued")
    progress = None
    if status == "queued":
        progress = TuneProgress(
            phase="queued",
            queue_position=training.get("queue_position"),
            steps=training.get("steps"),
            updated_at=training.get("created_at") or tune["created_at"],
        )
    elif status == "training":
        stored = {k: v for k, v in (training.get("progress") or {}).items() if k in TuneProgress.model_fields}
        stored.pop("queue_position", None)
        stored.setdefault("phase", "preparing")
        stored.setdefault("steps", training.get("steps"))
        stored.setdefault("updated_at", training.get("started_at") or tune["updated_at"])
        try:
            progress = TuneProgress(**stored)
        except ValueError:
            # Written by a newer or older worker in a shape this server does not know: say only that it runs.
            progress = TuneProgress(phase="training", steps=training.get("steps"), updated_at=stored["updated_at"])
    ckpt = base + link(tune_lora_path(tune["id"])) if training.get("has_lora") else None
    eta = tune["trained_at"] if status in ("trained", "failed") else (progress.eta if progress is not None else None)
    return {
        "steps": training.get("steps"),
        "face_crop": training.get("face_crop"),
        "training_face_correct": bool(training.get("training_face_correct")),
        "preset": training.get("preset"),
        "ckpt_url": ckpt,
        "ckpt_urls": [ckpt] if ckpt else [],
        "eta": eta,
        "started_training_at": training.get("started_at"),
        "status": status,
        "progress": progress,
        "error": training.get("error"),
    }


def tune_photo_path(tune_id: int, position: int) -> str:
    return f"/tunes/{tune_id}/photos/{position}.png"


def tune_lora_path(tune_id: int) -> str:
    """Where a trained LoRA tune's file is downloaded (``ckpt_url``, signed)."""
    return f"/tunes/{tune_id}/lora.safetensors"
