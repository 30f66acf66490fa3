"""SCRFD, ArcFace and the ArcFace crop against insightface's own classes.

IP-Adapter-FaceID was trained on embeddings from insightface's
``FaceAnalysis(name="buffalo_l")`` with ``det_size=(640, 640)``: SCRFD
(``model_zoo/scrfd.py``), ``face_align.norm_crop`` and ``ArcFaceONNX``.
Our backend reimplements them on onnxruntime; here both run on the same
ONNX files and images and must agree:

* random graphs with the published signatures (``layouts``), on which the
  thresholds keep thousands of small boxes, so the letterbox, the decoding
  and NMS all matter;
* the real SCRFD detectors in ../shared/data/models/scrfd (skipped where
  absent) on real photos, one larger than 640 px (the shrinking resize);
* the crop of a face at the photo's edge against ``norm_crop``.

insightface is in the test extra; where it is not installed these skip.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from .layouts import arcface_graph, scrfd_kps_graph

insightface = pytest.importorskip("insightface", reason="insightface (test extra) is not installed")

# insightface's norm_crop calls scikit-image's deprecated SimilarityTransform.estimate.
pytestmark = pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning")

SCRFD_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "models" / "scrfd"
DET_SIZE = (640, 640)
BOX_ATOL = 1e-3  # pixels; float32 arithmetic in the same order on both sides
EMBED_ATOL = 1e-5
RESULTS: dict[str, float] = {}  # largest differences, printed (-s) for docs/BENCHMARKS.md


def _report(key: str, value: float) -> None:
    RESULTS[key] = value
    print(f"\nconformance {key}: largest difference {value:.3g}")


def _theirs_scrfd(path: Path, threshold: float):
    from insightface.model_zoo.scrfd import SCRFD

    model = SCRFD(model_file=str(path))
    model.prepare(-1, input_size=DET_SIZE, det_thresh=threshold, nms_thresh=0.4)
    return model


def _photos() -> dict[str, np.ndarray]:
    """RGB photos: one square, one not, one larger than the detector input, one group."""
    from skimage import data

    astronaut = data.astronaut()
    photos = {
        "astronaut 512x512": astronaut,
        "astronaut 301x400": cv2.resize(astronaut, (400, 301), interpolation=cv2.INTER_AREA),
        "astronaut 1000x750": cv2.resize(astronaut, (750, 1000), interpolation=cv2.INTER_CUBIC),
    }
    group = Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"
    if group.is_file():
        photos["insightface t1.jpg (group)"] = cv2.imread(str(group))[:, :, ::-1].copy()
    return photos


def _compare_detections(name: str, ours: list, det: np.ndarray, kpss: np.ndarray) -> float:
    assert len(ours) == len(det), f"{name}: {len(ours)} faces here, {len(det)} in insightface"
    if not len(det):
        return 0.0
    boxes = np.array([d.box for d in ours])
    scores = np.array([d.score for d in ours])
    points = np.stack([d.landmarks for d in ours])
    worst = float(max(np.abs(boxes - det[:, :4]).max(), np.abs(points - kpss).max()))
    np.testing.assert_allclose(scores, det[:, 4], atol=1e-6, err_msg=name)
    assert worst <= BOX_ATOL, f"{name}: boxes or keypoints differ by {worst} px"
    return worst


@pytest.mark.parametrize("threshold", [0.7, 0.8])
def test_scrfd_equals_insightface_on_a_random_det_10g_layout(tmp_path, threshold):
    from lookalike.faces.backends.insightface import SCRFDDetector

    path = scrfd_kps_graph(tmp_path / "det_10g.onnx")
    ours, theirs = SCRFDDetector(path), _theirs_scrfd(path, threshold)
    worst, total = 0.0, 0
    for name, rgb in _photos().items():
        det, kpss = theirs.detect(np.ascontiguousarray(rgb[:, :, ::-1]), input_size=DET_SIZE)
        mine = ours.detect(rgb, threshold)
        worst = max(worst, _compare_detections(name, mine, det, kpss))
        total += len(mine)
    assert total > 20, "the random graph should keep many boxes, or NMS is not exercised"
    _report(f"scrfd random @{threshold}", worst)


@pytest.mark.shared_data
@pytest.mark.parametrize("model", ["scrfd_500m.onnx", "scrfd_2.5g.onnx"])
def test_scrfd_equals_insightface_on_real_detectors(model):
    from lookalike.faces.backends.insightface import SCRFDDetector

    path = SCRFD_DIR / model
    if not path.is_file():
        pytest.skip(f"real SCRFD test model {path} is absent (it lives in ../shared/data/models/scrfd)")
    ours, theirs = SCRFDDetector(path), _theirs_scrfd(path, 0.5)
    worst, faces = 0.0, 0
    for name, rgb in _photos().items():
        det, kpss = theirs.detect(np.ascontiguousarray(rgb[:, :, ::-1]), input_size=DET_SIZE)
        mine = ours.detect(rgb, 0.5)
        worst = max(worst, _compare_detections(f"{model} {name}", mine, det, kpss))
        faces += len(mine)
    assert faces >= 3
    _report(f"scrfd real {model}", worst)


ASTRONAUT_LANDMARKS = np.array(
    [[204.2, 100.6], [247.0, 103.3], [223.7, 128.8], [201.6, 139.1], [246.0, 141.5]], dtype=np.float32
)
EDGE_CUT = (95, 200)  # rows, columns cut off the astronaut so that her face touches the top-left corner


def _edge_photo_and_landmarks() -> tuple[np.ndarray, np.ndarray]:
    from skimage import data

    rows, cols = EDGE_CUT
    return data.astronaut()[rows:, cols:].copy(), (ASTRONAUT_LANDMARKS - [cols, rows]).astype(np.float32)


def test_the_arcface_crop_of_a_face_at_the_edge_equals_norm_crop():
    from insightface.utils.face_align import norm_crop

    from lookalike.faces.align import align_112

    rgb, points = _edge_photo_and_landmarks()
    theirs = norm_crop(np.ascontiguousarray(rgb[:, :, ::-1]), points)[:, :, ::-1]
    mine = align_112(rgb, points)
    outside = (theirs == 0).all(axis=2).mean()
    assert outside > 0.05, "the crop should run past the photo's edge"
    diff = int(np.abs(mine.astype(np.int16) - theirs.astype(np.int16)).max())
    _report("arcface crop at the edge", float(diff))
    assert diff == 0, f"crops differ by up to {diff} levels"


@pytest.mark.parametrize("mxnet_style", [False, True], ids=["w600k_r50-style", "mxnet-style"])
def test_arcface_equals_insightface(tmp_path, mxnet_style):
    from insightface.app.common import Face
    from insightface.model_zoo.arcface_onnx import ArcFaceONNX
    from skimage import data

    from lookalike.faces.backends.insightface import ArcFaceEncoder

    path = arcface_graph(tmp_path / "w600k_r50.onnx", mxnet_style=mxnet_style)
    ours, theirs = ArcFaceEncoder(path), ArcFaceONNX(model_file=str(path))
    theirs.prepare(-1)
    astronaut = data.astronaut()
    cases = {"centred": (astronaut, ASTRONAUT_LANDMARKS), "at the edge": _edge_photo_and_landmarks()}
    worst = 0.0
    for name, (rgb, points) in cases.items():
        face = Face(bbox=np.zeros(4, dtype=np.float32), kps=points, det_score=1.0)
        theirs.get(np.ascontiguousarray(rgb[:, :, ::-1]), face)
        mine = ours.embed(rgb, [points])[0]
        diff = float(np.abs(mine - face.normed_embedding).max())
        assert diff <= EMBED_ATOL, f"{name}: embeddings differ by {diff}"
        worst = max(worst, diff)
    _report(f"arcface {'mxnet' if mxnet_style else 'w600k'}-style", worst)
