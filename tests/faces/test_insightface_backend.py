"""The insightface buffalo_l backend: SCRFD decoding on real detectors, ArcFace on a tiny stand-in.

buffalo_l's own files cannot be downloaded here. The SCRFD decoder is tested on
real SCRFD models of the same layout from ../shared/data/models/scrfd (skipped
where absent); the ArcFace loader on a small ONNX model of the same signature
that the tests build, loaded through the same code path.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from lookalike.errors import ModelIntegrityError, ModelUnavailableError
from lookalike.faces.backends import insightface as backend
from lookalike.faces.backends.base import FaceDetector, FaceEncoder
from lookalike.faces.backends.insightface import (
    BUFFALO_L,
    ArcFaceEncoder,
    SCRFDDetector,
    load_buffalo_l,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRFD_DIR = REPO_ROOT.parent / "shared" / "data" / "models" / "scrfd"

# The astronaut's face as the real detectors see it (x1, y1, x2, y2), and a
# set of 5 landmarks on it for the encoder tests that run without a detector.
ASTRONAUT_BOX = (180.0, 58.0, 271.0, 179.0)
ASTRONAUT_LANDMARKS = np.array(
    [[204.2, 100.6], [247.0, 103.3], [223.7, 128.8], [201.6, 139.1], [246.0, 141.5]], dtype=np.float32
)


def _scrfd_path(name: str) -> Path:
    path = SCRFD_DIR / name
    if not path.is_file():
        pytest.skip(f"real SCRFD test model {path} is absent (it lives in ../shared/data/models/scrfd)")
    return path


@pytest.fixture(scope="module")
def det_500m() -> SCRFDDetector:
    return SCRFDDetector(_scrfd_path("scrfd_500m.onnx"))


@pytest.fixture(scope="module")
def det_2_5g() -> SCRFDDetector:
    return SCRFDDetector(_scrfd_path("scrfd_2.5g.onnx"))


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


def _assert_plausible_face(det, box_tolerance: float = 20.0, offset=(0.0, 0.0)) -> None:
    ox, oy = offset
    expected = np.array(ASTRONAUT_BOX) + [ox, oy, ox, oy]
    np.testing.assert_allclose(det.box, expected, atol=box_tolerance)
    x1, y1, x2, y2 = det.box
    lm = det.landmarks
    assert lm.shape == (5, 2) and lm.dtype == np.float32
    assert np.all((lm[:, 0] > x1) & (lm[:, 0] < x2) & (lm[:, 1] > y1) & (lm[:, 1] < y2))
    left_eye, right_eye, nose, left_mouth, right_mouth = lm
    assert left_eye[0] < right_eye[0] and left_mouth[0] < right_mouth[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(left_mouth[1], right_mouth[1])


# --- SCRFD on real detectors -------------------------------------------------------------


@pytest.mark.shared_data
def test_scrfd_finds_the_astronaut(det_500m: SCRFDDetector, astronaut: np.ndarray) -> None:
    faces = det_500m.detect(astronaut, 0.5)
    assert len(faces) == 1
    assert 0.5 <= faces[0].score <= 1.0
    _assert_plausible_face(faces[0])
    assert isinstance(det_500m, FaceDetector)


@pytest.mark.shared_data
def test_scrfd_rejects_the_cat(det_500m: SCRFDDetector) -> None:
    assert det_500m.detect(data.chelsea(), 0.5) == []


@pytest.mark.shared_data
def test_scrfd_two_astronauts_side_by_side(det_500m: SCRFDDetector, astronaut: np.ndarray) -> None:
    pair = np.concatenate([astronaut, astronaut], axis=1)
    faces = det_500m.detect(pair, 0.5)
    assert len(faces) == 2
    assert faces[0].score >= faces[1].score
    left, right = sorted(faces, key=lambda f: f.box[0])
    _assert_plausible_face(left)
    _assert_plausible_face(right, offset=(astronaut.shape[1], 0.0))
    np.testing.assert_allclose(np.array(right.box) - [512, 0, 512, 0], left.box, atol=3.0)


@pytest.mark.shared_data
def test_scrfd_maps_coordinates_back_when_upscaled(det_500m: SCRFDDetector, astronaut: np.ndarray) -> None:
    import cv2

    big = cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_LINEAR)
    small_face = det_500m.detect(astronaut, 0.5)[0]
    big_faces = det_500m.detect(big, 0.5)
    assert len(big_faces) == 1
    np.testing.assert_allclose(np.array(big_faces[0].box) / 2, small_face.box, atol=4.0)
    np.testing.assert_allclose(big_faces[0].landmarks / 2, small_face.landmarks, atol=3.0)


@pytest.mark.shared_data
def test_scrfd_non_square_images_pad_correctly(det_500m: SCRFDDetector, astronaut: np.ndarray) -> None:
    reference = det_500m.detect(astronaut, 0.5)[0]
    # Wide: the face stays at the left; tall: the face moves down by 200 px.
    wide = np.zeros((512, 900, 3), dtype=np.uint8)
    wide[:, :512] = astronaut
    tall = np.zeros((900, 512, 3), dtype=np.uint8)
    tall[200:712] = astronaut
    for image, offset in ((wide, (0, 0)), (tall, (0, 200))):
        faces = det_500m.detect(image, 0.5)
        assert len(faces) == 1
        shift = np.array([offset[0], offset[1], offset[0], offset[1]])
        np.testing.assert_allclose(np.array(faces[0].box) - shift, reference.box, atol=6.0)
        np.testing.assert_allclose(faces[0].landmarks - offset, reference.landmarks, atol=4.0)


@pytest.mark.shared_data
def test_scrfd_small_and_tiny_images(det_500m: SCRFDDetector, astronaut: np.ndarray) -> None:
    import cv2

    small = cv2.resize(astronaut, (128, 128), interpolation=cv2.INTER_AREA)
    faces = det_500m.detect(small, 0.5)
    assert len(faces) == 1
    np.testing.assert_allclose(np.array(faces[0].box) * 4, ASTRONAUT_BOX, atol=24.0)
    for shape in ((1, 1, 3), (17, 5, 3), (3, 40, 3)):
        noise = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
        assert det_500m.detect(noise, 0.5) == []


@pytest.mark.shared_data
def test_scrfd_rejects_non_rgb_input(det_500m: SCRFDDetector, astronaut: np.ndarray) -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        det_500m.detect(astronaut[..., 0], 0.5)
    with pytest.raises(ValueError, match="RGB uint8"):
        det_500m.detect(astronaut.astype(np.float32), 0.5)


@pytest.mark.shared_data
def test_two_real_scrfd_models_agree(det_500m: SCRFDDetector, det_2_5g: SCRFDDetector, astronaut: np.ndarray) -> None:
    a = det_500m.detect(astronaut, 0.5)
    b = det_2_5g.detect(astronaut, 0.5)
    assert len(a) == len(b) == 1
    np.testing.assert_allclose(a[0].box, b[0].box, atol=8.0)
    np.testing.assert_allclose(a[0].landmarks, b[0].landmarks, atol=4.0)


def _identity_model(path: Path, n_outputs: int) -> Path:
    """An SCRFD-shaped input with the wrong number of outputs."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "h", "w"])
    outs = [helper.make_tensor_value_info(f"out{i}", TensorProto.FLOAT, [1, 3, "h", "w"]) for i in range(n_outputs)]
    nodes = [helper.make_node("Identity", ["input.1"], [f"out{i}"]) for i in range(n_outputs)]
    graph = helper.make_graph(nodes, "not_scrfd", [x], outs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_scrfd_without_keypoints_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ModelIntegrityError, match="without keypoint"):
        SCRFDDetector(_identity_model(tmp_path / "no_kps.onnx", 6))
    with pytest.raises(ModelIntegrityError, match="9 outputs"):
        SCRFDDetector(_identity_model(tmp_path / "odd.onnx", 4))


# --- preprocessing exactly as insightface's SCRFD.detect (issue 13) ---------------------------


@pytest.fixture
def dynamic_scrfd(tmp_path: Path) -> SCRFDDetector:
    """A detector with a dynamic input (640 square), for its letterbox; its outputs are never decoded."""
    return SCRFDDetector(_identity_model(tmp_path / "scrfd_like.onnx", 9))


@pytest.mark.parametrize(
    ("shape", "resized"),
    [
        ((1000, 750), (640, 480)),  # taller than wide: height fills
        ((750, 1000), (480, 640)),
        # 640 * 301 / 400 = 481.6: insightface cuts to 481 (int), rounding would give 482.
        ((301, 400), (481, 640)),
        ((200, 100), (640, 320)),  # smaller than the input: enlarged
    ],
)
def test_letterbox_is_insightfaces(dynamic_scrfd: SCRFDDetector, shape, resized) -> None:
    """Size cut with int(), cv2.resize's INTER_LINEAR also when shrinking, one factor (the height's) back."""
    import cv2

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    blob, det_scale = dynamic_scrfd._letterbox(image)
    new_h, new_w = resized
    expected = np.zeros((640, 640, 3), dtype=np.uint8)
    expected[:new_h, :new_w] = cv2.resize(image, (new_w, new_h))  # insightface: cv2's default, INTER_LINEAR
    np.testing.assert_array_equal(blob[0].transpose(1, 2, 0), (expected.astype(np.float32) - 127.5) / 128.0)
    assert det_scale == new_h / shape[0]
    if new_h < shape[0]:
        area = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
        assert not np.array_equal(area, expected[:new_h, :new_w]), "INTER_AREA would give the same blob"


def test_nms_counts_whole_pixels_as_insightface() -> None:
    """insightface's SCRFD.nms adds 1 to widths, heights and overlaps.

    Two 10 px boxes 5 px apart: IoU 50/150 = 0.333 with the +1 (suppressed at
    0.3), 36/126 = 0.286 without (both kept).
    """
    boxes = np.array([[0, 0, 9, 9], [5, 0, 14, 9]], dtype=np.float32)
    scores = np.array([0.9, 0.8], dtype=np.float32)
    assert backend._nms(boxes, scores, 0.3).tolist() == [0]
    assert backend._nms(boxes, scores, 0.34).tolist() == [0, 1]


def test_garbage_file_is_an_integrity_error(tmp_path: Path) -> None:
    bad = tmp_path / "det_10g.onnx"
    bad.write_bytes(b"this is not a protobuf")
    with pytest.raises(ModelIntegrityError, match="not a loadable ONNX model") as info:
        SCRFDDetector(bad)
    assert "lookalike models pull buffalo_l" in info.value.hint


# --- ArcFace on a tiny stand-in -------------------------------------------------------------


def _arcface_standin(
    path: Path, *, batch=None, size: int = 112, dim: int = 512, seed: int = 0, mxnet_names: bool = False
) -> Path:
    """A small model with w600k_r50's signature: input.1 [N, 3, 112, 112] -> [N, dim].

    ``mxnet_names`` names its first nodes ``_minus0``/``_mul0`` (identity
    operations), the mark of an MXNet conversion that insightface reads.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    channels, kernel = 8, 8
    cells = (size // kernel) ** 2
    conv_w = rng.standard_normal((channels, 3, kernel, kernel)).astype(np.float32) * 0.1
    proj = rng.standard_normal((channels * cells, dim)).astype(np.float32) * 0.05
    x = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [batch, 3, size, size])
    y = helper.make_tensor_value_info("683", TensorProto.FLOAT, [batch, dim])
    inits = [numpy_helper.from_array(conv_w, "conv_w"), numpy_helper.from_array(proj, "proj")]
    first = "input.1"
    nodes = []
    if mxnet_names:
        inits += [
            numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
            numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"),
        ]
        nodes += [
            helper.make_node("Sub", ["input.1", "zero"], ["s"], name="_minus0"),
            helper.make_node("Mul", ["s", "one"], ["m"], name="_mul0"),
        ]
        first = "m"
    nodes += [
        helper.make_node("Conv", [first, "conv_w"], ["c"], kernel_shape=[kernel, kernel], strides=[kernel, kernel]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"], axis=1),
        helper.make_node("MatMul", ["f", "proj"], ["683"]),
    ]
    graph = helper.make_graph(nodes, "arcface_standin", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> ArcFaceEncoder:
    return ArcFaceEncoder(_arcface_standin(tmp_path_factory.mktemp("arcface") / "w600k_r50.onnx"))


def _cat_landmarks() -> np.ndarray:
    from lookalike.faces.align import ARCFACE_TEMPLATE_112

    return ARCFACE_TEMPLATE_112 * 1.5 + [120.0, 60.0]


def test_arcface_embeds_unit_rows(encoder: ArcFaceEncoder, astronaut: np.ndarray) -> None:
    assert encoder.name == "buffalo_l" and encoder.dim == 512
    assert isinstance(encoder, FaceEncoder)
    out = encoder.embed(astronaut, [ASTRONAUT_LANDMARKS])
    assert out.shape == (1, 512) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(out, encoder.embed(astronaut, [ASTRONAUT_LANDMARKS]))


def test_arcface_batch_equals_singles_and_faces_differ(encoder: ArcFaceEncoder, astronaut: np.ndarray) -> None:
    cat = data.chelsea()
    a = encoder.embed(astronaut, [ASTRONAUT_LANDMARKS])
    b = encoder.embed(cat, [_cat_landmarks()])
    # Two faces in one image: the astronaut and a shifted copy of her landmarks.
    shifted = ASTRONAUT_LANDMARKS + [30.0, 40.0]
    both = encoder.embed(astronaut, [ASTRONAUT_LANDMARKS, shifted])
    assert both.shape == (2, 512)
    np.testing.assert_allclose(both[0], a[0], atol=1e-5)
    np.testing.assert_allclose(both[1], encoder.embed(astronaut, [shifted])[0], atol=1e-5)
    assert float(a[0] @ b[0]) < 0.99
    assert float(both[0] @ both[1]) < 0.99
    assert encoder.embed(astronaut, []).shape == (0, 512)


def test_arcface_fixed_batch_of_one_loops(tmp_path: Path, encoder: ArcFaceEncoder, astronaut: np.ndarray) -> None:
    fixed = ArcFaceEncoder(_arcface_standin(tmp_path / "fixed.onnx", batch=1))
    faces = [ASTRONAUT_LANDMARKS, ASTRONAUT_LANDMARKS + [30.0, 40.0], ASTRONAUT_LANDMARKS - [20.0, 10.0]]
    np.testing.assert_allclose(fixed.embed(astronaut, faces), encoder.embed(astronaut, faces), atol=1e-5)


def test_arcface_rejects_bad_landmarks(encoder: ArcFaceEncoder, astronaut: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"landmarks\[0\]"):
        encoder.embed(astronaut, [np.zeros((68, 2), dtype=np.float32)])


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [({"size": 64}, "3x64x64 input"), ({"batch": 1, "size": 96}, "96 px input")],
)
def test_arcface_rejects_wrong_input_shape(tmp_path: Path, kwargs: dict, why: str) -> None:
    path = _arcface_standin(tmp_path / "wrong.onnx", **kwargs)
    with pytest.raises(ModelIntegrityError, match="not an ArcFace recogniser") as info:
        ArcFaceEncoder(path)
    assert "112" in info.value.message, why
    assert "lookalike models pull buffalo_l" in info.value.hint


def test_arcface_rejects_a_detector(tmp_path: Path) -> None:
    with pytest.raises(ModelIntegrityError, match="not an ArcFace recogniser"):
        ArcFaceEncoder(_identity_model(tmp_path / "det.onnx", 9))


def test_arcface_normalises_as_insightface_reads_the_graph(tmp_path: Path, astronaut: np.ndarray) -> None:
    """insightface's ArcFaceONNX feeds MXNet conversions (Sub/Mul named _minus/_mul first) raw pixels."""
    plain = ArcFaceEncoder(_arcface_standin(tmp_path / "plain.onnx"))
    mxnet = ArcFaceEncoder(_arcface_standin(tmp_path / "mxnet.onnx", mxnet_names=True))
    assert (plain._input_mean, plain._input_std) == (127.5, 127.5)
    assert (mxnet._input_mean, mxnet._input_std) == (0.0, 1.0)
    # Same weights; only the input scaling differs, so the vectors differ.
    a = plain.embed(astronaut, [ASTRONAUT_LANDMARKS])[0]
    b = mxnet.embed(astronaut, [ASTRONAUT_LANDMARKS])[0]
    assert float(a @ b) < 0.999


def test_missing_model_file_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError):
        ArcFaceEncoder(tmp_path / "nope.onnx")


# --- the model pack and its loader -----------------------------------------------------------


def test_pack_describes_the_release_zip() -> None:
    assert BUFFALO_L.id == "buffalo_l"
    assert "non-commercial" in BUFFALO_L.license
    paths = {f.archive_member: f.path for f in BUFFALO_L.files}
    assert paths == {
        "det_10g.onnx": "insightface/buffalo_l/det_10g.onnx",
        "w600k_r50.onnx": "insightface/buffalo_l/w600k_r50.onnx",
    }
    for remote in BUFFALO_L.files:
        assert remote.url == "https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip"
        assert remote.sha256 is None or len(remote.sha256) == 64


def test_load_buffalo_l_on_empty_dir_names_the_pull_command(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError) as info:
        load_buffalo_l(tmp_path)
    assert "lookalike models pull buffalo_l" in info.value.hint


def _place_standins(models_dir: Path) -> None:
    target = models_dir / "insightface" / "buffalo_l"
    target.mkdir(parents=True)
    # Copied into tmp_path only: the shared detectors must never enter the repository.
    shutil.copyfile(_scrfd_path("scrfd_500m.onnx"), target / "det_10g.onnx")
    _arcface_standin(target / "w600k_r50.onnx")


@pytest.mark.shared_data
def test_load_buffalo_l_from_the_pack_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, astronaut: np.ndarray
) -> None:
    _place_standins(tmp_path)
    # The stand-ins cannot match the published digests; drop them to test the layout.
    unpinned = dataclasses.replace(
        BUFFALO_L, files=tuple(dataclasses.replace(f, sha256=None) for f in BUFFALO_L.files)
    )
    monkeypatch.setattr(backend, "BUFFALO_L", unpinned)
    detector, encoder = load_buffalo_l(tmp_path)
    assert isinstance(detector, SCRFDDetector) and isinstance(encoder, ArcFaceEncoder)
    faces = detector.detect(astronaut, 0.5)
    assert len(faces) == 1
    vectors = encoder.embed(astronaut, [f.landmarks for f in faces])
    assert vectors.shape == (1, 512)


@pytest.mark.shared_data
def test_load_buffalo_l_checks_published_digests(tmp_path: Path) -> None:
    _place_standins(tmp_path)
    if any(f.sha256 is None for f in BUFFALO_L.files):
        pytest.skip("no published digest pinned for buffalo_l")
    with pytest.raises(ModelIntegrityError, match="sha256"):
        load_buffalo_l(tmp_path)


def test_importing_the_backend_does_not_import_onnxruntime() -> None:
    code = "import sys, lookalike.faces.backends.insightface; sys.exit('onnxruntime' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr or "onnxruntime was imported at module import time"
