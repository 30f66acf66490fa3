"""Users' LoRA files in the engine, against diffusers' own LoRA loading on the same pipeline.

The LoRA is made the way diffusers' training examples save one
(``get_peft_model_state_dict`` of a PEFT ``LoraConfig`` on the UNet's attention
projections, ``save_lora_weights``); the reference is diffusers' documented
inference: ``load_lora_weights(folder, weight_name=..., adapter_name=...)``
and ``set_adapters([...], adapter_weights=[w])``.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import pixels, unit

from lookalike.generation.request import GenerationRequest, LoraWeights
from lookalike.prompts.options import GenerationOptions

FAST = {"steps": 2, "cfg_scale": 3.0, "scheduler": "euler", "seed": 8}


def write_lora(unet_dir, folder, *, seed: int, rank: int = 4):
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = UNet2DConditionModel.from_pretrained(str(unet_dir))
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in unet.named_parameters():
            if "lora_" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    folder.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(str(folder), unet_lora_layers=get_peft_model_state_dict(unet))
    return folder / "pytorch_lora_weights.safetensors"


@pytest.fixture(scope="module")
def loras(gen_settings, tmp_path_factory):
    from lookalike.catalog.tiny import ensure_tiny_model

    unet_dir = ensure_tiny_model(gen_settings.models_dir) / "unet"
    root = tmp_path_factory.mktemp("user-loras")
    return [write_lora(unet_dir, root / f"tune_{i}", seed=i) for i in (1, 2)]


def run(engine, tiny, loras=(), identities=()):
    return pixels(
        engine.generate(
            GenerationRequest(
                prompt="ohwx person", base_model=tiny, options=GenerationOptions(**FAST),
                identities=tuple(identities), loras=tuple(loras),
            )
        ).images[0].image
    )


def test_a_lora_equals_diffusers_loading_it(engine, tiny, loras, gen_settings):
    import torch
    from diffusers import StableDiffusionPipeline

    from lookalike.catalog.tiny import ensure_tiny_model

    ours = run(engine, tiny, [LoraWeights("tune_1", str(loras[0]), 0.7)])
    reference = StableDiffusionPipeline.from_pretrained(
        str(ensure_tiny_model(gen_settings.models_dir)), safety_checker=None, requires_safety_checker=False
    )
    reference.set_progress_bar_config(disable=True)
    reference.scheduler = engine.pipeline(tiny).pipe.scheduler.__class__.from_config(reference.scheduler.config)
    reference.load_lora_weights(str(loras[0].parent), weight_name=loras[0].name, adapter_name="tune_1")
    reference.set_adapters(["tune_1"], adapter_weights=[0.7])
    loaded = engine.pipeline(tiny)
    with torch.inference_mode():
        embeds = loaded.compel.build_conditioning_tensor("ohwx person")
        negative = loaded.compel.build_conditioning_tensor("")
        theirs = reference(
            prompt_embeds=embeds, negative_prompt_embeds=negative, num_inference_steps=2, guidance_scale=3.0,
            height=64, width=64, generator=torch.Generator("cpu").manual_seed(8),
        ).images[0]
    # The engine's pipeline also holds the FaceID adapter, idle without an identity (scale 0, its LoRA off).
    assert np.abs(pixels(theirs) - ours).max() <= 1


def test_weights_files_and_the_plain_model(engine, tiny, loras):
    plain = run(engine, tiny)
    one = run(engine, tiny, [LoraWeights("tune_1", str(loras[0]), 1.0)])
    half = run(engine, tiny, [LoraWeights("tune_1", str(loras[0]), 0.5)])
    both = run(engine, tiny, [LoraWeights("tune_1", str(loras[0]), 1.0), LoraWeights("tune_2", str(loras[1]), 1.0)])
    for a, b in [(plain, one), (one, half), (one, both)]:
        assert np.abs(a - b).mean() > 0.05
    assert np.array_equal(run(engine, tiny), plain)  # unloading nothing, switching off everything
    with_face = run(engine, tiny, [LoraWeights("tune_1", str(loras[0]), 1.0)], identities=[(unit(3), 1.0)])
    assert np.abs(with_face - one).mean() > 0.05  # FaceID and a LoRA together


def test_only_so_many_stay_loaded_and_a_retrained_file_replaces_the_old(gen_settings, tiny, loras):
    from lookalike.generation.engine import Engine

    engine = Engine(gen_settings.model_copy(update={"max_loaded_loras": 1}))
    first = run(engine, tiny, [LoraWeights("tune_1", str(loras[0]), 1.0)])
    run(engine, tiny, [LoraWeights("tune_2", str(loras[1]), 1.0)])
    loaded = engine.pipeline(tiny)
    assert list(loaded.user_loras) == ["tune_2"] and "tune_1" not in loaded.pipe.unet.peft_config
    assert np.array_equal(run(engine, tiny, [LoraWeights("tune_1", str(loras[0]), 1.0)]), first)
    # The same adapter name with another file (the tune was trained again): the new weights are used.
    swapped = run(engine, tiny, [LoraWeights("tune_1", str(loras[1]), 1.0)])
    assert np.array_equal(swapped, run(engine, tiny, [LoraWeights("tune_2", str(loras[1]), 1.0)]))
