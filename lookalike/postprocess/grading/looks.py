"""A colour grading look: its tone curves and its 3D LUT, read from the package's data files.

    look = load_look("Film Portra")
    graded = look.apply(pixels)  # uint8 RGB (H, W, 3) in, the same out

Each look is ``data/<slug>.json`` (its intent in words, the tone curves, the
LUT's file and the recipe it was made from) and that ``.cube``. ``apply``
decodes sRGB to linear light, runs the curves (the master curve, then red,
green and blue), then the LUT (colour: saturation and hue), and encodes
back to sRGB.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources

import numpy as np

from lookalike.postprocess.grading import transfer
from lookalike.postprocess.grading.curves import ToneCurve, tone_curve
from lookalike.postprocess.grading.lut import Lut3D, read_cube

CHANNELS = ("red", "green", "blue")


@dataclass(frozen=True)
class Look:
    name: str
    intent: str
    master: ToneCurve
    channels: tuple[ToneCurve, ToneCurve, ToneCurve]
    lut: Lut3D
    keeps_neutrals: bool  # whether a grey stays grey (what the look promises; tests hold it to that)

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 RGB (..., 3) graded. The same as ``apply_linear`` between decoding and encoding: the
        curves act on each channel alone, so for 8-bit input they are one 256-entry table per channel."""
        shaped = np.take_along_axis(self._shaped_tones, np.asarray(pixels, dtype=np.intp).reshape(-1, 3), axis=0)
        return transfer.encode(self.lut(shaped) ** 3).reshape(np.shape(pixels))

    def apply_linear(self, linear: np.ndarray) -> np.ndarray:
        """The look on linear light (..., 3) in 0..1: curves, then the LUT (nodes even in the cube root)."""
        return self.lut(np.cbrt(self.tone(linear))) ** 3

    def tone(self, linear: np.ndarray) -> np.ndarray:
        """The tone curves alone on linear light: the master curve, then each channel's."""
        toned = self.master(linear)
        for channel, curve in enumerate(self.channels):
            if not curve.is_identity:
                toned[..., channel] = curve(toned[..., channel])
        return toned

    @cached_property
    def _shaped_tones(self) -> np.ndarray:
        levels = np.repeat(transfer.decode(np.arange(256, dtype=np.uint8))[:, None], 3, axis=1)
        return np.cbrt(self.tone(levels)).astype(np.float32)


def slug(name: str) -> str:
    """``Film Velvia`` -> ``film_velvia``: the look's file name."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _data():
    return resources.files("lookalike.postprocess.grading").joinpath("data")


def has_look(name: str) -> bool:
    """Whether the package ships the look ``name`` (its two files), without reading them."""
    return _data().joinpath(f"{slug(name)}.json").is_file() and _data().joinpath(f"{slug(name)}.cube").is_file()


@cache
def load_look(name: str) -> Look:
    """The look called ``name`` (Astria's spelling); KeyError when the package has none by that name."""
    folder = _data()
    entry = folder.joinpath(f"{slug(name)}.json")
    if not entry.is_file():
        raise KeyError(name)
    raw = json.loads(entry.read_text(encoding="utf-8"))
    if raw["name"] != name:
        raise ValueError(f"{entry.name} is the look {raw['name']!r}, not {name!r}")
    curves = raw["curves"]
    with resources.as_file(folder.joinpath(raw["lut"]["file"])) as cube:
        lut = read_cube(cube)
    return Look(
        name=raw["name"],
        intent=raw["intent"],
        master=tone_curve(curves["master"]),
        channels=tuple(tone_curve(curves[c]) for c in CHANNELS),  # type: ignore[arg-type]
        lut=lut,
        keeps_neutrals=bool(raw["keeps_neutrals"]),
    )


def look_names() -> tuple[str, ...]:
    """Every look the package ships, by name."""
    entries = sorted((e for e in _data().iterdir() if e.name.endswith(".json")), key=lambda e: e.name)
    return tuple(json.loads(e.read_text(encoding="utf-8"))["name"] for e in entries)
