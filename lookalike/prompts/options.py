"""Generation options (Astria's prompt fields) and their validation.

Every check raises ``InvalidFieldError`` naming the field and what it got;
nothing is silently corrected. ``steps`` and ``cfg_scale`` may be left unset
and then take the scheduler's defaults; the size may be left unset and then
is the base model's native square.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from lookalike.errors import InvalidFieldError
from lookalike.prompts.schedulers import DEFAULT_SCHEDULER, get_scheduler_info

MIN_IMAGES, MAX_IMAGES = 1, 8
MIN_STEPS, MAX_STEPS = 1, 50
MIN_CFG, MAX_CFG = 0.0, 15.0
MIN_SIDE, MAX_SIDE = 64, 2048
SIDE_MULTIPLE = 8
MAX_SEED = 2**32 - 1
MAX_NEGATIVE_CHARS = 4000
MAX_DEEPCACHE = 10
POSTPROCESS_FIELDS = ("face_swap", "face_correct", "super_resolution")
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


@dataclass(frozen=True)
class GenerationOptions:
    negative_prompt: str = ""
    num_images: int = 1
    seed: int | None = None
    steps: int | None = None
    cfg_scale: float | None = None
    w: int | None = None
    h: int | None = None
    aspect_ratio: str | None = None
    scheduler: str = DEFAULT_SCHEDULER
    # Finishing steps, run in this order after generation (lookalike/postprocess).
    face_swap: bool = False
    face_correct: bool = False
    super_resolution: bool = False
    # Optional speed-ups (lookalike/generation); None follows the settings.
    # deepcache: the full UNet every N-th step, deep features reused between (0/1: off).
    deepcache: int | None = None
    # tiny_vae: decode with TAESD, a quick preview at lower quality.
    tiny_vae: bool | None = None

    def __post_init__(self) -> None:
        _check_text("negative_prompt", self.negative_prompt, MAX_NEGATIVE_CHARS)
        for name in POSTPROCESS_FIELDS:
            if not isinstance(getattr(self, name), bool):
                raise InvalidFieldError(f"{name} must be true or false; got {getattr(self, name)!r}.", field=name)
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
        if self.tiny_vae is not None and not isinstance(self.tiny_vae, bool):
            raise InvalidFieldError(f"tiny_vae must be true or false; got {self.tiny_vae!r}.", field="tiny_vae")
        # Normalise the name so that metadata and cache keys see one spelling.
        object.__setattr__(self, "scheduler", get_scheduler_info(self.scheduler).name)

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
                raise InvalidFieldError(
                    "Give either w and h or aspect_ratio, not both.",
                    field="aspect_ratio",
                )
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
        return replace(self, seed=seed)

    def image_seeds(self) -> list[int]:
        """Per-image seeds seed, seed+1, ... (wrapping past 2**32 - 1)."""
        if self.seed is None:
            raise ValueError("no seed yet; the engine picks one")
        return [(self.seed + i) % (MAX_SEED + 1) for i in range(self.num_images)]

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> GenerationOptions:
        """Build from loosely typed input (form fields are strings); unknown keys are ignored.

        Empty strings count as "not given", which is how HTML forms send an
        untouched field.
        """
        kwargs: dict[str, Any] = {}
        for name, kind in _FIELD_TYPES.items():
            if name not in fields:
                continue
            value = fields[name]
            if value is None or (isinstance(value, str) and value.strip() == "" and name != "negative_prompt"):
                continue
            kwargs[name] = _coerce(name, value, kind)
        return cls(**kwargs)


_FIELD_TYPES = {
    "negative_prompt": str,
    "num_images": int,
    "seed": int,
    "steps": int,
    "cfg_scale": float,
    "w": int,
    "h": int,
    "aspect_ratio": str,
    "scheduler": str,
    "face_swap": bool,
    "face_correct": bool,
    "super_resolution": bool,
    "deepcache": int,
    "tiny_vae": bool,
}


def aspect_size(ratio: str, native_size: int) -> tuple[int, int]:
    """Keep about the native pixel count at the given ratio, both sides multiples of 8."""
    rw, rh = ASPECT_RATIOS[ratio]
    scale = math.sqrt(rw / rh)
    width = max(SIDE_MULTIPLE, round(native_size * scale / SIDE_MULTIPLE) * SIDE_MULTIPLE)
    height = max(SIDE_MULTIPLE, round(native_size / scale / SIDE_MULTIPLE) * SIDE_MULTIPLE)
    return width, height


def _coerce(name: str, value: Any, kind: type) -> Any:
    if kind is bool:
        # Forms send "true"/"false"; 1 and 0 are what some JSON clients send.
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise InvalidFieldError(f"{name} must be true or false; got {value!r}.", field=name)
    if kind is str:
        if not isinstance(value, str):
            raise InvalidFieldError(f"{name} must be text; got {type(value).__name__}.", field=name)
        return value
    if isinstance(value, bool):
        raise InvalidFieldError(f"{name} must be a number; got {value!r}.", field=name)
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text) if kind is float else int(text)
        except ValueError:
            raise InvalidFieldError(f"{name} must be {_kind_word(kind)}; got {value!r}.", field=name) from None
        return number
    return value


def _kind_word(kind: type) -> str:
    return "a whole number" if kind is int else "a number"


def _check_text(name: str, value: Any, max_chars: int) -> None:
    if not isinstance(value, str):
        raise InvalidFieldError(f"{name} must be text; got {type(value).__name__}.", field=name)
    if len(value) > max_chars:
        raise InvalidFieldError(f"{name} is {len(value)} characters; at most {max_chars}.", field=name)


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


def _nearest_multiple(value: int) -> int:
    return max(MIN_SIDE, min(MAX_SIDE, round(value / SIDE_MULTIPLE) * SIDE_MULTIPLE))
