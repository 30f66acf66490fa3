"""The schema family: one definition of each prompt field, parsed the same from forms and JSON."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lookalike.errors import InvalidFieldError
from lookalike.prompts.options import OPTION_FIELDS, GenerationOptions
from lookalike.schemas import PromptCreate, PromptPublic, TuneCreate, Upload


def test_form_strings_and_json_values_parse_to_the_same_prompt():
    form = PromptCreate.parse({"text": "hi", "num_images": "2", "cfg_scale": "3.5", "face_swap": "true", "w": "", "h": ""})
    body = PromptCreate.parse({"text": "hi", "num_images": 2, "cfg_scale": 3.5, "face_swap": True})
    assert form == body and form.sent() == body.sent()
    assert form.options() == GenerationOptions(num_images=2, cfg_scale=3.5, face_swap=True)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"text": "hi", "steps": "1_0"}, "steps"),
        ({"text": "hi", "num_images": "\uff12"}, "num_images"),  # a full-width 2
        ({"text": "hi", "cfg_scale": "1e1"}, "cfg_scale"),
        ({"text": "hi", "cfg_scale": "nan"}, "cfg_scale"),
        ({"text": "hi", "seed": "9" * 5000}, "seed"),
        ({"text": "hi", "face_swap": "maybe"}, "face_swap"),
        ({"text": "   "}, "text"),
        ({}, "text"),
        ({"text": "x" * 4001}, "text"),
    ],
)
def test_bad_values_name_their_field(fields, field):
    with pytest.raises(InvalidFieldError) as info:
        PromptCreate.parse(fields)
    assert info.value.field == field and info.value.code == "invalid_field"
    assert field in info.value.message


def test_the_generation_pass_flags_parse_and_their_strength_needs_its_flag():
    assert PromptCreate.parse({"text": "hi", "hires_fix": "false"}).hires_fix is False
    assert PromptCreate.parse({"text": "hi", "inpaint_faces": "true"}).inpaint_faces is True
    assert PromptCreate.parse({"text": "hi", "hires_fix": "1", "hires_denoising_strength": "0.3"}).hires_denoising_strength == 0.3
    with pytest.raises(InvalidFieldError) as info:
        PromptCreate.parse({"text": "hi", "hires_denoising_strength": "0.3"})
    assert info.value.field == "hires_denoising_strength"


def test_every_option_is_in_the_public_prompt_and_the_request():
    for name in OPTION_FIELDS:
        assert name in PromptCreate.model_fields
        if name != "negative_prompt":
            assert name in PromptPublic.model_fields


def test_every_option_is_a_cli_flag():
    from lookalike.cli.prompt_options import flag_name

    lookalike = str(Path(sys.executable).with_name("lookalike"))
    out = subprocess.run(
        [lookalike, "prompts", "create", "--help"],
        capture_output=True,
        text=True,
        env={"COLUMNS": "200", "PATH": ""},
        check=True,
    ).stdout
    for name in OPTION_FIELDS:
        flag = "--negative" if name == "negative_prompt" else flag_name(name)
        assert flag in out, flag


def test_tune_create_takes_files_and_refuses_text_for_photos():
    photo = Upload(b"jpeg bytes", "a.jpg")
    tune = TuneCreate.parse({"title": " Ada ", "name": "woman", "images": [photo]})
    assert tune.images == [photo] and tune.model_type == "faceid"
    with pytest.raises(InvalidFieldError) as info:
        TuneCreate.parse({"title": "Ada", "name": "woman", "images": ["not a file"]})
    assert info.value.image_index == 0
    with pytest.raises(InvalidFieldError) as info:
        TuneCreate.parse({"title": "Ada", "name": "woman", "model_type": "dreambooth"})
    assert info.value.field == "model_type"
