"""Putting an aligned face crop back into the image under a soft mask.

The mask is the crop's square warped back, eroded and blurred in proportion
to the face's size (as facexlib does for GFPGAN), so the seam fades over a
few percent of the face and every pixel outside the warped square is left
exactly as it was.
"""

from __future__ import annotations

import cv2
import numpy as np


def soft_mask(affine: np.ndarray, crop_size: int, image_shape: tuple[int, ...], *,
              inner_mask: np.ndarray | None = None) -> np.ndarray:
    """Float32 HxW weights in [0, 1] of the crop back in the image.

    ``inner_mask`` (crop-sized, 0..1) limits the face to a region of the crop,
    e.g. the swapped face's oval.
    """
    height, width = image_shape[:2]
    inverse = cv2.invertAffineTransform(affine)
    square = np.ones((crop_size, crop_size), dtype=np.float32) if inner_mask is None else inner_mask.astype(np.float32)
    mask = cv2.warpAffine(square, inverse, (width, height), flags=cv2.INTER_LINEAR, borderValue=0)
    # The warp's own interpolated rim is never a clean edge; drop it first.
    mask = cv2.erode(mask, np.ones((4, 4), np.uint8))
    area = float(mask.sum())
    if area <= 0:
        return mask
    edge = max(int(np.sqrt(area)) // 20, 1)
    mask = cv2.erode(mask, np.ones((edge * 2, edge * 2), np.uint8))
    blur = edge * 2 + 1
    return np.clip(cv2.GaussianBlur(mask, (blur, blur), 0), 0.0, 1.0)


def paste_back(image: np.ndarray, crop: np.ndarray, affine: np.ndarray, *,
               inner_mask: np.ndarray | None = None) -> np.ndarray:
    """``image`` with ``crop`` (aligned by ``affine``: image -> crop) blended back in."""
    height, width = image.shape[:2]
    inverse = cv2.invertAffineTransform(affine)
    face = cv2.warpAffine(crop, inverse, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mask = soft_mask(affine, crop.shape[0], image.shape, inner_mask=inner_mask)[..., None]
    out = image.astype(np.float32) * (1.0 - mask) + face.astype(np.float32) * mask
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    # Outside the mask, keep the original bytes, not a float round trip of them.
    untouched = mask[..., 0] <= 0
    out[untouched] = image[untouched]
    return out
