"""Prompts: ``PromptCreate`` (the request: text, callback and every generation option) and ``PromptPublic``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, WithJsonSchema, create_model, field_validator, model_validator

from lookalike.errors import UnsupportedFieldError
from lookalike.prompts.options import OPTION_FIELDS, GenerationOptions, option_kind
from lookalike.schemas.common import ErrorDetail, Text, Upload, iso, without_blanks
from lookalike.schemas.fields import ASTRIA_PROMPT_FIELDS_NOT_OFFERED, refuse_unknown
from lookalike.schemas.input_image import InputImageSource, input_image_source

MAX_TEXT_CHARS = 4000
MAX_CALLBACK_CHARS = 4096
MAX_IMAGE_URL_CHARS = 4096


class PromptCreate(GenerationOptions):
    """A prompt as a client sends it (``prompt[...]`` form fields or ``{"prompt": {...}}``)."""

    text: Text = Field(max_length=MAX_TEXT_CHARS, description="Prompt text with <faceid:TUNE_ID:WEIGHT> tokens.")
    callback: Text | None = Field(
        None, max_length=MAX_CALLBACK_CHARS, description="POSTed the prompt's JSON once it succeeded or failed."
    )
    use_lpw: bool | None = Field(
        None, description="Astria's long-prompt weighting: always on here (compel), so only true is accepted."
    )
    # The input image for img2img / ControlNet: one of the three (schemas/input_image.py).
    input_image: Annotated[Upload | None, WithJsonSchema({"type": "string", "format": "binary"})] = Field(
        None, description="The input image as an uploaded file (multipart): JPEG, PNG or WebP, checked like tune photos."
    )
    input_image_url: Text | None = Field(
        None, max_length=MAX_IMAGE_URL_CHARS,
        description="The input image by URL, fetched by the server under the rules of tune[image_urls].",
    )
    input_image_base64: str | None = Field(
        None, description="The input image as a data URL: data:image/png;base64,... (or image/jpeg, image/webp)."
    )

    @field_validator("input_image", mode="before")
    @classmethod
    def _a_file(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, Upload):
            from lookalike.errors import InvalidFieldError

            raise InvalidFieldError(
                "prompt[input_image] must be an uploaded file (curl -F 'prompt[input_image]=@photo.jpg'); "
                "in JSON, send input_image_url or input_image_base64 instead.",
                field="input_image",
            )
        return value

    @model_validator(mode="after")
    def _refuse_unavailable(self) -> PromptCreate:
        if not self.text.strip():
            from lookalike.errors import InvalidFieldError

            raise InvalidFieldError("text is required.", field="text")
        if self.use_lpw is False:
            raise UnsupportedFieldError(
                "prompt[use_lpw]=false cannot be honoured: long prompts are always weighted here (compel).",
                field="use_lpw",
            )
        from lookalike.prompts.input_image import require_input_image

        require_input_image(self, has_image=self.input_source() is not None)
        return self

    def input_source(self) -> InputImageSource | None:
        """The input image as sent (a file's or data URL's bytes, or the URL), or None."""
        return input_image_source(self.input_image, self.input_image_url, self.input_image_base64)

    @classmethod
    def parse(cls, fields: Mapping[str, Any]) -> PromptCreate:
        """From a body's ``prompt`` group, however it arrived; fields nobody offers are refused by name."""
        refuse_unknown(fields, known=cls.model_fields, not_offered=ASTRIA_PROMPT_FIELDS_NOT_OFFERED, group="prompt")
        known = {name: fields[name] for name in cls.model_fields if name in fields}
        return cls(**without_blanks(known, keep=("negative_prompt", "text")))

    def options(self) -> GenerationOptions:
        """The generation options alone, as sent (unset stays unset)."""
        return GenerationOptions(**self.model_dump(include=set(OPTION_FIELDS), exclude_unset=True))

    def sent(self) -> dict[str, Any]:
        """The fields the client set, in wire form (the file, sent as a file, left out): what a JSON request carries."""
        return self.model_dump(exclude_unset=True, exclude={"input_image"})

    def fingerprint(self) -> dict[str, Any]:
        """What idempotency compares: the fields set, with the input image by its digest (or URL)."""
        fields = self.model_dump(exclude_unset=True, exclude={"input_image", "input_image_url", "input_image_base64"})
        source = self.input_source()
        if source is not None:
            fields.update(source.fingerprint)
        return fields


class PersonScore(BaseModel):
    tune_id: int
    score: float | None = Field(description="Cosine similarity of the face in this person's region to their tune.")
    box: dict[str, float] | None = Field(description="That face's box (x, y, width, height), or null when none was found.")


class ImageDetail(BaseModel):
    url: str
    seed: int
    width: int
    height: int
    identity_score: float | None = Field(description="Cosine similarity of the largest face to the tune; null without a face.")
    postprocess: str | None = Field(description="What the finishing steps did, when any was asked for.")
    identity_scores: list[PersonScore] | None = Field(
        None,
        description="Not Astria's: with two or more <faceid> tokens placed in regions, one entry per token: the "
        "face found in that person's region and its likeness to their tune (null score: no face there).",
    )


class PromptProgress(BaseModel):
    """Where an unfinished prompt is (docs/API.md, "Progress"); the prompt's ``progress`` and its events' data."""

    phase: Literal["waiting", "queued", "denoising", "finishing", "saving"] = Field(
        description="waiting (for a LoRA tune it names to finish training); queued; denoising (step null: loading "
        "the model, encoding the text); finishing (finishing_step names the step); saving (storing the images)."
    )
    queue_position: int | None = Field(None, description="Place in line while queued (1: next); null otherwise.")
    step: int | None = Field(None, description="Denoising step done, of steps (0: about to start).")
    steps: int | None = Field(None, description="Denoising steps of the current generation call.")
    image: int | None = Field(
        None, description="The image being finished (from 1); null while all images denoise together."
    )
    images: int | None = Field(None, description="Images the prompt makes.")
    finishing_step: str | None = Field(
        None,
        description="While finishing: face_swap, face_correct, super_resolution, color_grading, film_grain "
        "or identity_score.",
    )
    elapsed_s: float | None = Field(None, description="Seconds since the worker started it, as of updated_at.")
    updated_at: str = Field(description="When this state was recorded.")

    @classmethod
    def of_row(cls, row: Any, queue_position: int | None = None) -> PromptProgress | None:
        """A prompt row's progress: computed while queued, as its worker last wrote it while running, else None."""
        images = ((row.options or {}).get("resolved") or {}).get("num_images")
        if row.status == "queued":
            return cls(phase="queued", queue_position=queue_position, images=images, updated_at=iso(row.updated_at))
        if row.status == "waiting":
            return cls(phase="waiting", images=images, updated_at=iso(row.updated_at))
        if row.status != "processing":
            return None
        stored = {k: v for k, v in (getattr(row, "progress", None) or {}).items() if k in cls.model_fields}
        stored.pop("queue_position", None)
        stored.setdefault("phase", "denoising")
        if stored.get("images") is None:
            stored["images"] = images
        if not stored.get("updated_at"):
            stored["updated_at"] = iso(row.started_at or row.updated_at)
        try:
            return cls(**stored)
        except ValueError:
            # Written by a newer or older worker in a shape this server does not know: say only that it runs.
            return cls(phase="denoising", images=images, updated_at=iso(row.started_at or row.updated_at))


class _PromptPublicBase(BaseModel):
    id: int
    tune_id: int = Field(description="The id in the URL it was posted to: a tune, or a gallery (base model) id.")
    base_model: str | None = Field(description="Not Astria's: the base model's slug.")
    text: str
    negative_prompt: str
    status: str = Field(
        description="Not Astria's: waiting (for a LoRA tune it names to be trained), queued, processing, succeeded or failed."
    )
    user_error: str | None = Field(description="Why it failed, in words; null unless it failed.")
    error: ErrorDetail | None = Field(description="Not Astria's: the failure with its stable code.")
    images: list[str] = Field(description="Signed links to the images; empty until it succeeded.")
    image_details: list[ImageDetail] = Field(description="Not Astria's: each image's seed, size and identity score.")
    resolved: dict[str, Any] = Field(description="Not Astria's: every option as it runs (defaults filled in).")
    use_lpw: bool = Field(True, description="Long prompts are always weighted here (compel).")
    callback: str | None
    trained_at: str | None = Field(description="When it finished (Astria's name); null until then.")
    started_training_at: str | None = Field(description="When a worker started it; null until then.")
    created_at: str
    updated_at: str
    url: str
    progress: PromptProgress | None = Field(
        None, description="Not Astria's: where it is while queued or running; null once finished."
    )
    events_url: str = Field(
        description="Not Astria's: its progress as Server-Sent Events, a signed link that needs no key."
    )

    @classmethod
    def from_row(
        cls,
        row: Any,
        base_url: str,
        link: Callable[[str], str] = lambda path: path,
        queue_position: int | None = None,
    ) -> PromptPublic:
        """A stored prompt (``PromptRow`` with its images) as the API shows it.

        ``link`` turns an image path into a signed one (``UrlSigner.stable_link``);
        ``queue_position`` is its place in line while queued (``PromptStore.queue_positions``).
        """
        base = base_url.rstrip("/")
        stored = row.options or {}
        resolved = stored.get("resolved", {})
        # Prompts stored before "sent" was kept show what ran.
        sent = stored.get("sent", resolved)
        details = [
            ImageDetail(
                url=base + link(image_path(row.id, image.position)),
                seed=image.seed,
                width=image.width,
                height=image.height,
                identity_score=None if image.identity_score is None else round(image.identity_score, 4),
                postprocess=image.postprocess,
                identity_scores=getattr(image, "identity_scores", None),
            )
            for image in row.images
        ]
        return PromptPublic(
            id=row.id,
            tune_id=row.tune_id,
            base_model=row.base_model_id,
            text=row.text,
            negative_prompt=row.negative_prompt,
            status=row.status,
            user_error=(row.error or {}).get("message") if row.status == "failed" else None,
            error=row.error,
            images=[detail.url for detail in details],
            image_details=details,
            resolved=resolved,
            callback=row.callback,
            trained_at=iso(row.trained_at),
            started_training_at=iso(row.started_at),
            created_at=iso(row.created_at),
            updated_at=iso(row.updated_at),
            url=f"{base}/tunes/{row.tune_id}/prompts/{row.id}.json",
            progress=PromptProgress.of_row(row, queue_position),
            events_url=base + link(events_path(row.id)),
            **{name: _shown(name, stored, resolved, sent) for name in _SHOWN_OPTIONS},
        )


def image_path(prompt_id: int, position: int) -> str:
    return f"/prompts/{prompt_id}/images/{position}.png"


def events_path(prompt_id: int) -> str:
    return f"/prompts/{prompt_id}/events"


# Every option but the negative prompt (a top-level field) is echoed as the
# engine runs it; flags read false when unset.
_SHOWN_OPTIONS = tuple(name for name in OPTION_FIELDS if name != "negative_prompt")


# Read once: every prompt shown (each list page, each progress event) asks per field.
_FLAGS = frozenset(name for name in OPTION_FIELDS if option_kind(name) is bool)


def _is_flag(name: str) -> bool:
    return name in _FLAGS


# As Astria shows them: null when the client left them unset (what ran is in ``resolved``).
_NULL_WHEN_UNSET = ("cfg_scale", "steps", "seed", "ar", "backend_version")


def _shown(name: str, stored: Mapping[str, Any], resolved: Mapping[str, Any], sent: Mapping[str, Any]) -> Any:
    if name in _NULL_WHEN_UNSET:
        return sent.get(name)
    # aspect_ratio is what the client asked for; w and h show what it gave.
    value = stored.get(name) if name == "aspect_ratio" else resolved.get(name)
    return bool(value) if _is_flag(name) else value


def _public_field(name: str) -> tuple[Any, Any]:
    info = GenerationOptions.model_fields[name]
    if _is_flag(name):
        return bool, Field(False, description=info.description)
    extra = dict(info.json_schema_extra or {})
    if "enum" in extra:
        # Shown as null when not asked for; an enum beside the anyOf would forbid null.
        extra["enum"] = [*extra["enum"], None]
    return option_kind(name) | None, Field(None, description=info.description, json_schema_extra=extra)


PromptPublic = create_model(
    "PromptPublic",
    __base__=_PromptPublicBase,
    __doc__="A prompt as the API shows it: Astria's fields, every option as run, and each image's details.",
    **{name: _public_field(name) for name in _SHOWN_OPTIONS},
)
