"""The training loop on the tiny models: it learns, it resumes exactly, and its file loads in diffusers as trained.

The reference loader is diffusers' own ``load_lora_weights`` (what A1111-style
files go through in any diffusers app, and in our engine): the kohya file we
export must give the UNet the same outputs as the PEFT adapter we trained,
within float16 rounding of the stored weights.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors import safe_open

from lookalike.catalog.base_models import get_base_model
from lookalike.catalog.tiny import tiny_model_dir
from lookalike.training.data import to_tensor
from lookalike.training.loop import CLASS_IMAGES, PREPARING, SAVING, TRAINING, train_lora
from lookalike.training.models import load_training_models
from lookalike.training.plan import make_plan
from tests.training.conftest import TINY_PRESET, RecordingHooks

STEPS = 24
SEED = 11
# float16 storage of the LoRA weights (kohya files are shared in half precision): relative error of the UNet's output.
EXPORT_TOLERANCE = 2e-3


def plan_for(spec, *, steps: int = STEPS, preset=TINY_PRESET):
    return make_plan(
        preset,
        base_model=spec.id,
        family=spec.family,
        resolution=spec.native_size,
        photos=1,
        class_name="woman",
        seed=SEED,
        steps=steps,
    )


def train(spec, plan, images, models_dir, hooks, models=None):
    return train_lora(
        plan, images, hooks, spec=spec, models_dir=models_dir, device="cpu", dtype=torch.float32, models=models
    )


@pytest.fixture(scope="module")
def run(training_models_dir, person_images):
    spec = get_base_model("tiny")
    models = load_training_models(spec, training_models_dir, torch.float32)
    hooks = RecordingHooks()
    plan = plan_for(spec)
    result = train(spec, plan, person_images, training_models_dir, hooks, models)
    models.unet.eval()
    return SimpleNamespace(spec=spec, plan=plan, hooks=hooks, result=result, models=models)


@pytest.fixture(scope="module")
def reference(run, training_models_dir, tmp_path_factory):
    """diffusers' pipeline on the tiny model's folder, with our exported file loaded by ``load_lora_weights``."""
    from diffusers import StableDiffusionPipeline

    folder = tmp_path_factory.mktemp("lora")
    (folder / "tune.safetensors").write_bytes(run.result.data)
    pipe = StableDiffusionPipeline.from_pretrained(
        str(tiny_model_dir(training_models_dir)), safety_checker=None, requires_safety_checker=False
    )
    pipe.set_progress_bar_config(disable=True)
    pipe.load_lora_weights(str(folder), weight_name="tune.safetensors", adapter_name="tune")
    return pipe


def test_a_run_reports_each_phase_checkpoints_and_lets_prompts_in(run):
    phases = [r.phase for r in run.hooks.reports]
    assert phases[0] == PREPARING and phases[-1] == SAVING
    assert CLASS_IMAGES in phases  # prior preservation drew its class images
    steps = [r.step for r in run.hooks.reports if r.phase == TRAINING]
    assert steps == list(range(1, STEPS + 1))
    assert sorted(run.hooks.checkpoints) == [8, 16]  # every 8 steps, none at the end
    assert len(run.hooks.class_images) == 2
    # Between two steps (and two class images) queued prompts may run: never after the last step.
    assert run.hooks.between == (STEPS - 1) + 2
    assert run.result.steps == STEPS and run.result.resumed_from is None
    assert len(run.result.losses) == STEPS and all(np.isfinite(run.result.losses))


def test_a_resumed_run_ends_with_the_weights_of_the_uninterrupted_one(run, training_models_dir, person_images):
    # What a worker killed after step 8 left: its checkpoint and its class images.
    hooks = RecordingHooks(checkpoint=run.hooks.checkpoints[8], class_images=run.hooks.class_images)
    resumed = train(run.spec, run.plan, person_images, training_models_dir, hooks)
    assert resumed.resumed_from == 8
    assert [r.step for r in hooks.reports if r.phase == TRAINING][0] == 9
    assert CLASS_IMAGES not in [r.phase for r in hooks.reports]  # reused, not drawn again
    assert resumed.losses[:8] == run.result.losses[:8]
    # On the CPU every draw is replayed exactly: equal losses and weights, not merely close (the
    # stated tolerance is zero here; on CUDA it is the kernels' non-determinism).
    assert resumed.losses == run.result.losses
    assert resumed.state.keys() == run.result.state.keys()
    differ = [k for k in resumed.state if not torch.equal(resumed.state[k], run.result.state[k])]
    assert not differ, f"{len(differ)} tensors differ after the resume, e.g. {differ[0]}"


def test_the_file_is_kohya_layout_with_metadata(run, tmp_path):
    path = tmp_path / "lora.safetensors"
    path.write_bytes(run.result.data)
    with safe_open(str(path), "pt") as handle:
        keys = set(handle.keys())
        metadata = handle.metadata()
    downs = {k for k in keys if k.endswith(".lora_down.weight")}
    assert downs and all(k.startswith("lora_unet_") for k in keys)
    assert {k.replace(".lora_down.weight", ".lora_up.weight") for k in downs} <= keys
    assert {k.replace(".lora_down.weight", ".alpha") for k in downs} <= keys
    assert "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight" in keys
    assert any("_to_out_0.lora_down" in k for k in keys)
    assert metadata["ss_network_dim"] == str(run.plan.rank) and metadata["ss_base_model_version"] == "sd_v1"


def _unet_inputs(run, seed: int = 3):
    generator = torch.Generator().manual_seed(seed)
    latents = torch.randn((2, 4, 16, 16), generator=generator)
    timesteps = torch.tensor([100, 700])
    with torch.no_grad():
        embeds = run.models.encode_text([run.plan.instance_prompt] * 2, "cpu")[0]
    return latents, timesteps, embeds


def test_diffusers_loads_the_file_as_the_adapter_we_trained(run, reference):
    latents, timesteps, embeds = _unet_inputs(run)
    with torch.no_grad():
        ours = run.models.unet(latents, timesteps, embeds).sample
        theirs = reference.unet(latents, timesteps, embeds).sample
        reference.disable_lora()
        base = reference.unet(latents, timesteps, embeds).sample
        reference.enable_lora()
    error = float((ours - theirs).norm() / ours.norm())
    moved = float((ours - base).norm() / ours.norm())
    assert error < EXPORT_TOLERANCE, f"loaded LoRA differs from the trained adapter by {error:.2e}"
    assert moved > 20 * error, "the LoRA must change the UNet far more than export rounding does"


def test_training_lowers_the_loss_on_its_pictures_and_changes_the_image(run, reference, person_images):
    examples = person_images.examples(run.plan.resolution, face_crop=True)
    with torch.no_grad():
        latents = reference.vae.encode(to_tensor(examples)).latent_dist.mean * reference.vae.config.scaling_factor
        embeds = run.models.encode_text([run.plan.instance_prompt] * len(examples), "cpu")[0]
    generator = torch.Generator().manual_seed(5)
    draws = [(torch.randn(latents.shape, generator=generator), torch.randint(1000, (len(examples),), generator=generator)) for _ in range(8)]

    def loss() -> float:
        with torch.no_grad():
            return float(
                np.mean(
                    [
                        torch.nn.functional.mse_loss(
                            reference.unet(reference.scheduler.add_noise(latents, noise, t), t, embeds).sample, noise
                        )
                        for noise, t in draws
                    ]
                )
            )

    def image() -> np.ndarray:
        out = reference(
            run.plan.instance_prompt,
            num_inference_steps=2,
            height=32,
            width=32,
            generator=torch.Generator().manual_seed(0),
            output_type="np",
        )
        return out.images[0]

    trained_loss, trained_image = loss(), image()
    reference.disable_lora()
    try:
        base_loss, base_image = loss(), image()
    finally:
        reference.enable_lora()
    assert trained_loss < base_loss, f"loss {trained_loss:.4f} with the LoRA, {base_loss:.4f} without"
    assert np.abs(trained_image - base_image).mean() > 1e-3


def test_sdxl_trains_with_both_text_encoders_and_loads_in_diffusers(training_models_dir, person_images, tmp_path):
    from diffusers import StableDiffusionXLPipeline

    spec = get_base_model("tiny-xl")
    preset = TINY_PRESET.model_copy(update={"prior_preservation": False, "class_images": 0, "text_encoder": True})
    plan = plan_for(spec, steps=4, preset=preset)
    models = load_training_models(spec, training_models_dir, torch.float32)
    result = train(spec, plan, person_images, training_models_dir, RecordingHooks(), models)
    (tmp_path / "xl.safetensors").write_bytes(result.data)
    keys = set(result.state)
    assert any(k.startswith("lora_te1_") for k in keys) and any(k.startswith("lora_te2_") for k in keys)
    pipe = StableDiffusionXLPipeline.from_pretrained(str(tiny_model_dir(training_models_dir, spec)))
    pipe.load_lora_weights(str(tmp_path), weight_name="xl.safetensors", adapter_name="tune")
    models.unet.eval()
    for encoder in models.text_encoders:
        encoder.eval()
    generator = torch.Generator().manual_seed(1)
    latents = torch.randn((1, 4, 16, 16), generator=generator)
    timesteps = torch.tensor([500])
    with torch.no_grad():
        embeds, pooled = models.encode_text([plan.instance_prompt], "cpu")
        added = models.added_conditions(pooled, plan.resolution, 1, "cpu", torch.float32)
        ours = models.unet(latents, timesteps, embeds, added_cond_kwargs=added).sample
        prompt_embeds, _, pooled_theirs, _ = pipe.encode_prompt(plan.instance_prompt, do_classifier_free_guidance=False)
        theirs = pipe.unet(
            latents, timesteps, prompt_embeds, added_cond_kwargs={"text_embeds": pooled_theirs, "time_ids": added["time_ids"]}
        ).sample
    error = float((ours - theirs).norm() / ours.norm())
    assert error < EXPORT_TOLERANCE, f"SDXL LoRA (UNet and both text encoders) differs by {error:.2e} once loaded"


def test_a_checkpoint_of_another_plan_is_not_resumed(run, training_models_dir, person_images):
    other = dataclasses.replace(run.plan, seed=SEED + 1, steps=2)
    hooks = RecordingHooks(checkpoint=run.hooks.checkpoints[8], class_images=run.hooks.class_images)
    result = train(run.spec, other, person_images, training_models_dir, hooks)
    assert result.resumed_from is None and result.steps == 2

