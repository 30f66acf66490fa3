"""SDXL through the same engine, FaceID PlusV2 on the tiny models, and the modes: img2img, inpainting, ControlNet."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import pixels, unit
from PIL import Image

from lookalike.catalog.base_models import get_base_model
from lookalike.generation.request import ControlInput, GenerationRequest, Identity, InitImage
from lookalike.prompts.options import GenerationOptions

FAST = {"steps": 2, "cfg_scale": 3.0, "scheduler": "euler"}


@pytest.fixture(scope="module")
def tiny_xl():
    return get_base_model("tiny-xl")


@pytest.fixture(scope="module")
def engine(gen_settings):
    """This module moves between SD1.5, SDXL and their PlusV2 loads: keep them all cached (they are tiny)."""
    from lookalike.generation.engine import Engine

    return Engine(gen_settings.model_copy(update={"max_cached_pipelines": 6}))


def request(spec, prompt="a photo of a person", identities=(), **options):
    return GenerationRequest(
        prompt=prompt, base_model=spec, options=GenerationOptions(**{**FAST, **options}), identities=tuple(identities)
    )


def test_sdxl_sizes_schedulers_and_seeds(engine, tiny_xl):
    result = engine.generate(request(tiny_xl, num_images=2, w=96, h=64, seed=3, scheduler="dpm++2m_karras"))
    assert [img.image.size for img in result.images] == [(96, 64), (96, 64)]
    assert "Model: tiny-xl" in result.images[0].parameters and result.seeds == [3, 4]
    again = engine.generate(request(tiny_xl, num_images=1, w=96, h=64, seed=4, scheduler="dpm++2m_karras"))
    # Image k of a batch is seed+k alone, up to batched-matmul rounding (as test_batching allows).
    assert np.abs(pixels(again.images[0].image) - pixels(result.images[1].image)).max() <= 2
    loaded = engine.pipeline(request(tiny_xl))
    assert type(loaded.pipe).__name__ == "PerImageStableDiffusionXLPipeline"
    assert loaded.embedding_dim == 128 and "faceid_0" in loaded.loaded_loras


def test_sdxl_identity_weight_and_long_prompts(engine, tiny_xl):
    base = pixels(engine.generate(request(tiny_xl, seed=1)).images[0].image)
    person = pixels(engine.generate(request(tiny_xl, identities=[(unit(1), 1.0)], seed=1)).images[0].image)
    assert np.abs(base - person).mean() > 0.5
    long_prompt = "portrait photo, " * 8 + "red hat"  # two CLIP windows with the tiny tokenizer
    from lookalike.generation.families import FAMILIES

    loaded = engine.pipeline(request(tiny_xl))
    with loaded.lock:
        a = FAMILIES["sdxl"].encode(loaded.compel, loaded.pipe, long_prompt, "", True)
        b = FAMILIES["sdxl"].encode(loaded.compel, loaded.pipe, long_prompt.replace("red hat", "blue coat"), "", True)
    assert a.length == 2 * 77 and a.embeds.shape[-1] == 64  # both encoders side by side, no truncation
    assert float((a.embeds[:, 77:] - b.embeds[:, 77:]).abs().max()) > 0  # the words past token 77 are there
    assert engine.generate(request(tiny_xl, long_prompt, seed=1)).images[0].image.size == (64, 64)


def test_sdxl_empty_negative_is_zeros_as_diffusers_does(engine, tiny_xl):
    from lookalike.generation.families import FAMILIES

    loaded = engine.pipeline(request(tiny_xl))
    with loaded.lock:
        conditioning = FAMILIES["sdxl"].encode(loaded.compel, loaded.pipe, "a photo", "", True)
        worded = FAMILIES["sdxl"].encode(loaded.compel, loaded.pipe, "a photo", "ugly", True)
    assert float(conditioning.negative.abs().max()) == 0.0 and float(conditioning.negative_pooled.abs().max()) == 0.0
    assert float(worded.negative.abs().max()) > 0 and conditioning.pooled.shape == (1, 32)


@pytest.mark.parametrize("model", ["tiny", "tiny-xl"])
def test_plusv2_reads_the_face_crop(engine, model):
    spec = get_base_model(model)
    crop = np.random.default_rng(0).integers(0, 256, size=(224, 224, 3), dtype=np.uint8)

    def run(face):
        identity = Identity(unit(2), 1.0, face_crop=face)
        result = engine.generate(request(spec, identities=[identity], seed=5, faceid_adapter="plusv2"))
        return result, pixels(result.images[0].image)

    result, a = run(crop)
    _, b = run(np.ascontiguousarray(crop[:, ::-1]))
    assert np.abs(a - b).mean() > 0.05
    assert f"FaceID adapter: {spec.adapter_for('plusv2').id}" in result.images[0].parameters
    assert "FaceID shortcut: true" in result.images[0].parameters


def test_an_adapter_the_model_lacks_is_refused_by_name(engine):
    from lookalike.errors import InvalidFieldError

    with pytest.raises(InvalidFieldError) as caught:
        get_base_model("sdxl-base-1-0").adapter_for("nope")
    assert caught.value.field == "faceid_adapter" and "plusv2" in caught.value.message


def test_two_people_are_recorded_and_differ_from_the_blend(engine, tiny):
    people = [(unit(1), 1.0), (unit(2), 1.0)]
    regions = engine.generate(request(tiny, identities=people, seed=9, w=96, h=64))
    blend = engine.generate(request(tiny, identities=people, seed=9, w=96, h=64, faceid_layout="blend"))
    assert regions.people == 2 and blend.people == 1
    assert "FaceID layout: columns" in regions.images[0].parameters and "FaceID people: 2" in regions.images[0].parameters
    assert np.abs(pixels(regions.images[0].image) - pixels(blend.images[0].image)).mean() > 0.05


@pytest.mark.parametrize("model", ["tiny", "tiny-xl"])
def test_img2img_strength_zero_returns_the_input_and_the_input_reaches_the_model(engine, model):
    spec = get_base_model(model)
    rng = np.random.default_rng(1)
    start, other = (Image.fromarray(rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)) for _ in range(2))

    def run(strength, image=start):
        req = GenerationRequest(
            prompt="a photo", base_model=spec, options=GenerationOptions(**{**FAST, "steps": 4}, seed=2),
            init=InitImage(image, strength),
        )
        return engine.generate(req).images[0]

    zero = run(0.0)
    assert np.array_equal(np.asarray(zero.image), np.asarray(start))
    half = run(0.5)
    assert np.abs(pixels(half.image) - pixels(run(0.5, other).image)).mean() > 1  # the picture started from counts
    assert np.abs(pixels(half.image) - pixels(run(0.9).image)).mean() > 0.5  # and so does the strength
    assert "Denoising strength: 0.5" in half.parameters


def test_inpainting_keeps_the_unmasked_latents_closer(engine, tiny_xl):
    """The plain UNet (tiny-xl has no inpainting checkpoint): diffusers re-noises the kept part into it each step."""
    start = Image.fromarray(np.full((64, 64, 3), 128, dtype=np.uint8))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))  # redraw the left half only
    req = GenerationRequest(
        prompt="a photo", base_model=tiny_xl, options=GenerationOptions(**{**FAST, "steps": 4}, seed=3),
        init=InitImage(start, 0.9, mask=mask),
    )
    out = pixels(engine.generate(req).images[0].image)
    left, right = np.abs(out[:, :28] - 128).mean(), np.abs(out[:, 36:] - 128).mean()
    assert left > 2 * right  # the VAE's own round trip moves the kept half a little; the masked half a lot
    assert type(engine.pipeline(req).variants[("inpaint", None)]).__name__.startswith("PerImage")


def test_a_model_with_an_inpainting_checkpoint_inpaints_with_it(engine, tiny):
    start = Image.fromarray(np.full((64, 64, 3), 128, dtype=np.uint8))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))

    def run(**options):
        req = GenerationRequest(
            prompt="a photo", base_model=tiny, options=GenerationOptions(**{**FAST, **options}, seed=3),
            init=InitImage(start, 0.8, mask=mask), identities=((unit(1), 1.0),),
        )
        return engine.generate(req).images[0], engine.pipeline(req)

    image, loaded = run()
    assert loaded.inpainting is not None and loaded.inpainting.unet.config.in_channels == 9
    assert "Inpaint UNet: inpainting" in image.parameters
    plusv2, _ = run(faceid_adapter="plusv2")  # PlusV2 lives on the main UNet: inpainted with that one
    assert "Inpaint UNet" not in plusv2.parameters


@pytest.mark.parametrize("model", ["tiny", "tiny-xl"])
def test_controlnet_reads_its_control_image(engine, model):
    spec = get_base_model(model)
    edges = np.zeros((64, 64, 3), dtype=np.uint8)
    edges[:, 20:24] = 255

    def run(control_pixels, init=None):
        req = GenerationRequest(
            prompt="a photo", base_model=spec, options=GenerationOptions(**FAST, seed=4),
            control=ControlInput("canny", Image.fromarray(control_pixels), 1.0), init=init,
        )
        return engine.generate(req).images[0]

    a, b = run(edges), run(255 - edges)
    assert np.abs(pixels(a.image) - pixels(b.image)).mean() > 0.05  # the control image reaches the UNet
    assert "ControlNet: canny, ControlNet scale: 1" in a.parameters
    start = Image.fromarray(np.full((64, 64, 3), 90, dtype=np.uint8))
    assert run(edges, init=InitImage(start, 0.5)).image.size == (64, 64)  # ControlNet img2img
