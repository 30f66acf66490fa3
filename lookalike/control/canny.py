"""Canny edges, as the ControlNet authors make them for their canny model.

lllyasviel's annotator (``annotator/canny``) runs ``cv2.Canny`` on the RGB
image with the demo's default thresholds, low 100 and high 200, and the
model was trained on such maps: white one-pixel edges on black, three equal
channels. Same here, on the image already brought to the output size, so an
edge lands where the output's pixel is. Deterministic: no randomness, no
threads.
"""

from __future__ import annotations

import numpy as np

LOW_THRESHOLD = 100
HIGH_THRESHOLD = 200
NAME = f"canny (OpenCV, thresholds {LOW_THRESHOLD}/{HIGH_THRESHOLD})"


def canny_edges(rgb: np.ndarray, low: int = LOW_THRESHOLD, high: int = HIGH_THRESHOLD) -> np.ndarray:
    """(H, W, 3) uint8 edges (0 or 255) of an (H, W, 3) uint8 RGB image."""
    import cv2

    edges = cv2.Canny(np.ascontiguousarray(rgb), low, high)
    return np.repeat(edges[:, :, None], 3, axis=2)
