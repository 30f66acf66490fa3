"""Face swap: the offline warp on real photos with real weights, inswapper's loader on an ONNX stand-in."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lookalike.errors import InvalidFieldError, ModelUnavailableError
from lookalike.faces.compare import SAME_PERSON_THRESHOLDS, cosine_similarity
from lookalike.postprocess.face_swap.inswapper import CROP_SIZE, InswapperFaceSwap, InswapperModel
from lookalike.postprocess.face_swap.offline_warp import WarpFaceSwap
from lookalike.postprocess.models import INSWAPPER_128
from tests.conftest import shared_faces
from tests.postprocess.helpers import as_generated, context_for, main_face, standin_pack, tune_from_photos


def _identity_of(analyzer, image: np.ndarray) -> np.ndarray:
    face = max(analyzer.analyse(image), key=lambda f: f.detection.size)
    return face.embeddings[analyzer.encoder.name]


# -- offline warp ---------------------------------------------------------------


def test_warp_moves_the_identity_toward_the_tune(settings, analyzer, astronaut, hopper):
    tune, identity = tune_from_photos(analyzer, [hopper])
    step = WarpFaceSwap(settings)
    context = context_for(settings, analyzer, tune)
    step.check(context)
    result = step.run(Image.fromarray(astronaut), context)
    assert result.skipped_reason is None and result.details["faces"] == 1
    out = np.asarray(result.image)
    before = cosine_similarity(_identity_of(analyzer, astronaut), identity)
    after = cosine_similarity(_identity_of(analyzer, out), identity)
    threshold = SAME_PERSON_THRESHOLDS[analyzer.encoder.name]
    # Two different women: not the same person before, the same person after.
    assert before < threshold <= after
    # Far from the face (the lower half: suit and helmet) nothing changes.
    assert np.array_equal(out[300:], astronaut[300:])


def test_cartoon_or_faceless_image_is_skipped_with_a_reason(settings, analyzer, cat, hopper):
    tune, _ = tune_from_photos(analyzer, [hopper])
    result = WarpFaceSwap(settings).run(Image.fromarray(cat), context_for(settings, analyzer, tune))
    assert result.skipped_reason is not None and "no face" in result.skipped_reason
    assert np.array_equal(np.asarray(result.image), cat)


def test_low_detector_score_is_skipped_as_not_realistic(settings, analyzer, astronaut, hopper):
    # A threshold no face reaches stands in for a painted face the detector is unsure of.
    tune, _ = tune_from_photos(analyzer, [hopper])
    strict = settings.model_copy(update={"face_swap_min_score": 1.0})
    result = WarpFaceSwap(strict).run(Image.fromarray(astronaut), context_for(strict, analyzer, tune))
    assert result.skipped_reason is not None and "not a realistic face" in result.skipped_reason


def test_swap_without_a_tune_is_refused(settings, analyzer):
    with pytest.raises(InvalidFieldError) as info:
        WarpFaceSwap(settings).check(context_for(settings, analyzer, tune=None))
    assert info.value.field == "face_swap"


@pytest.mark.shared_data
def test_warp_crosses_the_same_person_threshold_on_real_pairs(settings, analyzer):
    """Person A's photo as the "generated" image, person B's tune: B's score rises and mostly crosses."""
    from lookalike.faces.decode import to_rgb8

    root = shared_faces()
    # Every single-person folder (group/ and edge/ are not people); tunes from all
    # of a person's photos, each other person's first photo as the target.
    people = {d.name: [as_generated(to_rgb8(Image.open(p))) for p in sorted(d.iterdir())]
              for d in sorted(root.iterdir()) if d.is_dir() and d.name not in ("group", "edge")}
    faces = {name: [main_face(analyzer, p) for p in photos] for name, photos in people.items()}
    encoder = analyzer.encoder.name
    threshold = SAME_PERSON_THRESHOLDS[encoder]
    crossed, pairs = 0, 0
    for b, photos in people.items():
        tune, identity = tune_from_photos(analyzer, photos, faces[b])
        step = WarpFaceSwap(settings)
        context = context_for(settings, analyzer, tune)
        for a, targets in people.items():
            if a == b:
                continue
            out = np.asarray(step.run(Image.fromarray(targets[0]), context).image)
            before = cosine_similarity(faces[a][0].embeddings[encoder], identity)
            after = cosine_similarity(main_face(analyzer, out).embeddings[encoder], identity)
            assert after > before
            crossed += after >= threshold
            pairs += 1
    assert pairs >= 20
    assert crossed >= pairs * 2 / 3


# -- inswapper --------------------------------------------------------------------

_RED, _BLUE = 0, 1  # which embedding axis each colour is tied to in the stand-in


def _inswapper_standin(path) -> None:
    """A graph with inswapper's signature whose output shows whether emap was applied.

    output = clip(target + colour(source)), colour = source[:, :3] * 0.4 (the first
    three latent values as RGB shifts). emap (the last initializer, as in the
    real file) swaps axes 0 and 2, so a source embedding on axis 0 turns the
    face blue only if the loader multiplied by emap first.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    pick = np.zeros((512, 3), dtype=np.float32)
    pick[0, 0] = pick[1, 1] = pick[2, 2] = 0.4
    emap = np.eye(512, dtype=np.float32)
    emap[[0, 2]] = emap[[2, 0]]
    nodes = [
        helper.make_node("MatMul", ["source", "pick"], ["shift"]),
        helper.make_node("Reshape", ["shift", "shape"], ["shift4"]),
        helper.make_node("Add", ["target", "shift4"], ["raw"]),
        helper.make_node("Clip", ["raw", "lo", "hi"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "inswapper_standin",
        [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 128, 128]),
         helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 128, 128])],
        initializer=[
            numpy_helper.from_array(pick, "pick"),
            numpy_helper.from_array(np.array([1, 3, 1, 1], dtype=np.int64), "shape"),
            numpy_helper.from_array(np.array(0.0, dtype=np.float32), "lo"),
            numpy_helper.from_array(np.array(1.0, dtype=np.float32), "hi"),
            numpy_helper.from_array(emap, "emap"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


class _FakeBuffaloL:
    name, dim = "buffalo_l", 512


def test_inswapper_loader_applies_emap_and_pastes_each_face(settings, analyzer, astronaut):
    pack = standin_pack("inswapper_standin", "postprocess/inswapper_standin.onnx")
    _inswapper_standin(settings.models_dir / pack.files[0].path)
    source = np.zeros(512, dtype=np.float32)
    source[0] = 1.0
    asked = []

    def identity(encoder):
        asked.append(encoder.name)
        return source

    from lookalike.postprocess.base import TuneFaces

    tune = TuneFaces(crops=[np.zeros((256, 256, 3), np.uint8)], identity=identity)
    step = InswapperFaceSwap(settings, pack=pack, source_encoder=lambda s: _FakeBuffaloL())
    context = context_for(settings, analyzer, tune)
    step.check(context)
    result = step.run(Image.fromarray(astronaut), context)
    assert asked == ["buffalo_l"]  # the source identity is asked for in inswapper's encoder space
    out = np.asarray(result.image).astype(int)
    detection = analyzer.detect(astronaut)[0]
    x1, y1, x2, y2 = (int(v) for v in detection.box)
    shift = (out - astronaut)[y1 + 15:y2 - 15, x1 + 15:x2 - 15].reshape(-1, 3).mean(axis=0)
    assert shift[2] > 40 and abs(shift[0]) < 5  # blue: emap moved axis 0 to 2 (RGB order kept)
    assert np.array_equal(out[350:], astronaut[350:])
    assert result.details["faces"] == 1


def test_inswapper_model_rejects_a_graph_without_its_signature(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from lookalike.errors import ModelIntegrityError

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "other",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, CROP_SIZE, CROP_SIZE])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, CROP_SIZE, CROP_SIZE])],
        initializer=[numpy_helper.from_array(np.eye(512, dtype=np.float32), "emap")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "x.onnx"))
    with pytest.raises(ModelIntegrityError):
        InswapperModel.load(tmp_path / "x.onnx")


def test_inswapper_offline_names_the_pull_command(settings, analyzer, hopper):
    tune, _ = tune_from_photos(analyzer, [hopper])
    with pytest.raises(ModelUnavailableError) as info:
        InswapperFaceSwap(settings).check(context_for(settings, analyzer, tune))
    assert f"lookalike models pull {INSWAPPER_128.id}" in info.value.hint
    assert "non-commercial" in INSWAPPER_128.license
