"""The engine end to end on the tiny model (64x64, 2 steps), through the real loading path."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from conftest import pixels, unit
from PIL import Image

from lookalike.catalog.base_models import get_base_model
from lookalike.config import Settings
from lookalike.errors import IdentityEmbeddingError, ModelUnavailableError
from lookalike.generation.request import GenerationRequest
from lookalike.prompts.options import GenerationOptions
from lookalike.prompts.schedulers import SCHEDULER_NAMES

FAST = {"steps": 2, "cfg_scale": 3.0, "scheduler": "euler"}


def request(tiny, prompt="a photo of a person", identities=(), **options):
    return GenerationRequest(
        prompt=prompt,
        base_model=tiny,
        options=GenerationOptions(**{**FAST, **options}),
        identities=tuple(identities),
    )


def first(engine, req):
    return pixels(engine.generate(req).images[0].image)


def test_sizes_count_and_seeds(engine, tiny):
    result = engine.generate(request(tiny, num_images=3, w=72, h=64, seed=7))
    assert len(result.images) == 3
    assert all(img.image.size == (72, 64) and img.image.mode == "RGB" for img in result.images)
    assert result.seeds == [7, 8, 9] and result.seed == 7
    assert (result.width, result.height, result.steps) == (72, 64, 2)


def test_aspect_ratio_uses_the_models_native_size(engine, tiny):
    result = engine.generate(request(tiny, aspect_ratio="3:2", seed=1))
    assert result.images[0].image.size == (96, 64)  # aspect_size("3:2", 64): the short side raised to 64


def test_same_seed_same_pixels_and_other_seeds_differ(engine, tiny):
    emb = unit(1)
    a = first(engine, request(tiny, identities=[(emb, 1.0)], seed=123))
    b = first(engine, request(tiny, identities=[(emb, 1.0)], seed=123))
    c = first(engine, request(tiny, identities=[(emb, 1.0)], seed=124))
    assert np.array_equal(a, b)
    assert np.abs(a - c).mean() > 1.0


def test_batch_image_k_is_seed_plus_k(engine, tiny):
    batch = engine.generate(request(tiny, num_images=2, seed=50))
    single = engine.generate(request(tiny, num_images=1, seed=51))
    diff = np.abs(pixels(batch.images[1].image) - pixels(single.images[0].image))
    # Batched matmuls may round differently from single ones; a different seed
    # would differ by tens of levels.
    assert diff.max() <= 2
    assert np.abs(pixels(batch.images[0].image) - pixels(single.images[0].image)).mean() > 1.0


def test_no_seed_picks_one_and_reports_it(engine, tiny):
    result = engine.generate(request(tiny, seed=None))
    assert isinstance(result.seed, int) and 0 <= result.seed < 2**32
    again = engine.generate(request(tiny, seed=result.seed))
    assert np.array_equal(pixels(result.images[0].image), pixels(again.images[0].image))


def test_weight_zero_equals_no_adapter(engine, tiny):
    no_token = first(engine, request(tiny, seed=5))
    weight_zero = first(engine, request(tiny, identities=[(unit(2), 0.0)], seed=5))
    assert np.array_equal(no_token, weight_zero)
    with_identity = first(engine, request(tiny, identities=[(unit(2), 1.0)], seed=5))
    assert np.abs(with_identity - no_token).mean() > 0.5


def test_no_identity_equals_a_pipeline_that_never_loaded_the_adapter(engine, tiny, gen_settings):
    """Scale 0 and LoRA off must leave exactly the plain SD pipeline."""
    import torch
    from diffusers import StableDiffusionPipeline

    from lookalike.catalog.tiny import tiny_model_dir
    from lookalike.generation.schedulers import make_scheduler

    ours = engine.generate(request(tiny, seed=11))
    loaded = engine.pipeline(tiny)
    bare = StableDiffusionPipeline.from_pretrained(
        str(tiny_model_dir(gen_settings.models_dir)), safety_checker=None, local_files_only=True
    )
    bare.set_progress_bar_config(disable=True)
    bare.scheduler = make_scheduler("euler", loaded.scheduler_config)
    with torch.inference_mode():
        embeds = loaded.compel.build_conditioning_tensor("a photo of a person")
        negative = loaded.compel.build_conditioning_tensor("")
    theirs = bare(
        prompt_embeds=embeds,
        negative_prompt_embeds=negative,
        num_inference_steps=2,
        guidance_scale=3.0,
        height=64,
        width=64,
        generator=[torch.Generator().manual_seed(11)],
    ).images[0]
    assert np.array_equal(pixels(ours.images[0].image), pixels(theirs))


def test_changed_embedding_or_weight_changes_the_image(engine, tiny):
    a = first(engine, request(tiny, identities=[(unit(3), 1.0)], seed=9))
    b = first(engine, request(tiny, identities=[(unit(4), 1.0)], seed=9))
    half = first(engine, request(tiny, identities=[(unit(3), 0.5)], seed=9))
    assert np.abs(a - b).mean() > 0.5
    assert np.abs(a - half).mean() > 0.2


@pytest.mark.parametrize("weight", [0.3, 0.5, 1.0, 1.6])
def test_the_faceid_lora_stays_at_1_and_only_the_adapter_scale_follows_the_weight(engine, tiny, weight):
    """As diffusers' recipe and upstream IP-Adapter: the weight is the IP-Adapter scale, the LoRA stays at 1.0."""
    from lookalike.generation.pipelines import FACEID_ADAPTER_NAME

    engine.generate(request(tiny, identities=[(unit(3), weight)], seed=9))
    loaded = engine.pipeline(tiny)
    assert loaded.active_loras == ((FACEID_ADAPTER_NAME, 1.0),)
    scales = [p.scale for p in loaded.pipe.unet.attn_processors.values() if isinstance(getattr(p, "scale", None), list)]
    assert scales and all(s == [weight] for s in scales)
    engine.generate(request(tiny, seed=9))
    assert loaded.active_loras == ()


def test_blend_of_two_identities_differs_from_each(engine, tiny):
    a = first(engine, request(tiny, identities=[(unit(3), 1.0)], seed=9))
    both = first(engine, request(tiny, identities=[(unit(3), 1.0), (unit(4), 1.0)], seed=9))
    assert np.abs(a - both).mean() > 0.2


@pytest.mark.parametrize("scheduler", SCHEDULER_NAMES)
def test_every_scheduler_runs(engine, tiny, scheduler):
    result = engine.generate(request(tiny, identities=[(unit(1), 1.0)], seed=3, scheduler=scheduler))
    image = pixels(result.images[0].image)
    assert image.shape == (64, 64, 3) and image.std() > 0
    assert result.scheduler == scheduler


def test_cache_reuses_the_pipeline_for_new_tunes_weights_and_schedulers(engine, tiny):
    engine.generate(request(tiny, seed=1))
    loads = engine.cache.loads
    pipe = engine.pipeline(tiny).pipe
    for i, (weight, scheduler) in enumerate([(1.0, "euler"), (0.3, "dpm++2m"), (2.0, "lcm"), (0.0, "ddim")]):
        engine.generate(request(tiny, identities=[(unit(20 + i), weight)], seed=1, scheduler=scheduler))
    assert engine.cache.loads == loads
    assert engine.pipeline(tiny).pipe is pipe
    assert len(engine.cache) == 1


def test_the_adapter_lora_went_in_through_peft(engine, tiny):
    from lookalike.generation.pipelines import FACEID_ADAPTER_NAME

    loaded = engine.pipeline(tiny)
    assert FACEID_ADAPTER_NAME in loaded.loaded_loras
    assert FACEID_ADAPTER_NAME in loaded.pipe.unet.peft_config
    assert loaded.embedding_dim == 128


def test_prompt_past_77_tokens_is_not_cut(engine, tiny):
    import torch

    loaded = engine.pipeline(tiny)
    head = "portrait photo, " * 8  # the tiny tokenizer spends one token per character
    assert len(loaded.pipe.tokenizer(head).input_ids) > 77
    with torch.inference_mode():
        a = loaded.compel.build_conditioning_tensor(head + "red hat")
        b = loaded.compel.build_conditioning_tensor(head + "blue coat")
    assert a.shape[1] > 77
    assert not torch.equal(a, b)
    # The control: a truncating encoder cannot tell the two prompts apart.
    from compel import Compel

    cut = Compel(tokenizer=loaded.pipe.tokenizer, text_encoder=loaded.pipe.text_encoder, truncate_long_prompts=True)
    with torch.inference_mode():
        assert torch.equal(cut.build_conditioning_tensor(head + "red hat"), cut.build_conditioning_tensor(head + "blue coat"))
    # And in pixels: only the words after token 77 differ.
    img_a = first(engine, request(tiny, prompt=head + "red hat", seed=4, negative_prompt="blurry"))
    img_b = first(engine, request(tiny, prompt=head + "blue coat", seed=4, negative_prompt="blurry"))
    assert not np.array_equal(img_a, img_b)


def test_long_negative_prompt_is_padded_to_the_prompt(engine, tiny):
    long_negative = "blurry, low resolution, bad lighting, " * 6
    result = engine.generate(request(tiny, prompt="short", negative_prompt=long_negative, seed=2))
    short_neg = engine.generate(request(tiny, prompt="short", negative_prompt="blurry", seed=2))
    assert np.abs(pixels(result.images[0].image) - pixels(short_neg.images[0].image)).mean() > 0.1


def test_png_carries_a1111_parameters(engine, tiny):
    req = replace(
        request(tiny, identities=[(unit(1), 0.8)], seed=77, negative_prompt="blurry"),
        original_prompt="<faceid:42:0.8> a photo of a person",
    )
    image = engine.generate(req).images[0]
    parameters = Image.open(io.BytesIO(image.png_bytes())).text["parameters"]
    lines = parameters.split("\n")
    assert lines[0] == "<faceid:42:0.8> a photo of a person"
    assert lines[1] == "Negative prompt: blurry"
    assert "Steps: 2, Sampler: Euler, CFG scale: 3, Seed: 77, Size: 64x64, Model: tiny" in lines[2]
    assert "FaceID scale: 0.8" in lines[2]


def test_identity_scores_come_from_the_injected_callable(engine, tiny):
    seen = []

    def score(image):
        seen.append(image.size)
        return 0.25 * len(seen)

    result = engine.generate(request(tiny, num_images=2, seed=1), score_identity=score)
    assert seen == [(64, 64), (64, 64)]
    assert [img.identity_score for img in result.images] == [0.25, 0.5]
    assert engine.generate(request(tiny, seed=1)).images[0].identity_score is None


def test_embedding_from_another_encoder_is_refused(engine, tiny):
    with pytest.raises(IdentityEmbeddingError) as info:
        engine.generate(request(tiny, identities=[(unit(1, dim=512), 1.0)], seed=1))
    assert "128" in info.value.message and "512" in info.value.message


def test_request_from_text_resolves_tokens(engine, tiny):
    table = {"7": unit(7)}
    req = GenerationRequest.from_text(
        "&lt;faceid:7:0.6&gt; a photo", tiny, GenerationOptions(**FAST, seed=1), lookup=table.__getitem__
    )
    assert req.prompt == "a photo" and req.identities[0][1] == 0.6
    assert engine.generate(req).adapter_scale == pytest.approx(0.6)


def test_offline_missing_real_model_names_the_pull_command(tmp_path):
    from lookalike.generation.engine import Engine

    empty = Engine(Settings(data_dir=tmp_path, models_dir=tmp_path / "models", device="cpu"))
    spec = get_base_model("realistic-vision-v5-1")
    with pytest.raises(ModelUnavailableError) as info:
        empty.generate(GenerationRequest(prompt="x", base_model=spec, options=GenerationOptions(seed=1)))
    assert "lookalike models pull realistic-vision-v5-1" in info.value.hint
    assert info.value.code == "model_unavailable"
    assert empty.cache.loads == 0


def test_missing_lcm_lora_names_its_pack(tmp_path, tiny, engine):
    from lookalike.generation.engine import Engine

    # The tiny model with a real model's LCM-LoRA requirement: same loading
    # path, and the LoRA is not on disk.
    tiny_lcm = replace(tiny, id="tiny-lcm", scheduler_loras=get_base_model("sd-1-5").scheduler_loras)
    other = Engine(engine.settings, cache=engine.cache)
    with pytest.raises(ModelUnavailableError) as info:
        other.generate(request(tiny_lcm, seed=1, scheduler="lcm"))
    assert "lookalike models pull lcm-lora-sdv1-5" in info.value.hint


def test_sdxl_without_its_files_names_the_pull(engine):
    with pytest.raises(ModelUnavailableError) as caught:
        engine.generate(GenerationRequest(prompt="x", base_model=get_base_model("sdxl-base-1-0")))
    assert "lookalike models pull sdxl-base-1-0" in caught.value.hint
