"""SDXL FaceID, FaceID PlusV2 and two people in one image: lookalike's engine against diffusers' documented recipes.

Random weights in the published layouts built by upstream IP-Adapter's own
modules (``layouts.py``), on small UNets with the real cross-attention widths
(SD1.5 768, SDXL 2048) and a CLIP image encoder with ViT-H/14's width and
patch (1280, 14 px; a 56 px input for speed). The references, on the same folders:

* SDXL FaceID: diffusers' FaceID recipe with ``StableDiffusionXLPipeline``
  (``load_ip_adapter(folder, subfolder=None, weight_name="ip-adapter-faceid_sdxl.bin",
  image_encoder_folder=None)``, ``set_ip_adapter_scale``, ``ip_adapter_image_embeds``).
* PlusV2: the guide's "IP-Adapter FaceID Plus" recipe: the image encoder in
  the pipeline, ``clip_embeds = pipeline.prepare_ip_adapter_image_embeds([[face]], None,
  device, 1, True)[0]`` put on the projection layer with ``shortcut = True``
  (V2) and ``shortcut_scale``, the id embeddings as for FaceID.
* Two people: the guide's "IP-Adapter masking": ``IPAdapterMaskProcessor().preprocess``
  of one mask per person, reshaped to (1, people, H, W), ``set_ip_adapter_scale([[w1, w2]])``,
  both identities as the adapter's images, ``cross_attention_kwargs={"ip_adapter_masks": masks}``.

Tolerance: the same diffusers code on both sides, float32 on the CPU; the
latents the VAE decodes may differ only by float rounding (``LATENT_ATOL``)
and the images not at all (PlusV2's CLIP pixels go through the same
``CLIPImageProcessor``).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from PIL import Image

from .layouts import (
    FACEID_ID_DIM,
    FACEID_PLUSV2_SD15_WEIGHT,
    FACEID_SD15_WEIGHT,
    FACEID_SDXL_WEIGHT,
    faceid_plus_state_dict,
    local_faceid_spec,
    write_clip_vision,
    write_sd15_with_faceid,
    write_sdxl_with_faceid,
)
from .test_faceid_adapter import RESULTS, Run, _capture_latents, _compare

LATENT_ATOL = 1e-5
SEED, STEPS, CFG, SIZE = 4321, 2, 3.0, 32
PROMPT, NEGATIVE = "a photo of a person", "blurry"


def _unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(FACEID_ID_DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


ALICE, BOB = _unit(11), _unit(12)
FACE = np.random.default_rng(5).integers(0, 256, size=(224, 224, 3), dtype=np.uint8)  # an aligned 224 crop


def _embeds(*people: np.ndarray):
    """diffusers' FaceID recipe: (2, people, 1, 512), negatives (zeros) first."""
    import torch

    ref = torch.stack([torch.from_numpy(p.copy()).reshape(1, -1) for p in people]).unsqueeze(0)
    return torch.cat([torch.zeros_like(ref), ref])


@pytest.fixture(scope="module")
def sd15_folders(tmp_path_factory):
    import torch
    from diffusers import UNet2DConditionModel

    root = tmp_path_factory.mktemp("faceid-variants-sd15")
    base, adapter = write_sd15_with_faceid(root / "models" / "user", seed=0)
    unet = UNet2DConditionModel.from_pretrained(str(base), subfolder="unet")
    torch.save(faceid_plus_state_dict(unet, seed=3), adapter / FACEID_PLUSV2_SD15_WEIGHT)
    encoder = write_clip_vision(adapter / "image_encoder", seed=4)
    return root, base, adapter, encoder


@pytest.fixture(scope="module")
def sdxl_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("faceid-variants-sdxl")
    base, adapter = write_sdxl_with_faceid(root / "models" / "user", seed=0)
    return root, base, adapter


def _reference(pipeline_cls, base, adapter, weight_name, image_encoder=None):
    from diffusers import DDIMScheduler

    extra = {}
    if image_encoder is not None:
        from transformers import CLIPVisionModelWithProjection

        extra["image_encoder"] = CLIPVisionModelWithProjection.from_pretrained(str(image_encoder))
    if pipeline_cls.__name__.startswith("StableDiffusionXL"):
        extra["add_watermarker"] = False
    else:
        extra.update(safety_checker=None, requires_safety_checker=False)
    pipeline = pipeline_cls.from_pretrained(str(base), local_files_only=True, **extra)
    pipeline.scheduler = DDIMScheduler.from_config(pipeline.scheduler.config)
    pipeline.load_ip_adapter(
        str(adapter), subfolder=None, weight_name=weight_name, image_encoder_folder=None, local_files_only=True
    )
    pipeline.set_progress_bar_config(disable=True)
    latents: list = []
    _capture_latents(pipeline.vae, latents)
    return pipeline, latents


def _run_reference(pipeline, latents, **call) -> Run:
    import torch

    latents.clear()
    with torch.inference_mode():
        image = pipeline(
            prompt=PROMPT,
            negative_prompt=NEGATIVE,
            num_inference_steps=STEPS,
            guidance_scale=CFG,
            height=SIZE,
            width=SIZE,
            generator=torch.Generator(device="cpu").manual_seed(SEED),
            **call,
        ).images[0]
    return Run(latents=latents[-1], pixels=np.asarray(image, dtype=np.int16))


def _engine(root, base, adapter, family: str, *, plus_encoder=None):
    """lookalike's engine on catalog entries for the same folders, through its real loader."""
    from lookalike.config import Settings
    from lookalike.generation.engine import Engine

    models_dir = root / "models"
    spec = local_faceid_spec(
        f"conformance-{family}", base, adapter, models_dir, family=family, native_size=SIZE,
        weight_name=FACEID_SD15_WEIGHT if family == "sd15" else FACEID_SDXL_WEIGHT, plus_encoder=plus_encoder,
    )
    # Two cached pipelines: FaceID and PlusV2 are different loads of the same base.
    settings = Settings(data_dir=root / "data", models_dir=models_dir, device="cpu", max_cached_pipelines=2)
    return spec, Engine(settings)


def _run_ours(spec, engine, identities, **options) -> Run:
    from lookalike.generation.request import GenerationRequest
    from lookalike.prompts.options import GenerationOptions

    request = GenerationRequest(
        prompt=PROMPT,
        base_model=spec,
        options=GenerationOptions(
            seed=SEED, steps=STEPS, cfg_scale=CFG, scheduler="ddim", negative_prompt=NEGATIVE, **options
        ),
        identities=identities,
    )
    loaded = engine.pipeline(request)
    latents: list = []
    hook = _capture_latents(loaded.pipe.vae, latents)
    try:
        result = engine.generate(request)
    finally:
        hook.remove()
    return Run(latents=latents[-1], pixels=np.asarray(result.images[0].image, dtype=np.int16))


def test_sdxl_faceid_equals_diffusers_recipe(sdxl_folders):
    from diffusers import StableDiffusionXLPipeline

    root, base, adapter = sdxl_folders
    pipeline, latents = _reference(StableDiffusionXLPipeline, base, adapter, FACEID_SDXL_WEIGHT)
    pipeline.set_ip_adapter_scale(0.8)
    theirs = _run_reference(pipeline, latents, ip_adapter_image_embeds=[_embeds(ALICE)])
    spec, engine = _engine(root, base, adapter, "sdxl")
    ours = _run_ours(spec, engine, ((ALICE, 0.8),))
    _compare("faceid_sdxl weight=0.8", theirs, ours, LATENT_ATOL, 0)


@pytest.fixture(scope="module")
def sd15_reference(sd15_folders):
    from diffusers import StableDiffusionPipeline

    _, base, adapter, encoder = sd15_folders
    return _reference(StableDiffusionPipeline, base, adapter, FACEID_SD15_WEIGHT)


@pytest.fixture(scope="module")
def sd15_ours(sd15_folders):
    root, base, adapter, encoder = sd15_folders
    return _engine(root, base, adapter, "sd15", plus_encoder=encoder)


def test_two_people_equal_diffusers_masking_recipe(sd15_reference, sd15_ours):
    """Default layout (columns): Alice's identity on the left half only, Bob's on the right, each at its weight."""
    from diffusers.image_processor import IPAdapterMaskProcessor

    pipeline, latents = sd15_reference
    half = SIZE // 2
    left = Image.new("L", (SIZE, SIZE), 0)
    left.paste(255, (0, 0, half, SIZE))
    right = Image.new("L", (SIZE, SIZE), 0)
    right.paste(255, (half, 0, SIZE, SIZE))
    masks = IPAdapterMaskProcessor().preprocess([left, right], height=SIZE, width=SIZE)
    masks = [masks.reshape(1, masks.shape[0], masks.shape[2], masks.shape[3])]
    pipeline.set_ip_adapter_scale([[1.0, 0.7]])
    theirs = _run_reference(
        pipeline, latents, ip_adapter_image_embeds=[_embeds(ALICE, BOB)], cross_attention_kwargs={"ip_adapter_masks": masks}
    )
    spec, engine = sd15_ours
    ours = _run_ours(spec, engine, ((ALICE, 1.0), (BOB, 0.7)))
    _compare("faceid_sd15 two people (columns)", theirs, ours, LATENT_ATOL, 0)

    # The comparison has teeth: the blend (one mixed identity everywhere) is another image.
    blended = _run_ours(spec, engine, ((ALICE, 1.0), (BOB, 0.7)), faceid_layout="blend")
    assert float(np.abs(blended.latents - ours.latents).max()) > 100 * LATENT_ATOL


@pytest.fixture(scope="module")
def plus_reference(sd15_folders):
    from diffusers import StableDiffusionPipeline

    _, base, adapter, encoder = sd15_folders
    pipeline, latents = _reference(StableDiffusionPipeline, base, adapter, FACEID_PLUSV2_SD15_WEIGHT, encoder)

    @functools.lru_cache
    def run(shortcut: bool, s_scale: float) -> Run:
        import torch

        pipeline.set_ip_adapter_scale(0.9)
        clip_embeds = pipeline.prepare_ip_adapter_image_embeds(
            [[Image.fromarray(FACE)]], None, torch.device("cpu"), 1, True
        )[0]
        projection = pipeline.unet.encoder_hid_proj.image_projection_layers[0]
        projection.clip_embeds = clip_embeds
        projection.shortcut = shortcut
        projection.shortcut_scale = s_scale
        return _run_reference(pipeline, latents, ip_adapter_image_embeds=[_embeds(ALICE)])

    return run


@pytest.mark.parametrize("shortcut, s_scale", [(True, 1.0), (False, 1.0), (True, 0.5)])
def test_plusv2_equals_diffusers_recipe(plus_reference, sd15_ours, shortcut, s_scale):
    from lookalike.generation.request import Identity

    spec, engine = sd15_ours
    options = {"faceid_adapter": "plusv2"}
    if not shortcut:
        options["faceid_shortcut"] = False
    if s_scale != 1.0:
        options["faceid_s_scale"] = s_scale
    ours = _run_ours(spec, engine, (Identity(ALICE, 0.9, face_crop=FACE),), **options)
    _compare(f"faceid_plusv2_sd15 shortcut={shortcut} s_scale={s_scale:g}", plus_reference(shortcut, s_scale), ours, LATENT_ATOL, 0)


def test_plusv2_face_crop_moves_the_image(plus_reference, sd15_ours):
    """PlusV2 reads the face crop: another crop, other latents (so the test above could fail)."""
    from lookalike.generation.request import Identity

    spec, engine = sd15_ours
    other = np.ascontiguousarray(FACE[::-1])
    ours = _run_ours(spec, engine, (Identity(ALICE, 0.9, face_crop=other),), faceid_adapter="plusv2")
    assert float(np.abs(plus_reference(True, 1.0).latents - ours.latents).max()) > 100 * LATENT_ATOL
    assert RESULTS  # the figures of the tests above were recorded
