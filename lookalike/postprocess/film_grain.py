"""Film grain (Astria's ``film_grain``): seeded, sized to the picture, strongest in the mid-tones.

- Seeded by the image's own seed, so image i of a prompt run again gets
  the same grain, and each image of a prompt its own.
- Sized to the picture: the grain is white noise blurred by a Gaussian
  whose width grows with the image's short side (``SIGMA_AT_512`` pixels at
  512), so a 2048 px super-resolved image has grain four times as wide in
  pixels and the same look at the same print size. It never gets finer than
  ``MIN_SIGMA`` px, below which a pixel cannot hold it.
- Weighted by luminance, ``4 L (1 - L)`` of the encoded luma: most in the
  mid-tones, fading to nothing at black and white, where film shows none and
  where clipping would shift the mean.
- Slightly chromatic: each channel is ``CHROMA_SHARE`` of its own noise and
  the rest shared, so it reads as film's three dye layers, mostly one grain,
  not as a camera sensor's coloured noise.

Added to the encoded values (what the eye compares), last of all the
finishing steps so nothing resamples it.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from lookalike.postprocess.base import PostprocessContext, StepResult, to_rgb_array

STRENGTH = 0.025  # standard deviation at mid-grey, in encoded units (about 6.4 levels of 255)
SIGMA_AT_512 = 0.8  # px, the Gaussian's width at a short side of 512
MIN_SIGMA = 0.5
CHROMA_SHARE = 0.2  # of each channel's grain variance, its own; the rest shared by all three
# Rec. 709 luma weights, on the encoded values: the weighting follows what looks mid-grey.
LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
# Mixed into the seed so the grain is not the generator's own noise stream.
_STREAM = 0x67726169


def grain_sigma(width: int, height: int) -> float:
    """The grain's Gaussian width in pixels for an image of this size."""
    return max(MIN_SIGMA, SIGMA_AT_512 * min(width, height) / 512)


def grain_field(height: int, width: int, sigma: float, seed: int) -> np.ndarray:
    """(height, width, 3) float32 grain with unit variance per channel, correlated over ``sigma`` px."""
    import cv2

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _STREAM]))
    size = 2 * math.ceil(4 * sigma) + 1
    kernel = cv2.getGaussianKernel(size, sigma, cv2.CV_64F)
    # Blurring white noise by a kernel k leaves it a variance of sum(k2d**2) = sum(k**2)**2.
    gain = 1.0 / float(np.sum(kernel**2))

    def blurred() -> np.ndarray:
        noise = rng.standard_normal((height, width), dtype=np.float32)
        return cv2.GaussianBlur(noise, (size, size), sigma, borderType=cv2.BORDER_REFLECT) * gain

    shared = blurred() * math.sqrt(1 - CHROMA_SHARE)
    out = np.empty((height, width, 3), dtype=np.float32)
    for channel in range(3):
        out[..., channel] = shared + blurred() * math.sqrt(CHROMA_SHARE)
    return out


def add_grain(pixels: np.ndarray, seed: int, strength: float = STRENGTH) -> tuple[np.ndarray, float]:
    """uint8 RGB with grain, and the grain's width in pixels."""
    height, width = pixels.shape[:2]
    sigma = grain_sigma(width, height)
    levels = pixels.astype(np.float32)
    # Channel by channel and in place: a (H*W, 3) @ (3,) product is many times slower on large images.
    luma = (levels[..., 0] * LUMA[0] + levels[..., 1] * LUMA[1] + levels[..., 2] * LUMA[2]) / 255.0
    weight = 4.0 * luma * (1.0 - luma) * (strength * 255.0)
    grain = grain_field(height, width, sigma, seed)
    grain *= weight[..., None]
    grain += levels
    np.clip(grain, 0.0, 255.0, out=grain)
    return np.rint(grain, out=grain).astype(np.uint8), sigma


class FilmGrain:
    name = "film_grain"

    def check(self, context: PostprocessContext) -> None:
        """Nothing to load: numpy and OpenCV are always here."""

    def run(self, image: Image.Image, context: PostprocessContext) -> StepResult:
        grained, sigma = add_grain(to_rgb_array(image), context.seed)
        settings = f"size {sigma:.2g} px, strength {STRENGTH:g}"
        return StepResult(
            Image.fromarray(grained),
            details={"settings": settings, "size_px": round(sigma, 3), "strength": STRENGTH, "seed": context.seed},
        )
