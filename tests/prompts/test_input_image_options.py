"""The input-image fields' rules: ranges, the ControlNet type, what needs an image, the defaults an image prompt runs with."""

from __future__ import annotations

import base64

import pytest

from lookalike.errors import InputImageRequiredError, InvalidFieldError, UnsupportedFieldError
from lookalike.prompts.input_image import require_input_image, sized_like_image, with_image_defaults
from lookalike.prompts.options import GenerationOptions
from lookalike.schemas import PromptCreate, Upload


@pytest.mark.parametrize(
    ("fields", "error", "field"),
    [
        ({"denoising_strength": "1.5"}, InvalidFieldError, "denoising_strength"),
        ({"controlnet_conditioning_scale": -0.1}, InvalidFieldError, "controlnet_conditioning_scale"),
        ({"controlnet": "segroom"}, UnsupportedFieldError, "controlnet"),
        ({"controlnet": "scribble"}, InvalidFieldError, "controlnet"),
    ],
)
def test_bad_values_name_the_field(fields, error, field):
    with pytest.raises(error) as caught:
        GenerationOptions(**fields)
    assert caught.value.field == field
    if "controlnet" in fields:
        assert "canny" in caught.value.message and caught.value.details["offered"]


def test_not_offered_types_say_why():
    with pytest.raises(UnsupportedFieldError) as caught:
        GenerationOptions(controlnet="ipadapter")
    assert "not a ControlNet" in caught.value.message and "pose" in caught.value.hint
    assert GenerationOptions(controlnet=" Pose ").controlnet == "pose"


@pytest.mark.parametrize("name", ["denoising_strength", "controlnet", "controlnet_conditioning_scale"])
def test_image_fields_without_an_image_are_refused(name):
    value = {"denoising_strength": 0.5, "controlnet": "canny", "controlnet_conditioning_scale": 0.5}[name]
    with pytest.raises(InputImageRequiredError) as caught:
        PromptCreate.parse({"text": "x", name: value})
    assert caught.value.field == name and "needs an input image" in caught.value.message


def test_astrias_blank_and_false_defaults_pass_without_an_image():
    """Astria's own examples send controlnet=, denoising_strength= and controlnet_txt2img=false with no image."""
    prompt = PromptCreate.parse({"text": "x", "controlnet": "", "denoising_strength": "", "controlnet_txt2img": "false"})
    assert prompt.input_source() is None and prompt.controlnet is None


def test_settings_that_nothing_would_use_are_refused():
    image = {"text": "x", "input_image_url": "https://example.com/a.png"}
    with pytest.raises(InvalidFieldError, match="set controlnet"):
        PromptCreate.parse({**image, "controlnet_conditioning_scale": 0.5})
    with pytest.raises(InvalidFieldError, match="set controlnet"):
        PromptCreate.parse({**image, "controlnet_txt2img": True})
    with pytest.raises(InvalidFieldError, match="nothing to act on"):
        PromptCreate.parse({**image, "controlnet": "canny", "controlnet_txt2img": True, "denoising_strength": 0.4})


def test_one_input_image_at_most_and_the_data_url_is_read():
    png = b"\x89PNG\r\n\x1a\nrest"
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    with pytest.raises(InvalidFieldError) as caught:
        PromptCreate.parse({"text": "x", "input_image": Upload(png, "a.png"), "input_image_base64": data_url})
    assert caught.value.details["fields"] == ["input_image", "input_image_base64"]
    assert "input_image and input_image_base64" in caught.value.message
    source = PromptCreate.parse({"text": "x", "input_image_base64": data_url}).input_source()
    assert source.data == png
    same = PromptCreate.parse({"text": "x", "input_image": Upload(png, "b.png")})
    assert same.fingerprint() == PromptCreate.parse({"text": "x", "input_image_base64": data_url}).fingerprint()
    for bad in ("iVBORw0KGgo", "data:text/plain;base64,aGk=", "data:image/png,abc", "data:image/png;base64,@@@"):
        with pytest.raises(InvalidFieldError) as caught:
            PromptCreate.parse({"text": "x", "input_image_base64": bad})
        assert caught.value.field == "input_image_base64"


def test_an_image_prompt_runs_with_astrias_defaults_and_the_images_shape():
    options = with_image_defaults(GenerationOptions(controlnet="pose"))
    assert (options.denoising_strength, options.controlnet_conditioning_scale, options.controlnet_txt2img) == (0.8, 1.0, False)
    txt2img = with_image_defaults(GenerationOptions(controlnet="pose", controlnet_txt2img=True))
    assert txt2img.denoising_strength is None and txt2img.controlnet_txt2img is True
    assert with_image_defaults(GenerationOptions()).denoising_strength == 0.8
    portrait = sized_like_image(GenerationOptions(), (600, 900), 512)
    assert (portrait.w, portrait.h) == (416, 624) and portrait.w % 8 == 0
    asked = GenerationOptions(w=512, h=512)
    assert sized_like_image(asked, (600, 900), 512) is asked
    resolved = options.with_seed(1).resolved(64)
    assert resolved["controlnet"] == "pose" and resolved["denoising_strength"] == 0.8
    require_input_image(options, has_image=True)
