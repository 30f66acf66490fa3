"""Tone curves: monotone through a look's control points, in linear light.

A curve is a list of ``[input, output]`` points in linear light from 0 to 1.
Between them it is the monotone piecewise cubic of Fritsch and Carlson
(scipy's ``PchipInterpolator``), which never overshoots: a curve that rises
through its points rises everywhere, so no tone is inverted and no band
appears. It is sampled once into a dense table, then looked up per pixel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Samples of a curve: dense in the shadows, where linear light keeps its detail.
_SAMPLES = 4096


@dataclass(frozen=True)
class ToneCurve:
    points: tuple[tuple[float, float], ...]
    inputs: np.ndarray
    outputs: np.ndarray

    def __call__(self, linear: np.ndarray) -> np.ndarray:
        return np.interp(linear, self.inputs, self.outputs).astype(np.float32)

    @property
    def is_identity(self) -> bool:
        return all(abs(x - y) < 1e-9 for x, y in self.points)


def tone_curve(points: Sequence[Sequence[float]]) -> ToneCurve:
    """The curve through ``points``; ValueError when they do not run from 0 to 1 and rise."""
    from scipy.interpolate import PchipInterpolator

    pairs = tuple((float(x), float(y)) for x, y in points)
    xs = np.array([x for x, _ in pairs])
    ys = np.array([y for _, y in pairs])
    if len(pairs) < 2 or xs[0] != 0.0 or xs[-1] != 1.0 or np.any(np.diff(xs) <= 0):
        raise ValueError(f"curve inputs must rise from 0 to 1: {pairs}")
    if np.any(np.diff(ys) < 0) or ys.min() < 0 or ys.max() > 1:
        raise ValueError(f"curve outputs must rise within 0..1: {pairs}")
    # Squared spacing puts a quarter of the samples below 1/16 of full light.
    inputs = np.linspace(0.0, 1.0, _SAMPLES) ** 2
    outputs = np.clip(PchipInterpolator(xs, ys)(inputs), 0.0, 1.0)
    return ToneCurve(pairs, inputs.astype(np.float32), outputs.astype(np.float32))
