"""Optional speed-ups: DeepCache-style feature reuse and the tiny preview VAE, on the tiny model."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import pixels, unit

from lookalike.config import Settings
from lookalike.errors import InvalidFieldError, ModelUnavailableError
from lookalike.generation.request import GenerationRequest
from lookalike.prompts.options import GenerationOptions


def request(tiny, **options):
    fields = {"steps": 4, "cfg_scale": 1.0, "scheduler": "euler", "seed": 8, **options}
    return GenerationRequest(
        prompt="a photo", base_model=tiny, options=GenerationOptions(**fields), identities=((unit(1), 1.0),)
    )


def test_deepcache_skips_the_deep_blocks_between_full_steps(engine, tiny):
    unet = engine.pipeline(tiny).pipe.unet
    calls = {"mid": 0, "first_down": 0}
    hooks = [
        unet.mid_block.register_forward_hook(lambda *a: calls.__setitem__("mid", calls["mid"] + 1)),
        unet.down_blocks[0].register_forward_hook(lambda *a: calls.__setitem__("first_down", calls["first_down"] + 1)),
    ]
    try:
        plain = engine.generate(request(tiny))
        assert calls == {"mid": 4, "first_down": 4}
        cached = engine.generate(request(tiny, deepcache=2))
        assert calls == {"mid": 4 + 2, "first_down": 4 + 4}  # deep part on steps 0 and 2 only
    finally:
        for hook in hooks:
            hook.remove()
    a, b = pixels(plain.images[0].image), pixels(cached.images[0].image)
    assert 0 < np.abs(a - b).mean() < 40  # an approximation of the same image, not another image
    assert "DeepCache interval: 2" in cached.images[0].parameters
    # The swap is undone: the next plain call is the plain path again.
    assert np.array_equal(a, pixels(engine.generate(request(tiny)).images[0].image))
    assert type(unet.mid_block).__name__ != "_StandIn"


def test_deepcache_interval_one_is_the_plain_path(engine, tiny):
    plain = pixels(engine.generate(request(tiny, steps=2)).images[0].image)
    assert np.array_equal(plain, pixels(engine.generate(request(tiny, steps=2, deepcache=1)).images[0].image))


def test_deepcache_from_settings(engine, tiny):
    from lookalike.generation.engine import Engine

    settings = Settings(data_dir=engine.settings.data_dir, models_dir=engine.settings.models_dir, device="cpu",
                        deepcache_interval=2)
    via_settings = Engine(settings, cache=engine.cache).generate(request(tiny))
    via_option = engine.generate(request(tiny, deepcache=2))
    assert np.array_equal(pixels(via_settings.images[0].image), pixels(via_option.images[0].image))


def test_tiny_vae_missing_offline_names_the_pull_command(tmp_path):
    from lookalike.generation.tiny_vae import load_tiny_vae

    with pytest.raises(ModelUnavailableError) as info:
        load_tiny_vae(tmp_path, "cpu", None)
    assert "lookalike models pull taesd" in info.value.hint


def write_random_taesd(models_dir):
    """A small AutoencoderTiny with the tiny model's 2x latent scale, saved where the pull puts taesd."""
    import torch
    from diffusers import AutoencoderTiny

    from lookalike.generation.tiny_vae import tiny_vae_dir

    torch.manual_seed(0)
    vae = AutoencoderTiny(
        encoder_block_out_channels=(8, 8), decoder_block_out_channels=(8, 8),
        num_encoder_blocks=(1, 1), num_decoder_blocks=(1, 1), latent_channels=4,
    )
    vae.save_pretrained(tiny_vae_dir(models_dir), safe_serialization=True)


def test_tiny_vae_decodes_through_the_catalogs_loading_path(engine, tiny, tmp_path, monkeypatch):
    import dataclasses

    from lookalike.catalog.base_models import TAESD_PACK
    from lookalike.generation.engine import Engine

    # Random weights stand in for the real file, so its published digest cannot match:
    # the pack is the catalog's own, less the digests.
    stand_in = dataclasses.replace(TAESD_PACK, files=tuple(dataclasses.replace(f, sha256=None) for f in TAESD_PACK.files))
    monkeypatch.setattr("lookalike.generation.tiny_vae.TAESD_PACK", stand_in)
    write_random_taesd(tmp_path)
    settings = Settings(data_dir=tmp_path, models_dir=tmp_path, device="cpu")
    preview_engine = Engine(settings, cache=engine.cache)
    try:
        full = engine.generate(request(tiny, steps=2, num_images=2))
        preview = preview_engine.generate(request(tiny, steps=2, num_images=2, tiny_vae=True))
    finally:
        engine.pipeline(tiny).preview_vae = None  # the session's pipeline is shared
    assert [img.image.size for img in preview.images] == [(64, 64), (64, 64)]
    assert preview.seeds == full.seeds
    assert np.abs(pixels(preview.images[0].image) - pixels(full.images[0].image)).mean() > 1.0
    assert "VAE: taesd (preview)" in preview.images[0].parameters


def test_speedup_options_are_validated():
    assert GenerationOptions.from_fields({"deepcache": "3", "tiny_vae": "true"}).deepcache == 3
    assert GenerationOptions.from_fields({"tiny_vae": "false"}).tiny_vae is False
    with pytest.raises(InvalidFieldError):
        GenerationOptions(deepcache=11)
    with pytest.raises(InvalidFieldError):
        GenerationOptions.from_fields({"tiny_vae": "maybe"})
