"""The offline backend on real photos with its real shipped weights."""

import numpy as np
import pytest

from lookalike.faces.align import ARCFACE_TEMPLATE_112, align_112, similarity_transform
from lookalike.faces.backends.offline import DlibResNetEncoder, RetinaFaceDetector
from lookalike.faces.compare import SAME_PERSON_THRESHOLDS, compare


@pytest.fixture(scope="module")
def detector():
    return RetinaFaceDetector(max_side=960)


@pytest.fixture(scope="module")
def encoder():
    return DlibResNetEncoder()


def test_astronaut_has_one_face_with_sensible_landmarks(detector, astronaut):
    faces = detector.detect(astronaut, threshold=0.8)
    assert len(faces) == 1
    face = faces[0]
    x1, y1, x2, y2 = face.box
    assert 150 < x1 < 200 and 40 < y1 < 110 and 250 < x2 < 300 and 150 < y2 < 200
    left_eye, right_eye, nose, mouth_l, mouth_r = face.landmarks
    assert left_eye[0] < right_eye[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_l[1], mouth_r[1])
    assert all(x1 <= p[0] <= x2 and y1 <= p[1] <= y2 for p in face.landmarks)
    assert face.score > 0.95


def test_cat_has_no_human_face(detector, cat):
    assert detector.detect(cat, threshold=0.5) == []


def test_two_people_are_two_faces(detector, astronaut, hopper):
    h = min(astronaut.shape[0], hopper.shape[0])
    both = np.hstack([astronaut[:h], hopper[:h]])
    assert len(detector.detect(both, threshold=0.8)) == 2


def test_downscaled_detection_maps_back_to_full_resolution(astronaut):
    big = np.kron(astronaut, np.ones((3, 3, 1), dtype=np.uint8))  # 1536 px, detected at 960
    small_faces = RetinaFaceDetector(max_side=960).detect(astronaut, 0.8)
    big_faces = RetinaFaceDetector(max_side=960).detect(big, 0.8)
    assert len(big_faces) == 1
    np.testing.assert_allclose(np.array(big_faces[0].box) / 3, small_faces[0].box, atol=4)
    np.testing.assert_allclose(big_faces[0].landmarks / 3, small_faces[0].landmarks, atol=5)


def test_similarity_transform_recovers_a_known_pose():
    angle, scale, shift = np.deg2rad(20), 2.5, np.array([130.0, 40.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = ARCFACE_TEMPLATE_112 @ (scale * rot).T + shift
    matrix = similarity_transform(landmarks, ARCFACE_TEMPLATE_112)
    mapped = np.c_[landmarks, np.ones(5)] @ matrix.T
    assert np.abs(mapped - ARCFACE_TEMPLATE_112).max() < 1e-3


def test_alignment_puts_landmarks_on_the_template(detector, astronaut):
    face = detector.detect(astronaut, 0.8)[0]
    matrix = similarity_transform(face.landmarks, ARCFACE_TEMPLATE_112)
    mapped = np.c_[face.landmarks, np.ones(5)] @ matrix.T
    # A real face differs from the mean template by a few pixels, no more.
    assert np.abs(mapped - ARCFACE_TEMPLATE_112).max() < 8
    crop = align_112(astronaut, face.landmarks)
    assert crop.shape == (112, 112, 3)


def test_embeddings_are_unit_length_and_tell_people_apart(detector, encoder, astronaut, hopper):
    a = detector.detect(astronaut, 0.8)[0]
    h = detector.detect(hopper, 0.8)[0]
    flipped = astronaut[:, ::-1].copy()
    f = detector.detect(flipped, 0.8)[0]
    va = encoder.embed(astronaut, [a.landmarks])[0]
    vh = encoder.embed(hopper, [h.landmarks])[0]
    vf = encoder.embed(flipped, [f.landmarks])[0]
    assert va.shape == (128,) and abs(np.linalg.norm(va) - 1) < 1e-5
    assert compare(va, vf, encoder.name).same_person
    assert not compare(va, vh, encoder.name).same_person
    assert compare(va, vf, encoder.name).similarity > compare(va, vh, encoder.name).similarity


def test_encoder_batch_equals_singles(detector, encoder, astronaut):
    face = detector.detect(astronaut, 0.8)[0]
    one = encoder.embed(astronaut, [face.landmarks])
    two = encoder.embed(astronaut, [face.landmarks, face.landmarks])
    np.testing.assert_allclose(two[0], one[0], atol=1e-6)
    np.testing.assert_allclose(two[1], one[0], atol=1e-6)
    assert encoder.embed(astronaut, []).shape == (0, 128)


def test_threshold_table_names_every_encoder():
    assert set(SAME_PERSON_THRESHOLDS) >= {"dlib_resnet_v1", "buffalo_l"}
