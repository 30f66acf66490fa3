"""How each look's 3D LUT was made: its colour recipe (in the look's JSON), evaluated in linear light.

    python -m lookalike.postprocess.grading.recipe   # rewrites data/*.cube from data/*.json

The ``.cube`` files are what runs; this is where their numbers come from,
and a test checks the shipped files still equal it. A recipe works on the
chroma of each colour, its distance from the grey of the same luminance
(Rec. 709 weights, sRGB's primaries), so a grey maps to itself exactly:

- ``saturation``: chroma times this everywhere;
- ``hue_saturation``: ``[{hue, width, gain}]``, chroma times ``1 + gain`` at
  ``hue`` (degrees: red 0, yellow 60, green 120, cyan 180, blue 240,
  magenta 300), fading to nothing ``width`` degrees away (a raised cosine);
- ``hue_shift``: ``[{hue, width, degrees}]``, hues near ``hue`` turned by up
  to ``degrees`` (towards yellow when positive), the same fade.

Luminance is kept (the tone curves set it), and a colour pushed outside
0..1 has its chroma shortened until it fits, keeping its hue.

Nodes sit evenly in the cube root of linear light (close to lightness),
not in linear light itself, so shadows get as many nodes as highlights;
the look encodes and decodes around the lookup with the same root.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

LUMA = np.array([0.2126, 0.7152, 0.0722])
_AXIS = np.ones(3) / math.sqrt(3.0)


def hue_degrees(rgb: np.ndarray) -> np.ndarray:
    """Hue angle of linear RGB colours (..., 3): red 0, green 120, blue 240."""
    x = rgb[..., 0] - (rgb[..., 1] + rgb[..., 2]) / 2
    y = (math.sqrt(3.0) / 2) * (rgb[..., 1] - rgb[..., 2])
    return np.degrees(np.arctan2(y, x)) % 360.0


def _bump(hue: np.ndarray, centre: float, width: float) -> np.ndarray:
    distance = np.abs((hue - centre + 180.0) % 360.0 - 180.0)
    return np.where(distance < width, 0.5 * (1 + np.cos(np.pi * distance / width)), 0.0)


def _turn(vectors: np.ndarray, degrees: np.ndarray) -> np.ndarray:
    """Rotate each vector about the grey axis (Rodrigues' formula)."""
    theta = np.radians(degrees)[..., None]
    cross = np.cross(_AXIS, vectors)
    along = _AXIS * (vectors @ _AXIS)[..., None]
    return vectors * np.cos(theta) + cross * np.sin(theta) + along * (1 - np.cos(theta))


def grade_colour(rgb: np.ndarray, recipe: Mapping[str, Any]) -> np.ndarray:
    """The recipe applied to linear RGB colours (..., 3) in 0..1."""
    rgb = np.asarray(rgb, dtype=np.float64)
    luminance = rgb @ LUMA
    chroma = rgb - luminance[..., None]
    hue = hue_degrees(rgb)
    gain = np.full(hue.shape, float(recipe.get("saturation", 1.0)))
    for part in recipe.get("hue_saturation", ()):
        gain = gain * (1 + part["gain"] * _bump(hue, part["hue"], part["width"]))
    turn = np.zeros(hue.shape)
    for part in recipe.get("hue_shift", ()):
        turn = turn + part["degrees"] * _bump(hue, part["hue"], part["width"])
    chroma = _turn(chroma, turn) * gain[..., None]
    chroma = chroma - (chroma @ LUMA)[..., None]  # the turn moved luminance a little: put it back
    out = luminance[..., None] + chroma
    return _fit(out, luminance)


def _fit(rgb: np.ndarray, luminance: np.ndarray) -> np.ndarray:
    """Shorten the chroma of colours outside 0..1 until they fit (same luminance, same hue)."""
    chroma = rgb - luminance[..., None]
    low, high = rgb.min(axis=-1), rgb.max(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        k_low = np.where(low < 0, luminance / (luminance - low), 1.0)
        k_high = np.where(high > 1, (1 - luminance) / (high - luminance), 1.0)
    k = np.clip(np.nan_to_num(np.minimum(k_low, k_high), nan=0.0), 0.0, 1.0)
    return np.clip(luminance[..., None] + chroma * k[..., None], 0.0, 1.0)


def lut_table(recipe: Mapping[str, Any], size: int) -> np.ndarray:
    """The (size**3, 3) table, red fastest, of ``recipe`` on nodes even in the cube root of linear light."""
    axis = np.linspace(0.0, 1.0, size)
    blue, green, red = np.meshgrid(axis, axis, axis, indexing="ij")
    nodes = np.stack([red, green, blue], axis=-1).reshape(-1, 3)
    return np.cbrt(grade_colour(nodes**3, recipe))


def data_folder() -> Path:
    return Path(__file__).resolve().parent / "data"


def look_files(folder: Path | None = None) -> Sequence[Path]:
    return sorted((folder or data_folder()).glob("*.json"))


def build(look_path: Path) -> tuple[Path, str, np.ndarray, tuple[str, ...]]:
    """(cube path, title, table, comments) that ``look_path``'s recipe makes."""
    look = json.loads(look_path.read_text(encoding="utf-8"))
    lut = look["lut"]
    comments = (
        f"{look['name']}: {look['intent']}",
        "Made by lookalike/postprocess/grading/recipe.py from " + look_path.name + "; do not edit by hand.",
        "Input and output: linear light encoded with the cube root (x ** (1/3)); decode with x ** 3.",
    )
    return look_path.with_name(lut["file"]), look["name"], lut_table(lut["recipe"], int(lut["size"])), comments


def main() -> None:
    from lookalike.postprocess.grading.lut import write_cube

    for path in look_files():
        cube, title, table, comments = build(path)
        write_cube(cube, title, table, comments)
        print(f"wrote {cube}")


if __name__ == "__main__":
    main()
