"""Presets as data, the plan they make, and the request fields and prompt tokens of LoRA tunes (no model)."""

from __future__ import annotations

import json

import pytest

from lookalike.errors import (
    InvalidFieldError,
    LoraTokenError,
    LoraWeightError,
    TooManyLorasError,
    TrainingPresetError,
    UnknownTrainingPresetError,
    UnsupportedFieldError,
)
from lookalike.prompts.syntax import MAX_LORA_TOKENS, parse_prompt
from lookalike.schemas import TuneCreate
from lookalike.training.plan import make_plan
from lookalike.training.presets import load_presets


def test_built_in_presets_load_and_the_steps_follow_the_photos():
    catalog = load_presets(None)
    assert {"portrait", "fast", "high"} <= set(catalog.ids()) and catalog.get(None).id == "portrait"
    fast = catalog.get("fast")
    assert fast.steps_for(1) == 300 and fast.steps_for(20) == 540 and fast.steps_for(100) == 800


def test_an_operator_preset_is_added_or_replaces_a_built_in_one(tmp_path):
    (tmp_path / "mine.json").write_text(json.dumps({"id": "portrait", "title": "Ours", "steps_per_photo": 5, "learning_rate": 1e-4, "rank": 8}))
    (tmp_path / "quick.json").write_text(json.dumps({"id": "quick", "title": "Q", "steps_per_photo": 1, "learning_rate": 1e-4, "rank": 2}))
    catalog = load_presets(tmp_path, required=True, default="quick")
    assert catalog.get("portrait").title == "Ours" and catalog.get(None).id == "quick"


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("{not json", None),
        (json.dumps({"id": "x", "title": "t", "steps_per_photo": 5, "learning_rate": 1e-4, "rank": 0}), "rank"),
        (json.dumps({"id": "x", "title": "t", "steps_per_photo": 5, "learning_rate": 1e-4, "rank": 4, "colour": 1}), "colour"),
        (json.dumps({"id": "x", "title": "t", "steps_per_photo": 5, "learning_rate": 1e-4, "rank": 4, "prior_preservation": True}), None),
    ],
)
def test_a_bad_preset_file_stops_the_load_naming_file_and_field(tmp_path, content, field):
    (tmp_path / "bad.json").write_text(content)
    with pytest.raises(TrainingPresetError) as caught:
        load_presets(tmp_path)
    assert caught.value.details["file"].endswith("bad.json")
    assert caught.value.field == field


def test_unknown_presets_and_a_missing_named_folder_are_refused(tmp_path):
    catalog = load_presets(None)
    with pytest.raises(UnknownTrainingPresetError) as caught:
        catalog.get("flux-lora-portrait")
    assert "Flux" in caught.value.hint and caught.value.details["valid"] == catalog.ids()
    with pytest.raises(TrainingPresetError):
        load_presets(tmp_path / "absent", required=True)


def test_the_plan_takes_the_request_and_checks_steps_and_token():
    preset = load_presets(None).get("portrait")
    plan = make_plan(preset, base_model="tiny", family="sd15", resolution=64, photos=3, class_name="woman", seed=5)
    assert (plan.steps, plan.token, plan.instance_prompt, plan.class_prompt) == (400, "sks", "sks woman", "woman")
    assert plan.face_crop is True and plan.class_images == 50 and plan.alpha == 16.0
    xl = make_plan(preset, base_model="tiny-xl", family="sdxl", resolution=64, photos=3, class_name="man", seed=5,
                   token="zwx", steps=12, face_crop=False)
    assert (xl.steps, xl.token, xl.face_crop) == (12, "zwx", False)
    # Stored as JSON with the tune and read back by the worker; keys it does not know (a newer plan) are ignored.
    assert type(plan).from_dict({**plan.to_dict(), "newer_field": 1}) == plan
    for bad in ({"steps": 0}, {"token": "two words"}, {"token": "1abc"}):
        with pytest.raises(InvalidFieldError) as caught:
            make_plan(preset, base_model="t", family="sd15", resolution=64, photos=1, class_name="m", seed=1, **bad)
        assert caught.value.field in ("steps", "token")


def test_tune_fields_for_lora_and_their_refusal_on_faceid():
    lora = TuneCreate.parse({"title": "a", "name": "woman", "model_type": "lora", "steps": "30", "preset": "fast", "face_crop": "false"})
    assert (lora.model_type, lora.steps, lora.preset, lora.face_crop) == ("lora", 30, "fast", False)
    for name, value in (("steps", "30"), ("preset", "fast"), ("face_crop", "true")):
        with pytest.raises(UnsupportedFieldError) as caught:
            TuneCreate.parse({"title": "a", "name": "woman", name: value})
        assert caught.value.field == name
    assert TuneCreate.parse({"title": "a", "name": "woman", "face_crop": "false"}).face_crop is False  # a default sent: fine
    with pytest.raises(UnsupportedFieldError):
        TuneCreate.parse({"title": "a", "name": "woman", "model_type": "lora", "training_face_correct": "true"})
    with pytest.raises(InvalidFieldError) as caught:
        TuneCreate.parse({"title": "a", "name": "woman", "model_type": "pti"})
    assert "lora" in caught.value.message


def test_lora_tokens_are_read_beside_faceid_ones_and_bad_ones_named():
    parsed = parse_prompt("<lora:10000001:0.6> portrait of sks woman, <faceid:10000002:1> &lt;lora:10000003&gt;")
    assert [(t.tune_id, t.weight) for t in parsed.loras] == [("10000001", 0.6), ("10000003", 1.0)]
    assert [t.tune_id for t in parsed.tokens] == ["10000002"] and parsed.text == "portrait of sks woman,"
    for text, kind in (
        ("<lora:1:2.5>", LoraWeightError),
        ("<lora:1:-1>", LoraWeightError),
        ("<lora:1:x>", LoraTokenError),
        ("<lora:1:2:3>", LoraTokenError),
        ("<lora:1 woman", LoraTokenError),
        (" ".join(f"<lora:{i}>" for i in range(MAX_LORA_TOKENS + 1)), TooManyLorasError),
    ):
        with pytest.raises(kind):
            parse_prompt(text)


def test_sdxl_takes_one_lora_and_a_lora_keeps_to_its_family():
    from lookalike.catalog.base_models import get_base_model
    from lookalike.errors import LoraBaseMismatchError
    from lookalike.execution.runner import _check_lora_family

    sd15, sdxl = get_base_model("tiny"), get_base_model("tiny-xl")
    _check_lora_family(sd15, ((1, 1.0), (2, 0.5)), ["tiny", "sd-1-5"])  # several combine on SD 1.5
    with pytest.raises(TooManyLorasError):
        _check_lora_family(sdxl, ((1, 1.0), (2, 0.5)), ["tiny-xl", "tiny-xl"])
    with pytest.raises(LoraBaseMismatchError) as caught:
        _check_lora_family(sdxl, ((1, 1.0),), ["tiny"])
    assert caught.value.details["trained_on"] == "tiny"
