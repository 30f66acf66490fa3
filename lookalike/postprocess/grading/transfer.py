"""sRGB's transfer function (IEC 61966-2-1): 8-bit encoded values to linear light and back.

Colour is mixed and toned in linear light, where light adds up as it does
in the world; a curve applied to encoded values would bend mid-tones and
shadows differently from what the look's numbers say.
"""

from __future__ import annotations

from functools import cache

import numpy as np

_KNEE_ENCODED = 0.04045
_KNEE_LINEAR = 0.0031308


@cache
def _decode_table() -> np.ndarray:
    encoded = np.arange(256, dtype=np.float64) / 255.0
    linear = np.where(encoded <= _KNEE_ENCODED, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)
    table = linear.astype(np.float32)
    table.flags.writeable = False
    return table


def decode(pixels: np.ndarray) -> np.ndarray:
    """uint8 sRGB values -> float32 linear light in [0, 1] (exact, by table)."""
    return _decode_table()[pixels]


def to_linear(encoded: np.ndarray) -> np.ndarray:
    """float sRGB values in [0, 1] -> linear light."""
    encoded = np.asarray(encoded, dtype=np.float64)
    return np.where(encoded <= _KNEE_ENCODED, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)


def to_encoded(linear: np.ndarray) -> np.ndarray:
    """Linear light (clipped to [0, 1]) -> float sRGB values in [0, 1]."""
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= _KNEE_LINEAR, linear * 12.92, 1.055 * np.power(linear, 1 / 2.4) - 0.055)


def encode(linear: np.ndarray) -> np.ndarray:
    """Linear light -> uint8 sRGB, rounded to the nearest value."""
    return np.rint(to_encoded(linear) * 255.0).astype(np.uint8)
