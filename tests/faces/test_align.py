"""The ArcFace crop as insightface makes it: black where the photo ends (issue 13)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lookalike.faces.align import ARCFACE_TEMPLATE_112, LARGE_TEMPLATE, align_112, align_large
from lookalike.faces.quality import sharpness

# A face whose crop runs 30 px past the photo's left edge: the template shifted left.
EDGE_LANDMARKS = (ARCFACE_TEMPLATE_112 - [30.0, 0.0]).astype(np.float32)


@pytest.fixture
def grey() -> np.ndarray:
    return np.full((200, 200, 3), 200, dtype=np.uint8)


def test_outside_the_photo_is_black_as_insightface_norm_crop(grey):
    """insightface's norm_crop: cv2.warpAffine(img, M, (112, 112), borderValue=0.0), BORDER_CONSTANT."""
    crop = align_112(grey, EDGE_LANDMARKS)
    assert (crop[:, :29] == 0).all()  # x < 0 in the photo (a reflected border gave 200 there)
    assert (crop[:, 31:] == 200).all()


def test_the_large_crop_is_black_outside_too(grey):
    large = align_large(grey, EDGE_LANDMARKS)
    assert large.shape == (256, 256, 3)
    assert (large[:, :20] == 0).all()
    # A 112 crop re-cut from the large one (tunes' stored crops) has the same black edge.
    recut = align_112(large, LARGE_TEMPLATE)
    assert (recut[:, :28] == 0).all() and (recut[:, 32:] == 200).all()


def test_reflect_is_kept_for_the_quality_judge(grey):
    reflected = align_112(grey, EDGE_LANDMARKS, border="reflect")
    assert (reflected == 200).all()
    # A flat photo has no sharpness, whatever its border; the black edge alone would have some.
    assert sharpness(reflected) == 0.0
    with pytest.raises(ValueError, match="border"):
        align_112(grey, EDGE_LANDMARKS, border="replicate")


def test_the_matrix_is_scikit_images_as_in_insightface_and_the_crop_is_norm_crops(grey):
    """insightface: M = SimilarityTransform.estimate(lmk, dst).params[:2] on float32 points,
    then cv2.warpAffine(img, M, (112, 112), borderValue=0.0). Our own float64 Umeyama differs
    by ~1e-8, enough to move one of warpAffine's 1/32-pixel samples in some crops."""
    from skimage.transform import SimilarityTransform

    from lookalike.faces.align import estimate_norm, similarity_transform

    points = np.array(
        [[204.2, 100.6], [247.0, 103.3], [223.7, 128.8], [201.6, 139.1], [246.0, 141.5]], dtype=np.float32
    )
    reference = SimilarityTransform()
    with pytest.warns(FutureWarning) if hasattr(SimilarityTransform, "from_estimate") else _no_warning():
        reference.estimate(points, ARCFACE_TEMPLATE_112)
    matrix = estimate_norm(points, ARCFACE_TEMPLATE_112)
    assert matrix.dtype == np.float64 and matrix.shape == (2, 3)
    np.testing.assert_array_equal(matrix, reference.params[:2])
    np.testing.assert_allclose(similarity_transform(points, ARCFACE_TEMPLATE_112), matrix, rtol=1e-5, atol=1e-3)
    crop = align_112(grey, EDGE_LANDMARKS)
    expected = cv2.warpAffine(grey, estimate_norm(EDGE_LANDMARKS, ARCFACE_TEMPLATE_112), (112, 112))
    np.testing.assert_array_equal(crop, expected)
    # Degenerate points (scikit-image gives NaN) still give a finite matrix.
    assert np.isfinite(estimate_norm(np.zeros((5, 2), dtype=np.float32), ARCFACE_TEMPLATE_112)).all()


def _no_warning():
    import contextlib

    return contextlib.nullcontext()


def test_the_analyzer_keeps_insightfaces_crop_and_judges_on_the_reflected_one(grey):
    from lookalike.faces.analyzer import FaceAnalyzer
    from lookalike.faces.quality import QualityThresholds
    from lookalike.faces.types import Detection

    analyzer = FaceAnalyzer(
        detector=None,
        encoder=None,
        limits=QualityThresholds(min_face_px=10, min_sharpness=5.0, max_yaw=0.5, min_detector_score=0.5),
        detection_threshold=0.5,
    )
    face = analyzer.prepare(grey, Detection(box=(0.0, 20.0, 80.0, 120.0), score=0.9, landmarks=EDGE_LANDMARKS))
    np.testing.assert_array_equal(face.crop_112, align_112(grey, EDGE_LANDMARKS))
    assert (face.crop_112[:, :29] == 0).all()
    assert face.quality.sharpness == 0.0 and "too_blurry" in face.quality.problems
