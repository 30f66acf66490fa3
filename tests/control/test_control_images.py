"""Control images from real photos: canny edges as the ControlNet authors make them, OpenPose skeletons from MediaPipe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.control import Fit, fit_image, make_control_image
from lookalike.control.canny import HIGH_THRESHOLD, LOW_THRESHOLD, canny_edges
from lookalike.control.pose import pose_estimator
from lookalike.control.pose.detector import anchor_centers
from lookalike.control.pose.landmarks import BodyPoints
from lookalike.control.pose.skeleton import COLORS, LIMBS, draw_skeletons, openpose_points


@pytest.fixture(scope="module")
def detector():
    from lookalike.faces.backends.offline import RetinaFaceDetector

    return RetinaFaceDetector(max_side=960)


@pytest.fixture(scope="module")
def estimator():
    return pose_estimator(None)  # the files inside the installed mediapipe wheel


@pytest.fixture(scope="module")
def group() -> np.ndarray:
    """insightface's t1.jpg: six people side by side (the wheel ships it)."""
    import importlib.util

    spec = importlib.util.find_spec("insightface")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "images" / "t1.jpg"
    return np.asarray(Image.open(path).convert("RGB"))


def test_canny_is_the_authors_thresholds_on_the_fitted_image_and_deterministic(astronaut):
    import cv2

    made = make_control_image("canny", astronaut, (96, 64), models_dir=None)
    assert made.image.size == (96, 64) and made.image.mode == "RGB"
    edges = np.asarray(made.image)
    expected = cv2.Canny(np.asarray(fit_image(astronaut, (96, 64))), 100, 200)
    assert (LOW_THRESHOLD, HIGH_THRESHOLD) == (100, 200)
    assert np.array_equal(edges[:, :, 0], expected) and np.array_equal(edges[:, :, 0], edges[:, :, 2])
    assert set(np.unique(edges)) == {0, 255} and 0.02 < (edges[:, :, 0] > 0).mean() < 0.5
    again = make_control_image("canny", astronaut, (96, 64), models_dir=None)
    assert np.array_equal(np.asarray(again.image), edges)
    assert "100/200" in made.preprocessor
    # Higher thresholds keep fewer edges: the values are really the ones used.
    assert (canny_edges(np.asarray(fit_image(astronaut, (96, 64))), 200, 400) > 0).sum() < (edges > 0).sum()


def test_fit_covers_and_crops_the_middle_and_maps_points_the_same_way():
    source = np.zeros((100, 200, 3), dtype=np.uint8)
    source[40:60, 140:160] = 255  # a white square right of centre
    out = np.asarray(fit_image(source, (50, 50)))  # scale 0.5, 50 px of width cropped each side
    fit = Fit.cover((200, 100), (50, 50))
    assert fit.scale == 0.5 and fit.source_box == (50.0, 0.0, 150.0, 100.0)
    x, y = fit.points([150, 50])
    assert out[int(y), int(x) - 2].mean() > 128 and out[25, 10].mean() < 10


def test_other_types_take_the_input_as_given(astronaut):
    made = make_control_image("depth", astronaut, (64, 64), models_dir=None)
    assert made.preprocessor == "the input image as given"
    assert np.array_equal(np.asarray(made.image), np.asarray(fit_image(astronaut, (64, 64))))


def test_detector_anchors_are_mediapipes_2254():
    centers = anchor_centers()
    assert centers.shape == (2254, 2)
    assert np.allclose(centers[0], (0.5 / 28, 0.5 / 28)) and np.allclose(centers[-1], (6.5 / 7, 6.5 / 7))


def _inside(point, box, margin=0.0):
    x1, y1, x2, y2 = box
    return x1 - margin <= point[0] <= x2 + margin and y1 - margin <= point[1] <= y2 + margin


def test_pose_on_the_astronaut_lands_on_her(estimator, detector, astronaut):
    (face,) = detector.detect(astronaut, threshold=0.8)
    people = estimator.people(astronaut)
    assert len(people) == 1
    body = people[0]
    points = openpose_points(body)
    nose, neck, r_shoulder, l_shoulder = points[0], points[1], points[2], points[5]
    assert _inside(nose, face.box)
    assert _inside(points[14], face.box) and _inside(points[15], face.box)  # eyes
    # Shoulders below the face, on either side of the nose; the neck between them.
    assert min(r_shoulder[1], l_shoulder[1]) > face.box[3]
    assert r_shoulder[0] < nose[0] < l_shoulder[0]  # her right is the picture's left
    assert abs(neck[0] - (r_shoulder[0] + l_shoulder[0]) / 2) < 1e-6


def test_pose_finds_several_people_of_a_group_photo(estimator, detector, group):
    """MediaPipe's model is made for one person; in a crowd most are found, each on their own face."""
    faces = detector.detect(group, threshold=0.8)
    noses = [openpose_points(body)[0] for body in estimator.people(group)]
    matched = {next((i for i, f in enumerate(faces) if _inside(n, f.box)), None) for n in noses if n is not None}
    matched.discard(None)
    assert len(matched) >= 3


def test_skeleton_is_drawn_in_openposes_colours_at_the_output_size(astronaut):
    made = make_control_image("pose", astronaut, (256, 384), models_dir=None)
    assert made.image.size == (256, 384) and "1 found" in made.preprocessor
    pixels = np.asarray(made.image)
    assert pixels[0, 0].tolist() == [0, 0, 0] and 0.002 < (pixels.sum(axis=2) > 0).mean() < 0.2
    # The nose joint is drawn in OpenPose's first colour (red), where the fitted photo has it.
    nose = (Fit.cover((512, 512), (256, 384)).points([_nose(astronaut)])[0]).round().astype(int)
    assert pixels[nose[1], nose[0]].tolist() == list(COLORS[0])


def _nose(astronaut) -> tuple[float, float]:
    return openpose_points(pose_estimator(None).people(astronaut)[0])[0]


def test_skeleton_drawing_skips_what_was_not_seen():
    xy = np.zeros((33, 2))
    xy[11], xy[12], xy[0] = (60, 50), (20, 50), (40, 20)  # left and right shoulder, nose
    visibility = np.zeros(33)
    visibility[[0, 11, 12]] = 0.9
    points = openpose_points(BodyPoints(xy=xy, visibility=visibility, presence=1.0))
    assert points[1] == (40.0, 50.0) and points[2] == (20.0, 50.0) and points[5] == (60.0, 50.0)
    assert sum(p is not None for p in points) == 4
    canvas = draw_skeletons([points], (80, 80))
    # Neck-right shoulder is limb 0 (red at 60%), neck-nose limb 12 (blue at 60%); nothing else.
    assert canvas[50, 30].tolist() == [int(c * 0.6) for c in COLORS[LIMBS.index((1, 2))]]
    assert canvas[35, 40].tolist() == [int(c * 0.6) for c in COLORS[LIMBS.index((1, 0))]]
    assert canvas[70, 40].tolist() == [0, 0, 0]
