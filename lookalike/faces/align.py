"""Alignment of a face to the ArcFace 112x112 template by its 5 landmarks.

The crops are made as insightface makes them (``utils/face_align.py``,
``norm_crop``): scikit-image's least-squares similarity transform from the
float32 landmarks to the template, then ``cv2.warpAffine`` with bilinear sampling and
its default border, ``BORDER_CONSTANT`` with 0. A face near the photo's edge
therefore gets black where the photo ends, exactly as in the crops the
FaceID adapter's embeddings were computed from; a reflected border (what
this module did before issue 13) changed 18% of such a crop and so the
embedding. ``border="reflect"`` is kept for lookalike's own quality judge
(sharpness), whose thresholds were measured on reflected crops.
"""

from __future__ import annotations

from typing import Literal

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


# FaceID PlusV2's CLIP input: insightface's ``norm_crop(img, kps, image_size=224)``,
# the ArcFace template scaled by 224 / 112 (h94's PlusV2 recipe).
PLUS_CROP_SIZE = 224
PLUS_TEMPLATE = (ARCFACE_TEMPLATE_112 * (PLUS_CROP_SIZE / 112)).astype(np.float32)

Border = Literal["zero", "reflect"]
_BORDERS = {"zero": cv2.BORDER_CONSTANT, "reflect": cv2.BORDER_REFLECT}


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares rotation + uniform scale + translation mapping src to dst (2x3, float32).

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


def estimate_norm(landmarks: np.ndarray, template: np.ndarray) -> np.ndarray:
    """The 2x3 float64 matrix insightface's ``face_align.estimate_norm`` gives.

    insightface fits scikit-image's ``SimilarityTransform`` to its float32
    keypoints and template and warps with the float64 ``params``; scikit-image
    then computes partly in float32, so our own float64 Umeyama differs from
    it by ~1e-8, enough to move some of warpAffine's 1/32-pixel samples and
    a crop pixel by one level. So the same call is made here. Degenerate
    points (scikit-image gives NaN) fall back to ``similarity_transform``.
    """
    from skimage.transform import SimilarityTransform

    src = np.asarray(landmarks, dtype=np.float32)
    dst = np.asarray(template, dtype=np.float32)
    if hasattr(SimilarityTransform, "from_estimate"):  # scikit-image >= 0.26
        params = getattr(SimilarityTransform.from_estimate(src, dst), "params", None)
    else:
        tform = SimilarityTransform()
        params = tform.params if tform.estimate(src, dst) else None
    if params is None or not np.isfinite(params).all():
        return similarity_transform(src, dst).astype(np.float64)
    return np.array(params[:2], dtype=np.float64)


def warp(
    image: np.ndarray, landmarks: np.ndarray, template: np.ndarray, size: int, border: Border = "zero"
) -> np.ndarray:
    """The face warped onto ``template`` in a ``size`` square; outside the photo is black (insightface's fill)."""
    if border not in _BORDERS:
        raise ValueError(f"`border` must be one of {sorted(_BORDERS)}, got {border!r}.")
    matrix = estimate_norm(landmarks, template)
    return cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=_BORDERS[border], borderValue=0
    )


def align_112(image: np.ndarray, landmarks: np.ndarray, border: Border = "zero") -> np.ndarray:
    """The 112x112 ArcFace crop, as insightface's ``norm_crop(img, kps)``."""
    return warp(image, landmarks, ARCFACE_TEMPLATE_112, 112, border)


def align_large(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The same alignment with margin (256 px); black outside the photo, so that a
    112 crop re-cut from it (tunes' stored crops) has insightface's border too."""
    return warp(image, landmarks, LARGE_TEMPLATE, LARGE_CROP_SIZE)


def align_224(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The 224x224 face crop FaceID PlusV2's recipe feeds its CLIP image encoder (``norm_crop(..., 224)``)."""
    return warp(image, landmarks, PLUS_TEMPLATE, PLUS_CROP_SIZE)


def large_to_224(crop_large: np.ndarray) -> np.ndarray:
    """The 224 crop re-cut from a kept 256 ``align_large`` crop (tunes made before the 224 crop was kept).

    Both crops align the same landmarks to templates that differ by a fixed
    scale and offset, so this is the same geometry; the face is upsampled
    1.75x from the 256 crop, so it is softer than a crop from the photo.
    """
    factor = (PLUS_CROP_SIZE / 112) / _LARGE_SCALE
    matrix = np.array([[factor, 0, -_LARGE_OFFSET * factor], [0, factor, -_LARGE_OFFSET * factor]], dtype=np.float64)
    return cv2.warpAffine(
        crop_large, matrix, (PLUS_CROP_SIZE, PLUS_CROP_SIZE), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )
