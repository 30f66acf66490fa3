"""Bringing the input image to the output size: scale to cover, then crop the middle.

The input image seeds img2img and its control image must line up with it
pixel for pixel, so both go through this one mapping. Covering (rather than
stretching, diffusers' default) keeps faces in proportion when the output's
shape differs from the photo's; without w, h or aspect_ratio the output
takes the photo's shape (``prompts/input_image.py``), and then only a few
pixels of rounding are cropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Fit:
    """Source pixels to output pixels: ``out = (src - (left, top)) * scale``."""

    scale: float
    left: float
    top: float
    width: int
    height: int

    @classmethod
    def cover(cls, source_size: tuple[int, int], size: tuple[int, int]) -> Fit:
        (src_w, src_h), (width, height) = source_size, size
        scale = max(width / src_w, height / src_h)
        return cls(scale, (src_w - width / scale) / 2, (src_h - height / scale) / 2, width, height)

    def points(self, xy: np.ndarray) -> np.ndarray:
        """Source (x, y) pixel positions as output positions."""
        return (np.asarray(xy, dtype=np.float64) - (self.left, self.top)) * self.scale

    @property
    def source_box(self) -> tuple[float, float, float, float]:
        """The part of the source that the output shows: (left, top, right, bottom)."""
        return self.left, self.top, self.left + self.width / self.scale, self.top + self.height / self.scale


def fit_image(pixels: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """``pixels`` (RGB uint8) scaled to cover ``size`` = (width, height) and cropped to it, centred."""
    image = Image.fromarray(pixels)
    fit = Fit.cover(image.size, size)
    # Lanczos when shrinking (no aliasing on photos), bicubic when growing.
    method = Image.Resampling.LANCZOS if fit.scale < 1 else Image.Resampling.BICUBIC
    return image.resize(size, method, box=fit.source_box)
