"""The generation passes after the first: hires_fix and inpaint_faces, on the tiny model with the real engine."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lookalike.catalog.base_models import get_base_model
from lookalike.execution.hires_fix import apply_hires_fix, first_pass_request, first_pass_size
from lookalike.execution.inpaint_faces import apply_inpaint_faces, face_crops, feathered_mask, person_for
from lookalike.generation.identity import plan_faces
from lookalike.generation.request import GeneratedImage, GenerationRequest, GenerationResult, Identity
from lookalike.prompts.options import GenerationOptions

FAST = {"steps": 2, "cfg_scale": 3.0, "scheduler": "euler"}


def unit(seed: int, dim: int = 128) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from lookalike.config import Settings
    from lookalike.generation.engine import Engine

    root = tmp_path_factory.mktemp("passes")
    return Engine(Settings(data_dir=root, models_dir=root / "models", device="cpu"))


@pytest.mark.parametrize(
    "target, native, first",
    [((1024, 1024), 512, (512, 512)), ((512, 512), 512, (256, 256)), ((1536, 1024), 1024, (1248, 832)), ((128, 96), 64, (72, 64))],
)
def test_the_first_pass_is_at_the_models_size_with_the_targets_shape(target, native, first):
    assert first_pass_size(target, native) == first


def test_hires_fix_makes_the_target_size_from_a_smaller_first_pass(engine):
    tiny = get_base_model("tiny")
    request = GenerationRequest(
        prompt="a photo", base_model=tiny,
        options=GenerationOptions(**FAST, seed=11, w=128, h=128, hires_fix=True, hires_denoising_strength=0.5),
        identities=((unit(1), 1.0),),
    )
    first = first_pass_request(request)
    assert first.options.size_for(64) == (64, 64)

    def run():
        result = engine.generate(first)
        assert result.images[0].image.size == (64, 64)
        apply_hires_fix(engine, request, result)
        return result

    result, again = run(), run()
    image = result.images[0]
    assert image.image.size == (128, 128) and (result.width, result.height) == (128, 128)
    assert "Size: 64x64" in image.parameters and "Hires upscale: 2, Hires resize: 128x128" in image.parameters
    assert "Hires denoising strength: 0.5" in image.parameters
    assert np.array_equal(np.asarray(image.image), np.asarray(again.images[0].image))  # seeded end to end
    plain = Image.fromarray(np.asarray(engine.generate(first).images[0].image)).resize((128, 128), Image.Resampling.LANCZOS)
    assert np.abs(np.asarray(plain, dtype=np.int16) - np.asarray(image.image, dtype=np.int16)).mean() > 1  # redrawn


@pytest.fixture(scope="module")
def analyzer():
    from lookalike.config import Settings
    from lookalike.faces.backends.registry import build_analyzer

    return build_analyzer(Settings())


def test_inpaint_faces_changes_only_the_feathered_face_masks(engine, analyzer, astronaut):
    tiny = get_base_model("tiny")
    picture = Image.fromarray(astronaut).resize((256, 256), Image.Resampling.LANCZOS)
    before = np.asarray(picture).copy()
    result = GenerationResult(
        images=[GeneratedImage(image=picture, seed=3, parameters="a photo\nSteps: 2")], seed=3, width=256, height=256,
        steps=2, cfg_scale=3.0, scheduler="euler", base_model_id="tiny", adapter_scale=1.0,
    )
    request = GenerationRequest(
        prompt="a photo of an astronaut", base_model=tiny, options=GenerationOptions(**FAST, seed=3),
        identities=(Identity(unit(4), 1.0, tune_id=7),),
    )
    records = apply_inpaint_faces(engine, analyzer, request, result, background_ratio=0.5, strength=0.6)
    after = np.asarray(result.images[0].image)
    assert len(records[0]) == 1 and records[0][0]["person"] == 7
    crops = face_crops(analyzer.detect(before), 256, 256, 0.5)
    touched = np.zeros((256, 256), dtype=bool)
    for crop in crops:
        left, top, right, bottom = crop.box
        touched[top:bottom, left:right] |= feathered_mask(crop) > 0
    changed = np.any(after != before, axis=-1)
    assert not changed[~touched].any()  # outside the feathered masks: the very same pixels
    inside = np.abs(after.astype(np.int16) - before.astype(np.int16))[touched].mean()
    assert inside > 5  # the face was redrawn (by random weights: noise, but redrawn)
    assert touched.mean() < 0.2 and "Inpaint faces: 1" in result.images[0].parameters
    FRACTIONS.update(outside_changed=float(changed[~touched].mean()), inside_mean_change=float(inside))


FRACTIONS: dict[str, float] = {}


def test_each_face_gets_the_person_whose_region_it_is_in():
    left, right = Identity(unit(1), 1.0, tune_id=1), Identity(unit(2), 0.8, tune_id=2)
    plan = plan_faces([left, right], None)
    assert person_for((0.2, 0.5), (left, right), plan)[0].tune_id == 1
    assert person_for((0.8, 0.5), (left, right), plan)[0].tune_id == 2
    assert person_for((0.5, 0.5), (left,), None) == (left,)  # one person: everyone's face is theirs
    assert person_for((0.5, 0.5), (), None) == ()


def test_feathered_mask_is_one_on_the_face_and_zero_at_the_crop_edge():
    from lookalike.execution.inpaint_faces import FaceCrop

    crop = FaceCrop(box=(0, 0, 100, 100), face=(25.0, 25.0, 75.0, 75.0), center=(0.5, 0.5))
    mask = feathered_mask(crop)
    assert mask.shape == (100, 100) and mask[50, 50] == 1.0 and mask[0, 0] == 0.0 and mask[50, 0] == 0.0
    assert 0 < mask[50, 20] < 1  # the feather
