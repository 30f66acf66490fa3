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
from lookalike.prompts.looks import COLOR_GRADINGS, LEGACY_AR, STYLES, canonical_choice, parse_backend_version
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
# Astria's looks (docs/POSTPROCESS.md, "Looks"): always shown as run; null/false when not asked for.
LOOK_FIELDS = ("style", "color_grading", "film_grain")
# Generation passes after the first one (lookalike/execution); always shown as run.
PASS_FLAGS = ("inpaint_faces", "hires_fix")
# Ours, not Astria's: in ``resolved`` only when given.
FACEID_FIELDS = ("faceid_layout", "faceid_adapter", "faceid_shortcut", "faceid_s_scale", "hires_denoising_strength")
FACEID_ADAPTERS = ("faceid", "plusv2")
MAX_S_SCALE = 2.0
DEFAULT_HIRES_STRENGTH = 0.4
# The speed-ups (docs/GENERATION.md) are ours, not Astria's: off unless asked for.
SPEEDUP_FIELDS = ("deepcache", "tiny_vae")
# Astria's img2img / ControlNet fields: they need an input image (prompts/input_image.py); in ``resolved`` when set.
IMAGE_FIELDS = ("denoising_strength", "controlnet", "controlnet_conditioning_scale", "controlnet_txt2img")
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


def _offered_controlnets() -> tuple[str, ...]:
    from lookalike.catalog.controlnets import offered_kinds

    return offered_kinds()


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
    super_resolution: Flag = Field(False, description="Upscale each image x4 (Real-ESRGAN x4plus), after the face steps.")
    # Astria's looks: a prompt template, then a colour grade and grain at the delivered size, last.
    style: str | None = Field(
        None, description="Astria's style: a prompt template around the text. " + ", ".join(STYLES) + ".",
        json_schema_extra={"enum": list(STYLES)},
    )
    color_grading: str | None = Field(
        None, description="A film look, graded in linear light after super resolution: " + ", ".join(COLOR_GRADINGS) + ".",
        json_schema_extra={"enum": list(COLOR_GRADINGS)},
    )
    film_grain: Flag = Field(False, description="Film grain at the delivered size, seeded by each image's seed; last.")
    ar: str | None = Field(
        None, description="Astria's legacy aspect ratio, instead of aspect_ratio: 1:1, portrait (2:3), 16:9, landscape (3:2).",
        json_schema_extra={"enum": list(LEGACY_AR)},
    )
    backend_version: Annotated[int, BeforeValidator(parse_backend_version)] | None = Field(
        None, description="Astria's backend_version: null or 1; this server has one backend, which both mean."
    )
    # Generation passes after the first (lookalike/execution): faces redrawn, a detail pass at the full size.
    inpaint_faces: Flag = Field(
        False, description="Redraw each face at the model's native size (inpainting, FaceID on) and paste it back."
    )
    hires_fix: Flag = Field(
        False, description="Generate at half size, upscale, then an img2img pass at the full size adds detail."
    )
    hires_denoising_strength: Decimal | None = Field(
        None, description="hires_fix's img2img strength, 0 to 1 (Astria's --hires_denoising_strength; default 0.4)."
    )
    # Several people, and the FaceID adapter (not Astria's; docs/GENERATION.md).
    faceid_layout: str | None = Field(
        None,
        description="Not Astria's: with 2+ <faceid> tokens, where each person goes: columns (default), rows, "
        "blend (one mixed identity everywhere) or boxes 'x0,y0,x1,y1;...' as fractions, one per token.",
    )
    faceid_adapter: str | None = Field(
        None,
        description="Not Astria's: faceid (the base model's default) or plusv2 (FaceID PlusV2: adds a CLIP image "
        "of the face for more likeness).",
        json_schema_extra={"enum": list(FACEID_ADAPTERS)},
    )
    faceid_shortcut: Flag | None = Field(
        None, description="Not Astria's: PlusV2's shortcut (true, V2's default; false: V1's behaviour). PlusV2 only."
    )
    faceid_s_scale: Decimal | None = Field(
        None, description=f"Not Astria's: PlusV2's structure scale s_scale, 0 to {MAX_S_SCALE:g} (default 1). PlusV2 only."
    )
    # An input image's use (Astria's img2img / ControlNet fields); each needs prompt[input_image] or its URL.
    denoising_strength: Decimal | None = Field(
        None, description="img2img from the input image: 0 keeps it, 1 ignores it; 0.8 when unset (Astria's default)."
    )
    controlnet: str | None = Field(
        None,
        description="ControlNet type: canny and pose are computed from the input image; depth, lineart, hed, mlsd "
        "and tile take it as a ready control image. SDXL: canny, pose, depth.",
        json_schema_extra={"enum": list(_offered_controlnets())},
    )
    controlnet_conditioning_scale: Decimal | None = Field(
        None, description="How strongly the ControlNet steers, 0 to 1; 1 when unset. With controlnet."
    )
    controlnet_txt2img: Flag | None = Field(
        None, description="With controlnet: text-to-image steered by the control image (the input's pixels are not "
        "the start); false (default): image-to-image from the input with the ControlNet."
    )
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
        self._check_looks()
        if self.deepcache is not None:
            _check_int("deepcache", self.deepcache, 0, MAX_DEEPCACHE)
        self._check_faceid()
        self._check_image_use()
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

    def _check_faceid(self) -> None:
        if self.hires_denoising_strength is not None:
            _check_float("hires_denoising_strength", self.hires_denoising_strength, 0.0, 1.0)
            if not self.hires_fix:
                raise InvalidFieldError(
                    "hires_denoising_strength is the strength of hires_fix's pass; set hires_fix=true with it.",
                    field="hires_denoising_strength",
                )
        if self.faceid_layout is not None:
            from lookalike.prompts.layouts import check_layout_text

            object.__setattr__(self, "faceid_layout", check_layout_text(self.faceid_layout))
        if self.faceid_adapter is not None:
            value = self.faceid_adapter.strip().lower()
            if value not in FACEID_ADAPTERS:
                raise InvalidFieldError(
                    f"Unknown faceid_adapter {self.faceid_adapter!r}. Valid: {', '.join(FACEID_ADAPTERS)}.",
                    field="faceid_adapter",
                    details={"valid": list(FACEID_ADAPTERS)},
                )
            object.__setattr__(self, "faceid_adapter", value)
        if self.faceid_s_scale is not None:
            _check_float("faceid_s_scale", self.faceid_s_scale, 0.0, MAX_S_SCALE)
        for name in ("faceid_shortcut", "faceid_s_scale"):
            if getattr(self, name) is not None and self.faceid_adapter != "plusv2":
                raise InvalidFieldError(
                    f"{name} is an option of FaceID PlusV2; set faceid_adapter=plusv2 with it.", field=name
                )

    def _check_image_use(self) -> None:
        from lookalike.prompts.input_image import check_image_options

        check_image_options(self)

    def resolved_faceid_shortcut(self) -> bool:
        """PlusV2's shortcut as it runs: on (V2) unless turned off."""
        return True if self.faceid_shortcut is None else bool(self.faceid_shortcut)

    def resolved_faceid_s_scale(self) -> float:
        return 1.0 if self.faceid_s_scale is None else float(self.faceid_s_scale)

    def resolved_hires_strength(self) -> float:
        return DEFAULT_HIRES_STRENGTH if self.hires_denoising_strength is None else self.hires_denoising_strength

    def _check_looks(self) -> None:
        for name, valid in (("style", STYLES), ("color_grading", COLOR_GRADINGS), ("ar", tuple(LEGACY_AR))):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, canonical_choice(name, getattr(self, name), valid))
        if self.ar is not None and (self.aspect_ratio is not None or self.w is not None):
            other = "aspect_ratio" if self.aspect_ratio is not None else "w and h"
            raise InvalidFieldError(f"Give either ar or {other}, not both.", field="ar",
                                    hint="ar is Astria's legacy field; aspect_ratio is its current one.")

    def size_for(self, native_size: int) -> tuple[int, int]:
        """(width, height) in pixels for a model whose native square side is ``native_size``."""
        if self.w is not None and self.h is not None:
            return self.w, self.h
        if self.ar is not None:
            return aspect_size(LEGACY_AR[self.ar], native_size)
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
            **{name: getattr(self, name) for name in LOOK_FIELDS},
            **{name: getattr(self, name) for name in PASS_FLAGS},
        }
        for name in (*SPEEDUP_FIELDS, *FACEID_FIELDS, *IMAGE_FIELDS):
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
    return ratio_size(rw / rh, native_size)


def ratio_size(ratio: float, native_size: int) -> tuple[int, int]:
    """``aspect_size`` for any width/height ratio (an input image's shape, say)."""
    scale = math.sqrt(ratio)
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
