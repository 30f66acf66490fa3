"""The training pictures: each photo's face-centred square, plus (face_crop) its aligned face crop.

Photos are cut when the tune is made (``tunes.training_photos``): the largest
square of the photo around the face, which is what DreamBooth trains on when
the person fills the frame. Astria's ``face_crop`` "augments the training set
with cropped faces"; here those are the aligned crops every tune keeps (the
face in the middle half, hair, ears and chin), so a photo where the person is
small still teaches the face. Horizontal flips are drawn per step by the loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class TrainingImages:
    photos: tuple[np.ndarray, ...]  # RGB uint8, square, any size
    face_crops: tuple[np.ndarray, ...] = ()  # RGB uint8 aligned crops (faces.align.LARGE_TEMPLATE)

    def examples(self, resolution: int, *, face_crop: bool) -> list[np.ndarray]:
        """Every training picture at ``resolution`` x ``resolution``: photos first, then face crops."""
        chosen = list(self.photos) + (list(self.face_crops) if face_crop else [])
        if not chosen:
            raise ValueError("a training needs at least one picture")
        return [resize_square(image, resolution) for image in chosen]


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` centre-cropped to a square and resized to ``size`` (Lanczos down, bicubic up)."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = Image.fromarray(np.ascontiguousarray(image[top : top + side, left : left + side]))
    if side == size:
        return np.asarray(square.convert("RGB"))
    method = Image.Resampling.LANCZOS if side > size else Image.Resampling.BICUBIC
    return np.asarray(square.convert("RGB").resize((size, size), method))


def to_tensor(images: list[np.ndarray]):
    """(N, 3, S, S) float32 in [-1, 1], as the VAE expects."""
    import torch

    stacked = np.stack([np.asarray(image, dtype=np.float32) for image in images]) / 127.5 - 1.0
    return torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous()
