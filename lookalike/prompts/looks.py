"""The values of Astria's look fields (``style``, ``color_grading``, ``ar``, ``backend_version``) and matching them.

Astria's spellings are the canonical ones (docs/api/1-prompt/1-create.md).
A value matches whatever its case and however its words are separated
(``film_portra``, ``FILM-PORTRA`` and ``Film  Portra`` are ``Film Portra``),
because CLI users type them as flags and the values have no two names that
differ only so; the response and the PNG show Astria's spelling. Anything
else is ``invalid_field`` with the valid values listed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from lookalike.errors import InvalidFieldError

STYLES = (
    "Cinematic", "Animated", "Digital Art", "Photographic", "Fantasy art",
    "Neonpunk", "Enhance", "Comic book", "Lowpoly", "Line art",
)  # fmt: skip
COLOR_GRADINGS = ("Film Velvia", "Film Portra", "Ektar")

# Astria's legacy ``ar`` as one of our ``aspect_ratio`` values. Astria never
# published what portrait and landscape measure; since 16:9 is its own value,
# landscape is the milder photographic 3:2 (and portrait its upright 2:3), the
# 35 mm frame and SD 1.5's classic 512x768.
LEGACY_AR = {"1:1": "1:1", "portrait": "2:3", "16:9": "16:9", "landscape": "3:2"}

# Astria's backend_version: null (the account's default) or 1. This server has one backend, so both mean it.
BACKEND_VERSIONS = (1,)

_SEPARATORS = re.compile(r"[\s_\-]+")


def _key(value: str) -> str:
    return _SEPARATORS.sub(" ", value.strip()).casefold()


_HINTS = {"ar": "ar is Astria's legacy field; aspect_ratio takes 1:1, 4:5, 2:3, 16:9 and more."}


def canonical_choice(field: str, value: Any, valid: Sequence[str]) -> str:
    """``value`` in Astria's spelling, or InvalidFieldError naming ``field`` and listing ``valid``."""
    if isinstance(value, str):
        for name in valid:
            if _key(name) == _key(value):
                return name
    raise InvalidFieldError(
        f"Unknown {field} {value!r}. Valid: {', '.join(valid)}.",
        field=field,
        hint=_HINTS.get(field, f"Leave {field} out for none."),
        details={"valid": list(valid)},
    )


def parse_backend_version(value: Any) -> int:
    """Astria's backend_version as sent (1 or "1"); anything else is InvalidFieldError listing the valid values.

    Raised from inside the options' validation on purpose: a plain "must be a
    whole number" would not say which numbers.
    """
    text = value.strip() if isinstance(value, str) else value
    for known in BACKEND_VERSIONS:
        if not isinstance(text, bool) and text in (known, str(known)):
            return known
    raise InvalidFieldError(
        f"backend_version must be null or {', '.join(map(str, BACKEND_VERSIONS))}; got {value!r}.",
        field="backend_version",
        hint="This server has one backend: leave backend_version out, or send 1.",
        details={"valid": [None, *BACKEND_VERSIONS]},
    )
