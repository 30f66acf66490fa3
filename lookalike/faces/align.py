"""Alignment of a face to the ArcFace 112x112 template by its 5 landmarks."""

from __future__ import annotations

import cv2
import numpy as np

# The five reference points of the 112x112 ArcFace crop (insightface's
# `arcface_dst`): eyes, nose tip, mouth corners.
ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)

LARGE_CROP_SIZE = 256
# The large crop keeps the same alignment but the 112 face occupies its middle
# half, so hair, ears and chin are there for encoders that want context.
_LARGE_SCALE = LARGE_CROP_SIZE / 112 * 0.5
_LARGE_OFFSET = (LARGE_CROP_SIZE - 112 * _LARGE_SCALE) / 2
LARGE_TEMPLATE = (ARCFACE_TEMPLATE_112 * _LARGE_SCALE + _LARGE_OFFSET).astype(np.float32)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares rotation + uniform scale + translation mapping src to dst (2x3).

    Umeyama's closed form, without reflection.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    rot = u @ np.diag(d) @ vt
    var_src = (src_c**2).sum() / len(src)
    scale = (s * d).sum() / var_src if var_src > 0 else 1.0
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = dst_mean - scale * rot @ src_mean
    return matrix.astype(np.float32)


def warp(image: np.ndarray, landmarks: np.ndarray, template: np.ndarray, size: int) -> np.ndarray:
    matrix = similarity_transform(landmarks, template)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def align_112(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    return warp(image, landmarks, ARCFACE_TEMPLATE_112, 112)


def align_large(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    return warp(image, landmarks, LARGE_TEMPLATE, LARGE_CROP_SIZE)
