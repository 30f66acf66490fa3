"""Our ONNX conversion of dlib's face descriptor network against dlib itself, on real face chips."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from lookalike.errors import ModelIntegrityError
from lookalike.faces.backends.dlib import DlibResNetOnnx, convert_dlib_resnet, parse_dlib_network
from lookalike.faces.backends.offline import _face_models_dir

dlib = pytest.importorskip("dlib")

DAT = "dlib_face_recognition_resnet_model_v1.dat"
# Measured max |ours - dlib| over the chips below: 3.0e-7 (descriptor entries are up to ~0.45).
TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def dlib_models():
    root = _face_models_dir()
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(root / "shape_predictor_5_face_landmarks.dat"))
    net = dlib.face_recognition_model_v1(str(root / DAT))
    return detector, predictor, net


def _chip(models, image: np.ndarray) -> np.ndarray:
    detector, predictor, _ = models
    rects = list(detector(image, 1))
    assert rects, "dlib found no face"
    rect = max(rects, key=lambda r: r.area())
    return dlib.get_face_chip(image, predictor(image, rect), size=150, padding=0.25)


@pytest.fixture(scope="module")
def chips(dlib_models, astronaut, hopper) -> list[np.ndarray]:
    out = []
    for image in (astronaut, hopper):
        chip = _chip(dlib_models, image)
        out += [
            chip,
            np.ascontiguousarray(chip[:, ::-1]),  # mirrored
            np.clip(chip.astype(np.int16) + 50, 0, 255).astype(np.uint8),  # brighter, some clipping
            (chip * 0.6).astype(np.uint8),  # darker
        ]
    # A chip made from a mirrored and shrunk photo: different alignment and resampling.
    small = np.ascontiguousarray(astronaut[::2, ::-2])
    out.append(_chip(dlib_models, np.kron(small, np.ones((2, 2, 1), dtype=np.uint8))))
    return out


@pytest.fixture(scope="module")
def dlib_descriptors(dlib_models, chips) -> np.ndarray:
    return np.asarray(dlib_models[2].compute_face_descriptor(chips), dtype=np.float32)


@pytest.fixture(scope="module")
def ours(tmp_path_factory) -> DlibResNetOnnx:
    return DlibResNetOnnx(_face_models_dir() / DAT, tmp_path_factory.mktemp("converted"))


def test_chips_are_real_faces(chips):
    assert len(chips) == 9
    assert all(c.shape == (150, 150, 3) and c.dtype == np.uint8 for c in chips)


def test_descriptors_match_dlib(ours, chips, dlib_descriptors):
    got = ours.describe(chips)
    assert got.shape == (len(chips), 128) and got.dtype == np.float32
    diff = np.abs(got - dlib_descriptors).max()
    print(f"max |onnx - dlib| = {diff:.3g}")
    assert diff < TOLERANCE
    # Raw, like dlib's: not normalised.
    assert not np.allclose(np.linalg.norm(got, axis=1), 1.0)


def test_same_person_closer_than_different_people(ours, chips):
    d = ours.describe(chips)
    astronaut, hopper = d[0], d[4]
    assert np.linalg.norm(astronaut - d[1]) < 0.6  # dlib's own same-person threshold
    assert np.linalg.norm(astronaut - hopper) > 0.6


def test_batch_equals_singles(ours, chips):
    batch = ours.describe(chips)
    singles = np.vstack([ours.describe([c]) for c in chips])
    np.testing.assert_allclose(batch, singles, atol=1e-5, rtol=0)


def test_empty_batch(ours):
    assert ours.describe([]).shape == (0, 128)


def test_wrong_chip_shape_is_refused(ours):
    with pytest.raises(ValueError):
        ours.describe([np.zeros((112, 112, 3), dtype=np.uint8)])


def test_conversion_is_cached_and_reused(tmp_path):
    dat = _face_models_dir() / DAT
    first = DlibResNetOnnx(dat, tmp_path)
    path = first.model_path
    assert first.converted and path.is_file() and path.parent == tmp_path
    assert path.name.startswith("dlib_resnet_v1-") and path.suffix == ".onnx"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary files left
    mtime = path.stat().st_mtime_ns

    second = DlibResNetOnnx(dat, tmp_path)
    assert second.model_path == path
    second.warmup()
    assert not second.converted
    assert path.stat().st_mtime_ns == mtime


def test_damaged_cache_file_is_rebuilt(tmp_path, chips):
    dat = _face_models_dir() / DAT
    path = DlibResNetOnnx(dat, tmp_path).model_path
    path.write_bytes(b"not an onnx model")
    again = DlibResNetOnnx(dat, tmp_path)
    assert again.describe(chips[:1]).shape == (1, 128)
    assert again.converted


def _corrupt(tmp_path, data: bytes, name: str = "bad.dat"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def dat_bytes() -> bytes:
    return (_face_models_dir() / DAT).read_bytes()


def test_unexpected_layer_is_refused(tmp_path, dat_bytes):
    i = dat_bytes.index(b"relu_")
    bad = _corrupt(tmp_path, dat_bytes[:i] + b"relx_" + dat_bytes[i + 5 :])
    with pytest.raises(ModelIntegrityError, match="relx_"):
        convert_dlib_resnet(bad)
    with pytest.raises(ModelIntegrityError):
        DlibResNetOnnx(bad, tmp_path / "cache").describe([np.zeros((150, 150, 3), np.uint8)])
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d[: len(d) // 2],  # truncated
        lambda d: d + b"\x00",  # trailing bytes
        lambda d: b"",  # empty
        lambda d: bytes(64) + d[64:],  # header overwritten
        lambda d: d.replace(b"con_4", b"con_5", 1),  # a layer version we do not know
    ],
    ids=["truncated", "trailing", "empty", "header", "layer-version"],
)
def test_damaged_dat_is_refused(tmp_path, dat_bytes, damage):
    with pytest.raises(ModelIntegrityError):
        convert_dlib_resnet(_corrupt(tmp_path, damage(dat_bytes)))


def test_other_dlib_model_is_refused(tmp_path):
    # A real dlib file of a different kind (the shape predictor) is not mistaken for the network.
    with pytest.raises(ModelIntegrityError):
        convert_dlib_resnet(_face_models_dir() / "shape_predictor_5_face_landmarks.dat")


def test_missing_dat_is_an_integrity_error(tmp_path):
    with pytest.raises(ModelIntegrityError):
        convert_dlib_resnet(tmp_path / "absent.dat")


def test_parser_reads_dlibs_input_normalisation(dat_bytes):
    net = parse_dlib_network(dat_bytes)
    np.testing.assert_allclose(net.means, (122.782, 117.001, 104.298), atol=1e-4)
    assert net.size == (150, 150)


def test_converted_model_is_valid_onnx(dat_bytes, tmp_path):
    onnx = pytest.importorskip("onnx")
    model = onnx.load_from_string(convert_dlib_resnet(_corrupt(tmp_path, dat_bytes, "net.dat")))
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["chips"]
    assert [o.name for o in model.graph.output] == ["descriptors"]


def test_cached_conversion_runs_without_the_onnx_package(monkeypatch, tmp_path, chips, dlib_descriptors):
    # `onnx` builds the graph (a product dependency now); a cached conversion
    # is loaded by onnxruntime alone, so only the first run needs it.
    assert DlibResNetOnnx(_face_models_dir() / DAT, tmp_path).model_path.is_file()
    monkeypatch.setitem(sys.modules, "onnx", None)
    fresh = DlibResNetOnnx(_face_models_dir() / DAT, tmp_path)
    assert np.abs(fresh.describe(chips[:2]) - dlib_descriptors[:2]).max() < TOLERANCE
    assert not fresh.converted


def test_importing_the_backend_does_not_import_onnx():
    code = "import sys, lookalike.faces.backends.dlib, lookalike.faces.backends.offline; sys.exit('onnx' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_unwritable_cache_dir_still_works(tmp_path, chips, dlib_descriptors):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")  # a file where the cache directory should go
    net = DlibResNetOnnx(_face_models_dir() / DAT, blocker / "converted")
    assert np.abs(net.describe(chips[:1]) - dlib_descriptors[:1]).max() < TOLERANCE
