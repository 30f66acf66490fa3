"""TAESD preview decoding: lookalike's ``tiny_vae`` against diffusers' documented use.

diffusers' guide ("Tiny AutoEncoder") swaps the pipeline's VAE:

    pipe.vae = AutoencoderTiny.from_pretrained("madebyollin/taesd")
    image = pipe(prompt, ...).images[0]

Here on a random ``AutoencoderTiny`` with madebyollin/taesd's published
config (diffusers' defaults: 64 channels, 1/3/3/3 encoder and 3/3/3/1
decoder blocks, ``scaling_factor`` 1.0), saved in its diffusers layout where
``lookalike models pull taesd`` puts it, and the small SD1.5 layout of the
FaceID conformance test. The reference runs the documented FaceID recipe
with that VAE swapped in; lookalike runs ``Engine.generate`` with
``tiny_vae=true``, which keeps the full VAE and decodes the pipeline's
latents with TAESD (``generation/tiny_vae.py``). Same seed and steps: the
latents TAESD's decoder receives and the pixels must be equal.

Tolerance: the same diffusers code on both sides on the CPU in float32, so
none (``LATENT_ATOL`` 1e-6, no pixel difference).
"""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from .layouts import FACEID_ID_DIM, FACEID_SD15_WEIGHT, local_faceid_spec

LATENT_ATOL = 1e-6
SEED, STEPS, CFG, SIZE = 99, 2, 3.0, 32
PROMPT = "a portrait photo of a person"
RESULTS: dict[str, float] = {}


def _unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(FACEID_ID_DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


IDENTITY = _unit(5)


@pytest.fixture(scope="module")
def models(tmp_path_factory, sd15_faceid):
    import torch
    from diffusers import AutoencoderTiny

    from lookalike.generation.tiny_vae import tiny_vae_dir

    _, base, made_adapter = sd15_faceid
    root = tmp_path_factory.mktemp("taesd-conformance")
    adapter = root / "models" / "faceid"  # under the engine's models directory, as a pulled adapter is
    shutil.copytree(made_adapter, adapter)
    torch.manual_seed(1)
    AutoencoderTiny().save_pretrained(tiny_vae_dir(root / "models"), safe_serialization=True)
    return root, base, adapter


def _capture(vae, sink: list):
    # AutoencoderTiny.decode hands its input to the decoder; that input is what each side decodes.
    return vae.decoder.register_forward_pre_hook(lambda _m, args: sink.append(args[0].detach().numpy().copy()))


@pytest.fixture(scope="module")
def reference(models):
    import torch
    from diffusers import AutoencoderTiny, DDIMScheduler, StableDiffusionPipeline

    from lookalike.generation.tiny_vae import tiny_vae_dir

    root, base, adapter = models
    pipe = StableDiffusionPipeline.from_pretrained(
        str(base), safety_checker=None, requires_safety_checker=False, local_files_only=True
    )
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.load_ip_adapter(str(adapter), subfolder=None, weight_name=FACEID_SD15_WEIGHT, image_encoder_folder=None,
                         local_files_only=True)
    pipe.vae = AutoencoderTiny.from_pretrained(str(tiny_vae_dir(root / "models")), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    latents: list = []
    _capture(pipe.vae, latents)
    embeds = torch.from_numpy(IDENTITY.copy()).reshape(1, 1, 1, -1)
    with torch.inference_mode():
        image = pipe(
            prompt=PROMPT,
            negative_prompt="",
            ip_adapter_image_embeds=[torch.cat([torch.zeros_like(embeds), embeds])],
            num_inference_steps=STEPS,
            guidance_scale=CFG,
            height=SIZE,
            width=SIZE,
            generator=torch.Generator(device="cpu").manual_seed(SEED),
        ).images[0]
    return latents[-1], np.asarray(image, dtype=np.int16)


def _ours(models):
    from lookalike.catalog.base_models import TAESD_PACK
    from lookalike.config import Settings
    from lookalike.generation.engine import Engine
    from lookalike.generation.request import GenerationRequest
    from lookalike.prompts.options import GenerationOptions

    root, base, adapter = models
    models_dir = root / "models"
    spec = local_faceid_spec("taesd-conformance-sd15", base, adapter, models_dir, native_size=SIZE)
    engine = Engine(Settings(data_dir=root / "data", models_dir=models_dir, device="cpu"))
    # Random weights stand in for the published file, so its digest cannot match: the catalog's pack less its digests.
    stand_in = dataclasses.replace(TAESD_PACK, files=tuple(dataclasses.replace(f, sha256=None) for f in TAESD_PACK.files))
    latents: list = []
    from lookalike.generation import tiny_vae

    def load_and_watch(*args, **kwargs):
        vae = load_tiny_vae(*args, **kwargs)
        _capture(vae, latents)
        return vae

    load_tiny_vae = tiny_vae.load_tiny_vae
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tiny_vae, "TAESD_PACK", stand_in)
        patch.setattr(tiny_vae, "load_tiny_vae", load_and_watch)
        result = engine.generate(
            GenerationRequest(
                prompt=PROMPT,
                base_model=spec,
                options=GenerationOptions(seed=SEED, steps=STEPS, cfg_scale=CFG, scheduler="ddim", tiny_vae=True),
                identities=((IDENTITY, 1.0),),
            )
        )
    return latents[-1], np.asarray(result.images[0].image, dtype=np.int16), result


def test_tiny_vae_preview_equals_diffusers_autoencoder_tiny_swap(models, reference):
    their_latents, their_pixels = reference
    my_latents, my_pixels, result = _ours(models)
    assert "VAE: taesd (preview)" in result.images[0].parameters
    assert my_pixels.shape == their_pixels.shape == (SIZE * 4, SIZE * 4, 3)  # TAESD upsamples 8x the 2x latents
    latent_diff = float(np.abs(my_latents - their_latents).max())
    pixel_diff = int(np.abs(my_pixels - their_pixels).max())
    RESULTS["taesd"] = latent_diff
    print(f"\nconformance taesd: max |latent diff| {latent_diff:.3g}, max |pixel diff| {pixel_diff}")
    assert float(their_pixels.std()) > 1.0, "the random TAESD should give a varied image"
    assert latent_diff <= LATENT_ATOL
    assert pixel_diff == 0
