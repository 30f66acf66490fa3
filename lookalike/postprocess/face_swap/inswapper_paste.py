"""Pasting inswapper's 128x128 face back, exactly as insightface's ``INSwapper.get`` does.

inswapper_128 was published with this paste (insightface 0.7.3 to 2.1,
``model_zoo/inswapper.py``), and what users compare our swap with is what it
gives, so it is followed call for call rather than replaced by our GFPGAN-style
paste (``postprocess/paste.py``): the crop's square warped back and
thresholded, eroded by a tenth of the face's size (at least 10 px),
Gaussian-blurred by a twentieth (at least 5 px), a float blend truncated to
uint8. insightface also computes a "difference" mask that it never uses; it
is left out here since it cannot change the result.
tests/conformance/test_inswapper.py checks equality with ``INSwapper.get``.
"""

from __future__ import annotations

import cv2
import numpy as np


def paste_swapped(image: np.ndarray, swapped: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """``image`` (HxWx3 uint8) with ``swapped`` (the model's face, aligned by ``affine``) blended in."""
    height, width = image.shape[:2]
    inverse = cv2.invertAffineTransform(affine)
    size = swapped.shape[0]
    face = cv2.warpAffine(swapped, inverse, (width, height), borderValue=0.0)
    white = np.full((size, size), 255, dtype=np.float32)
    mask = cv2.warpAffine(white, inverse, (width, height), borderValue=0.0)
    mask[mask > 20] = 255
    rows, cols = np.where(mask == 255)
    if not len(rows):  # the crop lies wholly outside the image: nothing to paste
        return image
    mask_size = int(np.sqrt((rows.max() - rows.min()) * (cols.max() - cols.min())))
    k = max(mask_size // 10, 10)
    mask = cv2.erode(mask, np.ones((k, k), np.uint8), iterations=1)
    k = max(mask_size // 20, 5)
    mask = cv2.GaussianBlur(mask, (2 * k + 1, 2 * k + 1), 0)
    mask = (mask / 255)[:, :, None]
    merged = mask * face + (1 - mask) * image.astype(np.float32)
    return merged.astype(np.uint8)
