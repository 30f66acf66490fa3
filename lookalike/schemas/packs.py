"""Packs: ``PackTuneCreate`` (``POST /p/{id}/tunes``), ``PackSummaryPublic`` (lists) and ``PackPublic`` (one pack).

The pack definitions themselves are data (``lookalike.packs``); these are
the wire shapes only. ``from_pack`` takes a ``lookalike.packs.Pack`` (by its
attributes: this room sits below ``packs``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lookalike.errors import InvalidFieldError, UnsupportedFieldError
from lookalike.schemas.common import Text, iso, parse_int
from lookalike.schemas.fields import given
from lookalike.schemas.tunes import TuneCreate

MAX_ID = 2**31 - 1
MAX_TUNE_IDS = 20
MAX_PROMPT_IDS = 200
MAX_CHARACTERISTICS = 50
MAX_CHARACTERISTIC_CHARS = 200
_KEY = re.compile(r"[A-Za-z0-9_]{1,64}", re.ASCII)
# A characteristic is words put into the text: no tokens, no placeholders.
_NOT_IN_A_VALUE = re.compile(r"[<>{}]")

# Fields of POST /p/{id}/tunes beside those of POST /tunes.
PACK_FIELDS = ("characteristics", "prompt_attributes", "prompts_callback", "tune_ids", "prompt_ids")


class PackTuneCreate(BaseModel):
    """``POST /p/{id}/tunes``: a new tune (``tune``), or the pack's prompts on existing tunes (``tune_ids``)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    tune: TuneCreate | None = Field(description="The tune to make; None with tune_ids.")
    tune_ids: list[int] = Field(default_factory=list)
    prompt_ids: list[int] = Field(default_factory=list)
    characteristics: dict[str, str] = Field(default_factory=dict)
    prompt_callback: str | None = None

    @classmethod
    def parse(cls, fields: Mapping[str, Any]) -> PackTuneCreate:
        """From a body's ``tune`` group; field names in errors are the group's (``tune_ids``, ``title``...)."""
        if given(fields.get("prompts_callback")):
            raise UnsupportedFieldError(
                "tune[prompts_callback] is one of Astria's fields, but this server does not offer it yet.",
                field="prompts_callback",
                hint="Use tune[prompt_attributes][callback]: it is sent once for each prompt when it is done.",
            )
        tune_ids = _ids(fields.get("tune_ids"), "tune_ids", MAX_TUNE_IDS)
        rest = {name: value for name, value in fields.items() if name not in PACK_FIELDS}
        if tune_ids:
            for name, value in rest.items():
                if given(value):
                    raise InvalidFieldError(
                        f"tune[{name}] cannot be sent with tune[tune_ids]: the pack's prompts go on those tunes, "
                        "and no tune is made.",
                        field=name,
                        hint="Send tune_ids (with prompt_ids, characteristics, prompt_attributes) alone, "
                        "or leave tune_ids out to make a new tune.",
                    )
        return cls(
            tune=None if tune_ids else TuneCreate.parse(rest),
            tune_ids=tune_ids,
            prompt_ids=_ids(fields.get("prompt_ids"), "prompt_ids", MAX_PROMPT_IDS),
            characteristics=_characteristics(fields.get("characteristics")),
            prompt_callback=_prompt_callback(fields.get("prompt_attributes")),
        )


def _ids(value: Any, field: str, limit: int) -> list[int]:
    if value is None or value == "" or value == []:
        return []
    items = value if isinstance(value, list) else [value]
    if len(items) > limit:
        raise InvalidFieldError(f"tune[{field}] has {len(items)} ids; at most {limit}.", field=field)
    ids: list[int] = []
    for item in items:
        number = _id(item)
        if number is None:
            raise InvalidFieldError(f"tune[{field}] must be a list of ids; got {item!r}.", field=field)
        if not 1 <= number <= MAX_ID:
            raise InvalidFieldError(f"tune[{field}] holds {number}, which is no id.", field=field)
        if number in ids:
            raise InvalidFieldError(f"tune[{field}] names {number} twice.", field=field)
        ids.append(number)
    return ids


def _id(item: Any) -> int | None:
    if isinstance(item, int) and not isinstance(item, bool):
        return item
    if isinstance(item, str):
        try:
            return parse_int(item)
        except ValueError:
            return None
    return None


def _characteristics(value: Any) -> dict[str, str]:
    if value is None or value == "" or value == {}:
        return {}
    if not isinstance(value, dict):
        raise InvalidFieldError(
            "tune[characteristics] must be a group of named values: tune[characteristics][eye_color]=blue eyes.",
            field="characteristics",
        )
    if len(value) > MAX_CHARACTERISTICS:
        raise InvalidFieldError(f"tune[characteristics] has {len(value)} entries; at most {MAX_CHARACTERISTICS}.", field="characteristics")
    out: dict[str, str] = {}
    for key, item in value.items():
        field = f"tune[characteristics][{key}]"
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise InvalidFieldError(f"{field}: a characteristic's name is letters, digits and _ only.", field=field)
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str):
            raise InvalidFieldError(f"{field} must be text.", field=field)
        if len(item) > MAX_CHARACTERISTIC_CHARS:
            raise InvalidFieldError(f"{field} is {len(item)} characters; at most {MAX_CHARACTERISTIC_CHARS}.", field=field)
        if _NOT_IN_A_VALUE.search(item):
            raise InvalidFieldError(f"{field} may not hold <, >, {{ or }}: it is words put into the prompt text.", field=field)
        out[key] = item.strip()
    return out


def _prompt_callback(value: Any) -> str | None:
    if value is None or value == "" or value == {}:
        return None
    if not isinstance(value, dict):
        raise InvalidFieldError(
            "tune[prompt_attributes] must be a group: tune[prompt_attributes][callback]=URL.", field="prompt_attributes"
        )
    for key, item in value.items():
        if key != "callback" and given(item):
            raise UnsupportedFieldError(
                f"tune[prompt_attributes][{key}] is not offered: only tune[prompt_attributes][callback] is.",
                field=f"tune[prompt_attributes][{key}]",
            )
    callback = value.get("callback")
    if callback is None or (isinstance(callback, str) and not callback.strip()):
        return None
    if not isinstance(callback, str) or len(callback) > 4096:
        raise InvalidFieldError("tune[prompt_attributes][callback] must be a URL.", field="tune[prompt_attributes][callback]")
    return callback


class PackTuneFields(TuneCreate):
    """The ``tune`` group of ``POST /p/{id}/tunes`` (for the OpenAPI document; parsed by ``PackTuneCreate``)."""

    characteristics: dict[str, Text] = Field(
        default_factory=dict, description="Fills {{key}} in the pack's prompt texts: tune[characteristics][eye_color]=blue eyes."
    )
    prompt_attributes: dict[str, Text] = Field(
        default_factory=dict, description="Only callback: tune[prompt_attributes][callback], sent for each prompt when done."
    )
    prompts_callback: Text | None = Field(None, description="Astria's; not offered (422 unsupported_field when given).")
    tune_ids: list[int] = Field(
        default_factory=list,
        description="Instead of making a tune: put the pack's prompts on these tunes of yours (send nothing else but "
        "prompt_ids, characteristics, prompt_attributes). title, name and photos are then not sent.",
    )
    prompt_ids: list[int] = Field(default_factory=list, description="Only these of the pack's prompts (GET /p/{id}); default all.")


_NO_BILLING = "This server does not bill: "


class PackSummaryPublic(BaseModel):
    """A pack in ``GET /packs`` and ``GET /gallery/packs`` (Astria's list fields)."""

    id: int
    base_tune_id: int = Field(description="The gallery id of the base model its tunes are made on.")
    user_id: int | None = Field(None, description="Always null: packs belong to the server, not to an account.")
    slug: str
    title: str
    token: str
    created_at: str
    updated_at: str
    multiplier: int | None = Field(None, description=_NO_BILLING + "always null.")
    model_type: str
    public_at: str | None
    cost_mc_hash: dict[str, int] = Field(default_factory=dict, description=_NO_BILLING + "always {} (no cost per class).")
    classes: list[str] = Field(description="Not Astria's: the class names it has prompts for (tune[name]).")

    @classmethod
    def from_pack(cls, pack: Any) -> PackSummaryPublic:
        return cls(
            id=pack.id,
            base_tune_id=pack.base_tune_id,
            slug=pack.slug,
            title=pack.title,
            token=pack.token,
            created_at=iso(pack.created_at),
            updated_at=iso(pack.updated_at),
            model_type=pack.model_type,
            public_at=iso(pack.public_at),
            classes=pack.classes,
        )


class PackPromptRef(BaseModel):
    id: int = Field(description="The pack prompt's id (what tune[prompt_ids][] names).")
    images: list[str] = Field(default_factory=list, description="Sample images: none here (always []).")


class PackPublic(BaseModel):
    """``GET /p/{id}``: Astria's fields, plus each class's prompt definitions (``prompts``)."""

    id: int
    slug: str
    title: str
    cover_url: str | None
    created_at: str
    updated_at: str
    public_at: str | None
    unlisted_at: str | None
    costs: dict[str, Any] | None = Field(None, description=_NO_BILLING + "always null.")
    logo: str | None = None
    prompts_per_class: dict[str, list[PackPromptRef]]
    base_tune_id: int = Field(description="Not in Astria's GET /p: the gallery id of the base model.")
    token: str = Field(description="Not in Astria's GET /p: the token of the tunes it makes.")
    model_type: str = Field(description="Not in Astria's GET /p: always faceid.")
    prompts: dict[str, list[dict[str, Any]]] = Field(
        description="Not Astria's: each class's prompt definitions as written ({tune_id} stands for the new tune)."
    )
    characteristics: list[str] = Field(description="Not Astria's: the {{key}} names its prompts use.")

    @classmethod
    def from_pack(cls, pack: Any) -> PackPublic:
        return cls(
            id=pack.id,
            slug=pack.slug,
            title=pack.title,
            cover_url=pack.cover_url,
            created_at=iso(pack.created_at),
            updated_at=iso(pack.updated_at),
            public_at=iso(pack.public_at),
            unlisted_at=iso(pack.unlisted_at),
            prompts_per_class={
                name: [PackPromptRef(id=prompt.id) for prompt in prompts] for name, prompts in pack.prompts.items()
            },
            base_tune_id=pack.base_tune_id,
            token=pack.token,
            model_type=pack.model_type,
            prompts={name: [prompt.definition() for prompt in prompts] for name, prompts in pack.prompts.items()},
            characteristics=pack.characteristics(),
        )
