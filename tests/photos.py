"""Test photos built from real faces that installed packages ship."""

from __future__ import annotations

import cv2
import numpy as np

from tests.conftest import encode


def side_by_side(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    h = min(a.shape[0], b.shape[0])
    return np.hstack([a[:h], b[:h]])


def with_background_face(main: np.ndarray, other: np.ndarray, ratio: float) -> np.ndarray:
    """``main`` with ``other`` shrunk by ``ratio`` pasted into its bottom-right corner."""
    small = cv2.resize(other, None, fx=ratio, fy=ratio, interpolation=cv2.INTER_AREA)
    out = main.copy()
    out[-small.shape[0]:, -small.shape[1]:] = small
    return out


def blurred(image: np.ndarray, sigma: float = 4.0) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigma)


def shrunk(image: np.ndarray, factor: float) -> np.ndarray:
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)


def brighter(image: np.ndarray) -> np.ndarray:
    return np.clip(image.astype(int) * 1.15 + 10, 0, 255).astype(np.uint8)


def jpeg(image: np.ndarray) -> bytes:
    return encode(image, "JPEG", quality=92)


def two_people(astronaut: np.ndarray, hopper: np.ndarray) -> np.ndarray:
    """Two faces of about the same size (Hopper's face is twice the astronaut's in the originals)."""
    return side_by_side(astronaut, shrunk(hopper, 0.5))
