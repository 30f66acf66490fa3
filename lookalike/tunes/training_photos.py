"""What a LoRA tune keeps of each photo for its training: the largest square of it, around the face.

DreamBooth trains on square pictures. A centre crop of a portrait photo can
cut the face in half; this one is as large as the photo allows (its shorter
side) and slides along the longer side to hold the face in the middle, or
as near the middle as the photo's edge lets it. It is stored at the
training size, so the upload itself is still not kept (``keep_originals``)
and the training never decodes a full-size photo again.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def face_centred_square(image: np.ndarray, box: tuple[float, float, float, float], size: int) -> np.ndarray:
    """The largest square of ``image`` (RGB) centred on ``box`` (x1, y1, x2, y2) as far as the edges allow, at ``size``."""
    height, width = image.shape[:2]
    side = min(height, width)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    left = int(round(min(max(cx - side / 2, 0), width - side)))
    top = int(round(min(max(cy - side / 2, 0), height - side)))
    square = Image.fromarray(np.ascontiguousarray(image[top : top + side, left : left + side]))
    if side != size:
        method = Image.Resampling.LANCZOS if side > size else Image.Resampling.BICUBIC
        square = square.resize((size, size), method)
    return np.asarray(square.convert("RGB"))
