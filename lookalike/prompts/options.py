"""Generation options (Astria's prompt fields): the one definition of each field and its checks.

``GenerationOptions`` is the single place a prompt option is declared: its
type, range, default and description. The API's request schema, the
response, the CLI's flags and the client's request are all built from its
fields, so adding an option means adding a field here and implementing it.

Every check raises ``InvalidFieldError`` naming the field and what it got;
nothing is silently corrected. ``steps`` and ``cfg_scale`` may be left unset
and then take the scheduler's defaults; the size may be left unset and then
is the base model's native square. Numbers sent as text must be plain
decimals (``prompts/numbers.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from lookalike.errors import InvalidFieldError
from lookalike.prompts.numbers import parse_decimal, parse_int
from lookalike.prompts.schedulers import DEFAULT_SCHEDULER, SCHEDULER_NAMES, get_scheduler_info

MIN_IMAGES, MAX_IMAGES = 1, 8
MIN_STEPS, MAX_STEPS = 1, 50
MIN_CFG, MAX_CFG = 0.0, 15.0
MIN_SIDE, MAX_SIDE = 64, 2048
SIDE_MULTIPLE = 8
MAX_SEED = 2**32 - 1
MAX_NEGATIVE_CHARS = 4000
MAX_DEEPCACHE = 10
POSTPROCESS_FIELDS = ("face_swap", "face_correct", "super_resolution")
# The speed-ups (docs/GENERATION.md) are ours, not Astria's: off unless asked for.
SPEEDUP_FIELDS = ("deepcache", "tiny_vae")
_TRUE, _FALSE = frozenset({"true", "1", "yes", "on"}), frozenset({"false", "0", "no", "off"})

ASPECT_RATIOS: dict[str, tuple[int, int]] = {
    "1:1": (1, 1),
    "16:9": (16, 9),
    "9:16": (9, 16),
    "3:2": (3, 2),
    "2:3": (2, 3),
    "4:5": (4, 5),
    "5:4": (5, 4),
    "4:3": (4, 3),
    "3:4": (3, 4),
    "21:9": (21, 9),
    "9:21": (9, 21),
}


def _whole(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"got {value!r}")
    if isinstance(value, str):
        return parse_int(value)
    if not isinstance(value, int):
        # 4.0 is refused as well: the field is a count, and a float there is a client's bug.
        raise ValueError(f"got {value!r}")
    return value


def _decimal(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"got {value!r}")
    if isinstance(value, str):
        return parse_decimal(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"got {value!r}")
    return value


def _flag(value: Any) -> Any:
    # Forms send "true"/"false"; 1 and 0 are what some JSON clients send.
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"got {value!r}")


WholeNumber = Annotated[int, BeforeValidator(_whole)]
Decimal = Annotated[float, BeforeValidator(_decimal)]
Flag = Annotated[bool, BeforeValidator(_flag)]

# What each kind of field must be, for messages that say what to send.
_KIND_WORDS = {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "text"}


class GenerationOptions(BaseModel):
    """A prompt's options. Construct it like a dataclass; a bad value raises InvalidFieldError."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    negative_prompt: str = Field("", max_length=MAX_NEGATIVE_CHARS, description="What the images should not show.")
    num_images: WholeNumber = Field(1, description=f"Images to make, {MIN_IMAGES} to {MAX_IMAGES}.")
    seed: WholeNumber | None = Field(None, description="Same seed and options, same pixels; image i uses seed+i.")
    steps: WholeNumber | None = Field(None, description="Denoising steps (the scheduler's default if unset).")
    cfg_scale: Decimal | None = Field(None, description=f"Guidance, {MIN_CFG:g} to {MAX_CFG:g} (the scheduler's default if unset).")
    w: WholeNumber | None = Field(None, description="Width, a multiple of 8; with h.", json_schema_extra={"cli": "--width"})
    h: WholeNumber | None = Field(None, description="Height, a multiple of 8; with w.", json_schema_extra={"cli": "--height"})
    aspect_ratio: str | None = Field(
        None, description="Instead of w and h: 1:1, 4:5, 2:3, 16:9, ...", json_schema_extra={"enum": list(ASPECT_RATIOS)}
    )
    scheduler: str = Field(
        DEFAULT_SCHEDULER, description=", ".join(SCHEDULER_NAMES) + ".", json_schema_extra={"enum": list(SCHEDULER_NAMES)}
    )
    # Finishing steps, run in this order after generation (lookalike/postprocess).
    face_swap: Flag = Field(
        False, description="Put the tune's face on each realistic face, first; skipped (said in the PNG) on illustrations."
    )
    face_correct: Flag = Field(False, description="Restore every face (GFPGAN v1.4).")
    super_resolution: Flag = Field(False, description="Upscale each image x4 (Real-ESRGAN x4plus), last.")
    # Optional speed-ups (lookalike/generation); None follows the settings.
    deepcache: WholeNumber | None = Field(
        None, description="Not Astria's: the full UNet every N-th step, deep features reused between (0/1: off)."
    )
    tiny_vae: Flag | None = Field(None, description="Not Astria's: decode with TAESD, a quick preview at lower quality.")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise invalid_field(exc) from None

    @model_validator(mode="after")
    def _check(self) -> GenerationOptions:
        _check_int("num_images", self.num_images, MIN_IMAGES, MAX_IMAGES)
        if self.seed is not None:
            _check_int("seed", self.seed, 0, MAX_SEED)
        if self.steps is not None:
            _check_int("steps", self.steps, MIN_STEPS, MAX_STEPS)
        if self.cfg_scale is not None:
            _check_float("cfg_scale", self.cfg_scale, MIN_CFG, MAX_CFG)
        self._check_size()
        if self.deepcache is not None:
            _check_int("deepcache", self.deepcache, 0, MAX_DEEPCACHE)
        # One spelling of the scheduler for metadata and cache keys.
        object.__setattr__(self, "scheduler", get_scheduler_info(self.scheduler).name)
        return self

    def _check_size(self) -> None:
        for name in ("w", "h"):
            value = getattr(self, name)
            if value is None:
                continue
            _check_int(name, value, MIN_SIDE, MAX_SIDE)
            if value % SIDE_MULTIPLE:
                raise InvalidFieldError(
                    f"{name} must be a multiple of {SIDE_MULTIPLE}; got {value}.",
                    field=name,
                    hint=f"Try {_nearest_multiple(value)}.",
                )
        if (self.w is None) != (self.h is None):
            missing = "h" if self.h is None else "w"
            raise InvalidFieldError(f"Give both w and h, or neither; {missing} is missing.", field=missing)
        if self.aspect_ratio is not None:
            if self.w is not None:
                raise InvalidFieldError("Give either w and h or aspect_ratio, not both.", field="aspect_ratio")
            if self.aspect_ratio not in ASPECT_RATIOS:
                raise InvalidFieldError(
                    f"Unknown aspect_ratio {self.aspect_ratio!r}. Valid: {', '.join(ASPECT_RATIOS)}.",
                    field="aspect_ratio",
                    details={"valid": list(ASPECT_RATIOS)},
                )

    def size_for(self, native_size: int) -> tuple[int, int]:
        """(width, height) in pixels for a model whose native square side is ``native_size``."""
        if self.w is not None and self.h is not None:
            return self.w, self.h
        if self.aspect_ratio is None:
            return native_size, native_size
        return aspect_size(self.aspect_ratio, native_size)

    def resolved_steps(self) -> int:
        return self.steps if self.steps is not None else get_scheduler_info(self.scheduler).default_steps

    def resolved_cfg(self) -> float:
        return self.cfg_scale if self.cfg_scale is not None else get_scheduler_info(self.scheduler).default_cfg

    def with_seed(self, seed: int) -> GenerationOptions:
        _check_int("seed", seed, 0, MAX_SEED)
        return self.model_copy(update={"seed": seed})

    def image_seeds(self) -> list[int]:
        """Per-image seeds seed, seed+1, ... (wrapping past 2**32 - 1)."""
        if self.seed is None:
            raise ValueError("no seed yet; the engine picks one")
        return [(self.seed + i) % (MAX_SEED + 1) for i in range(self.num_images)]

    def resolved(self, native_size: int) -> dict[str, Any]:
        """Every option as the engine will run it (defaults filled in): what a stored prompt keeps.

        The seed must be chosen first, so that a prompt re-run after a
        restart makes the same images.
        """
        if self.seed is None:
            raise ValueError("choose the seed before resolving")
        width, height = self.size_for(native_size)
        out: dict[str, Any] = {
            "num_images": self.num_images,
            "seed": self.seed,
            "steps": self.resolved_steps(),
            "cfg_scale": self.resolved_cfg(),
            "w": width,
            "h": height,
            "scheduler": self.scheduler,
            **{name: getattr(self, name) for name in POSTPROCESS_FIELDS},
        }
        for name in SPEEDUP_FIELDS:
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> GenerationOptions:
        """Build from loosely typed input (form fields are strings); keys that are not options are ignored.

        Empty strings count as "not given", which is how HTML forms send an
        untouched field.
        """
        return cls(**option_values(fields))


OPTION_FIELDS: tuple[str, ...] = tuple(GenerationOptions.model_fields)


def option_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The option fields among ``fields``, with untouched form fields ("") and nulls left out."""
    out = {}
    for name in OPTION_FIELDS:
        if name not in fields:
            continue
        value = fields[name]
        if value is None or (isinstance(value, str) and value.strip() == "" and name != "negative_prompt"):
            continue
        out[name] = value
    return out


def invalid_field(exc: ValidationError) -> InvalidFieldError:
    """pydantic's first complaint as our error: which field, what it got, what it must be."""
    first = exc.errors()[0]
    name = ".".join(str(part) for part in first.get("loc", ())) or None
    got = first.get("input")
    kind = _kind_of(name)
    if first.get("type") == "extra_forbidden":
        message = f"{name} is not a field here."
    elif first.get("type") == "missing":
        message = f"{name} is required."
    elif first.get("type") == "string_too_long":
        limit = (first.get("ctx") or {}).get("max_length")
        message = f"{name} is {len(got)} characters; at most {limit}."
    elif kind:
        message = f"{name} must be {kind}; got {got!r}."
    else:
        message = f"{name}: {first.get('msg', 'invalid value')}; got {got!r}."
    return InvalidFieldError(message, field=name)


def option_kind(name: str) -> type:
    """The plain type of an option (int, float, bool or str), with Optional and validators unwrapped."""
    annotation: Any = GenerationOptions.model_fields[name].annotation
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, UnionType):
            annotation = next(arg for arg in get_args(annotation) if arg is not type(None))
        else:
            return annotation


def _kind_of(field_name: str | None) -> str | None:
    if field_name not in GenerationOptions.model_fields:
        return None
    return _KIND_WORDS.get(option_kind(field_name).__name__)


def aspect_size(ratio: str, native_size: int) -> tuple[int, int]:
    """Keep about the native pixel count at the given ratio, both sides multiples of 8 within the limits.

    A small native size (the tiny model's 64) would give a short side below
    MIN_SIDE (16:9 at 64 px: 85x48), which the same options then refuse; so
    the short side is raised to MIN_SIDE (and a long side past MAX_SIDE
    brought down) keeping the ratio, and the pixel count grows instead.
    """
    rw, rh = ASPECT_RATIOS[ratio]
    scale = math.sqrt(rw / rh)
    width, height = native_size * scale, native_size / scale
    if min(width, height) < MIN_SIDE:
        grow = MIN_SIDE / min(width, height)
        width, height = width * grow, height * grow
    if max(width, height) > MAX_SIDE:
        shrink = MAX_SIDE / max(width, height)
        width, height = width * shrink, height * shrink
    return _nearest_multiple(width), _nearest_multiple(height)


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidFieldError(f"{name} must be a whole number; got {value!r}.", field=name)
    if not low <= value <= high:
        raise InvalidFieldError(
            f"{name} must be from {low} to {high}; got {value}.",
            field=name,
            details={"min": low, "max": high, "got": value},
        )


def _check_float(name: str, value: Any, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidFieldError(f"{name} must be a number; got {value!r}.", field=name)
    if not low <= value <= high:
        raise InvalidFieldError(
            f"{name} must be from {low:g} to {high:g}; got {value:g}.",
            field=name,
            details={"min": low, "max": high, "got": value},
        )


def _nearest_multiple(value: float) -> int:
    """The multiple of SIDE_MULTIPLE nearest ``value``, within MIN_SIDE..MAX_SIDE."""
    return max(MIN_SIDE, min(MAX_SIDE, round(value / SIDE_MULTIPLE) * SIDE_MULTIPLE))
