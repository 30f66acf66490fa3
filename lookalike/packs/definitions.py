"""A pack as data: the pydantic models of a pack file, and how a pack prompt becomes a prompt.

A pack (Astria's "packs") is a title, a base model and, per class name
(``man``, ``woman``, ``person``...), a list of prompt definitions. Each
definition is the fields of an ordinary prompt (``PromptCreate``: text,
negative_prompt, num_images, cfg_scale, ...) plus a stable integer ``id``
within the pack. The text names the tune being made with the placeholder
``{tune_id}`` (``<faceid:{tune_id}:1>``); a text with no ``<faceid>`` token
gets ``<faceid:{tune_id}:1>`` put in front. ``{{key}}`` placeholders are
filled from the request's ``characteristics`` (Astria's templating).

Everything is checked when the file is read: a prompt's options go through
``PromptCreate`` exactly as a posted prompt would, so a pack that loads
makes prompts that the API accepts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictInt,
    field_validator,
    model_validator,
)

from lookalike.catalog.base_models import DEFAULT_BASE_MODEL_ID, get_base_model
from lookalike.errors import InvalidFieldError, LookalikeError
from lookalike.prompts.syntax import MAX_TUNE_ID, parse_prompt
from lookalike.schemas.prompts import PromptCreate
from lookalike.tunes.service import HUMAN_CLASS_NAMES

MAX_PACK_ID = 2**31 - 1
TUNE_ID_PLACEHOLDER = "{tune_id}"
# One pass over the text: a {{key}} characteristic or the {tune_id} placeholder.
# Values put in are never read again, so a value cannot bring in a placeholder.
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}|\{tune_id\}")
_SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
# The id that stands for "the tune being made" while a file is checked: the
# largest a token may name, so it never clashes with a number in the text.
SAMPLE_TUNE_ID = MAX_TUNE_ID
# Prompt fields a pack file may not set: the request gives the callback.
_NOT_IN_A_PACK = ("callback",)


class PackFieldError(ValueError):
    """A rule broken inside a pack, with the field it is about, below where pydantic found it.

    pydantic keeps the exception in the error's context, so the loader can name
    the field in full (``prompts.man[0].cfg_scale``), not just the prompt.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class PackPrompt(BaseModel):
    """One prompt of a pack: ``id``, ``text`` and any other ``PromptCreate`` field."""

    model_config = ConfigDict(frozen=True, extra="allow")

    id: StrictInt = Field(ge=1, le=MAX_PACK_ID, description="Stable within the pack; what prompt_ids[] names.")
    text: str = Field(min_length=1, description="With <faceid:{tune_id}:1> where the tune goes (put in front if absent).")

    @model_validator(mode="after")
    def _a_prompt_the_api_accepts(self) -> PackPrompt:
        for name in _NOT_IN_A_PACK:
            if name in self.options():
                raise PackFieldError(name, f"{name} is given by the request (tune[prompt_attributes][{name}]), not by the pack.")
        try:
            parsed = parse_prompt(self._fill(SAMPLE_TUNE_ID, None))
            for lora in parsed.loras:
                raise InvalidFieldError(
                    f"Unsupported token {lora.raw!r} in a pack prompt: packs make FaceID tunes, which have no LoRA.",
                    field="text",
                )
            tokens = parsed.tokens
            for token in tokens:
                if token.tune_id != str(SAMPLE_TUNE_ID):
                    raise InvalidFieldError(
                        f"The text names tune {token.tune_id!r}; a pack names the tune being made as "
                        f"<faceid:{TUNE_ID_PLACEHOLDER}:1>.",
                        field="text",
                    )
            self.prompt_create(SAMPLE_TUNE_ID, None)
        except LookalikeError as exc:
            # Said with the placeholder, not the stand-in id.
            raise PackFieldError(exc.field or "text", exc.message.replace(str(SAMPLE_TUNE_ID), TUNE_ID_PLACEHOLDER)) from None
        return self

    def options(self) -> dict[str, Any]:
        """The prompt fields besides id and text, as written in the file."""
        return dict(self.model_extra or {})

    def definition(self) -> dict[str, Any]:
        """As written in the file (what GET /p/{id} shows under ``prompts``)."""
        return {"id": self.id, "text": self.text, **self.options()}

    def characteristics(self) -> list[str]:
        """The ``{{key}}`` names the text uses, in order, each once."""
        seen: dict[str, None] = {}
        for match in _PLACEHOLDER.finditer(self.text):
            if match.group(1):
                seen.setdefault(match.group(1), None)
        return list(seen)

    def render(self, tune_id: int, characteristics: Mapping[str, str] | None) -> str:
        """The text for tune ``tune_id``; ``characteristics`` None leaves ``{{key}}`` as it is.

        A ``{{key}}`` that ``characteristics`` lacks is a 422 naming every missing key.
        """
        text = self._fill(tune_id, characteristics)
        if not self._names_the_tune():
            text = f"<faceid:{tune_id}:1> {text}"
        return text

    def prompt_create(self, tune_id: int, characteristics: Mapping[str, str] | None, callback: str | None = None) -> PromptCreate:
        """The prompt this definition makes on tune ``tune_id`` (checked like any posted prompt)."""
        fields = {**self.options(), "text": self.render(tune_id, characteristics)}
        if callback:
            fields["callback"] = callback
        return PromptCreate.parse(fields)

    def _names_the_tune(self) -> bool:
        return bool(parse_prompt(self._fill(SAMPLE_TUNE_ID, None)).tokens)

    def _fill(self, tune_id: int, characteristics: Mapping[str, str] | None) -> str:
        missing: list[str] = []

        def replace(match: re.Match[str]) -> str:
            key = match.group(1)
            if key is None:
                return str(tune_id)
            if characteristics is None:
                return match.group(0)
            if key in characteristics:
                return characteristics[key]
            if key not in missing:
                missing.append(key)
            return match.group(0)

        text = _PLACEHOLDER.sub(replace, self.text)
        if missing:
            names = ", ".join(missing)
            raise InvalidFieldError(
                f"The pack's prompt {self.id} needs characteristics it was not given: {names}.",
                field="characteristics",
                hint=f"Send them as tune[characteristics][{missing[0]}]=... (GET /p/{{id}} lists what each pack uses).",
                details={"missing": missing, "prompt_id": self.id},
            )
        return text


class Pack(BaseModel):
    """A pack file: Astria's pack fields plus its prompts per class name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: StrictInt = Field(ge=1, le=MAX_PACK_ID, description="Unique across the server's packs, built-in ones included.")
    slug: str = Field(min_length=1, max_length=100)
    title: str = Field(min_length=1, max_length=255)
    base_tune_id: int | str = Field(
        DEFAULT_BASE_MODEL_ID, description="The base model of the tunes it makes: a gallery id or slug."
    )
    model_type: Literal["faceid"] = "faceid"
    token: str = Field("ohwx", min_length=1, max_length=64)
    public: bool = True
    listed: bool = True
    cover_url: str | None = Field(None, max_length=2048)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    prompts: dict[str, list[PackPrompt]] = Field(description="Class name -> its prompts.")

    # Where it was read from ("builtin/headshots.json" or a path), for messages.
    _source: str = PrivateAttr(default="")

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not re.fullmatch(_SLUG, value):
            raise ValueError(f"{value!r} is not a slug: lowercase letters and digits joined by single hyphens")
        return value

    @field_validator("base_tune_id")
    @classmethod
    def _known_base_model(cls, value: int | str) -> int:
        if isinstance(value, bool):
            raise ValueError("must be a gallery id or a base model slug")  # noqa: TRY004 (pydantic reports ValueError)
        try:
            return get_base_model(value).gallery_id
        except LookalikeError as exc:
            raise ValueError(exc.message) from None

    @field_validator("prompts")
    @classmethod
    def _classes(cls, value: dict[str, list[PackPrompt]]) -> dict[str, list[PackPrompt]]:
        if not value:
            raise ValueError("a pack needs prompts for at least one class name")
        for name, prompts in value.items():
            if name not in HUMAN_CLASS_NAMES:
                raise PackFieldError(name, f"{name!r} is not a person class; use {', '.join(sorted(HUMAN_CLASS_NAMES))}")
            if not prompts:
                raise PackFieldError(name, f"class {name!r} has no prompts")
        return value

    @model_validator(mode="after")
    def _prompt_ids_unique(self) -> Pack:
        where: dict[int, str] = {}
        for name, prompts in self.prompts.items():
            for index, prompt in enumerate(prompts):
                here = f"prompts.{name}[{index}]"
                if prompt.id in where:
                    raise PackFieldError(f"{here}.id", f"prompt id {prompt.id} is also used by {where[prompt.id]}")
                where[prompt.id] = here
        return self

    @property
    def source(self) -> str:
        return self._source

    def with_source(self, source: str, modified: datetime) -> Pack:
        """This pack read from ``source``, with its dates filled from the file's time where not written."""
        pack = self.model_copy(
            update={"created_at": _utc(self.created_at or modified), "updated_at": _utc(self.updated_at or modified)}
        )
        pack._source = source
        return pack

    @property
    def classes(self) -> list[str]:
        return list(self.prompts)

    @property
    def public_at(self) -> datetime | None:
        return self.created_at if self.public else None

    @property
    def unlisted_at(self) -> datetime | None:
        return None if self.listed else self.updated_at

    def characteristics(self) -> list[str]:
        """Every ``{{key}}`` its prompts use."""
        seen: dict[str, None] = {}
        for prompts in self.prompts.values():
            for prompt in prompts:
                for key in prompt.characteristics():
                    seen.setdefault(key, None)
        return list(seen)

    def prompt_ids(self) -> set[int]:
        return {prompt.id for prompts in self.prompts.values() for prompt in prompts}


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
