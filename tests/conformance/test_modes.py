"""img2img, inpainting and ControlNet with FaceID: lookalike's engine against diffusers' own pipelines.

The small SD1.5 layout with its FaceID ``.bin`` (``conftest.sd15_faceid``,
upstream's modules, fp16) and a ControlNet in the layout of lllyasviel's
ControlNet 1.1 diffusers repos (``ControlNetModel.from_unet`` of that UNet,
``config.json`` + ``diffusion_pytorch_model.safetensors``; its condition
encoder halves once, as the small VAE does, where the real one halves three
times for SD's VAE). The references are diffusers' documented pipelines on
the same folders, with FaceID loaded as in its guide:

    StableDiffusionImg2ImgPipeline.from_pretrained(base)(prompt, image=init, strength=s, ip_adapter_image_embeds=...)
    StableDiffusionInpaintPipeline.from_pretrained(base)(prompt, image=init, mask_image=mask, strength=s, ...)
    StableDiffusionControlNetPipeline.from_pretrained(base, controlnet=ControlNetModel.from_pretrained(folder))
        (prompt, image=control, controlnet_conditioning_scale=c, ...)
    StableDiffusionControlNetImg2ImgPipeline...(prompt, image=init, control_image=control, strength=s, ...)

Same seed, steps, guidance and identity; the decoded latents and the images
compared. Tolerance as the FaceID test: float32, the same diffusers code, so
equal up to ``LATENT_ATOL``, no pixel apart.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from .layouts import FACEID_ID_DIM, FACEID_SD15_WEIGHT, local_faceid_spec
from .test_faceid_adapter import Run, _capture_latents, _compare

LATENT_ATOL = 1e-5
SEED, STEPS, CFG, SIZE = 99, 4, 3.0, 32
PROMPT, NEGATIVE = "a photo of a person", "blurry"
IDENTITY = np.random.default_rng(21).standard_normal(FACEID_ID_DIM).astype(np.float32)
IDENTITY /= np.linalg.norm(IDENTITY)
INIT = Image.fromarray(np.random.default_rng(22).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8))
CONTROL = Image.fromarray((np.indices((SIZE, SIZE)).sum(0) % 8 < 2).astype(np.uint8)[..., None].repeat(3, -1) * 255)
MASK = Image.new("L", (SIZE, SIZE), 0)
MASK.paste(255, (8, 8, 24, 24))


@pytest.fixture(scope="module")
def controlnet_folder(sd15_faceid, tmp_path_factory):
    from lookalike.catalog.tiny_controlnet import write_tiny_controlnet

    _, base, _ = sd15_faceid
    folder = tmp_path_factory.mktemp("controlnet-layout") / "control_v11p_sd15_canny"
    write_tiny_controlnet(folder, base, seed=5)
    return folder


@pytest.fixture(scope="module")
def ours(sd15_faceid):
    from lookalike.config import Settings
    from lookalike.generation.engine import Engine

    root, base, adapter = sd15_faceid
    models_dir = adapter.parent
    spec = local_faceid_spec("conformance-modes", base, adapter, models_dir, native_size=SIZE)
    return spec, Engine(Settings(data_dir=root / "modes-data", models_dir=models_dir, device="cpu"))


def _reference(cls, base, adapter, **components):
    from diffusers import DDIMScheduler

    pipeline = cls.from_pretrained(
        str(base), safety_checker=None, requires_safety_checker=False, local_files_only=True, **components
    )
    pipeline.scheduler = DDIMScheduler.from_config(pipeline.scheduler.config)
    pipeline.load_ip_adapter(
        str(adapter), subfolder=None, weight_name=FACEID_SD15_WEIGHT, image_encoder_folder=None, local_files_only=True
    )
    pipeline.set_ip_adapter_scale(0.8)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _theirs(pipeline, **call) -> Run:
    import torch

    latents: list = []
    hook = _capture_latents(pipeline.vae, latents)
    ref = torch.from_numpy(IDENTITY.copy()).reshape(1, 1, 1, -1)
    try:
        with torch.inference_mode():
            image = pipeline(
                prompt=PROMPT, negative_prompt=NEGATIVE, num_inference_steps=STEPS, guidance_scale=CFG,
                height=SIZE, width=SIZE, generator=torch.Generator("cpu").manual_seed(SEED),
                ip_adapter_image_embeds=[torch.cat([torch.zeros_like(ref), ref])], **call,
            ).images[0]
    finally:
        hook.remove()
    return Run(latents=latents[-1], pixels=np.asarray(image, dtype=np.int16))


def _mine(ours, **inputs) -> Run:
    from lookalike.generation.request import GenerationRequest
    from lookalike.prompts.options import GenerationOptions

    spec, engine = ours
    request = GenerationRequest(
        prompt=PROMPT, base_model=spec, identities=((IDENTITY, 0.8),),
        options=GenerationOptions(seed=SEED, steps=STEPS, cfg_scale=CFG, scheduler="ddim", negative_prompt=NEGATIVE),
        **inputs,
    )
    loaded = engine.pipeline(request)
    latents: list = []
    hook = _capture_latents(loaded.pipe.vae, latents)
    try:
        image = engine.generate(request).images[0].image
    finally:
        hook.remove()
    return Run(latents=latents[-1], pixels=np.asarray(image, dtype=np.int16))


def test_img2img_equals_diffusers(sd15_faceid, ours):
    from diffusers import StableDiffusionImg2ImgPipeline

    from lookalike.generation.request import InitImage

    _, base, adapter = sd15_faceid
    theirs = _theirs(_reference(StableDiffusionImg2ImgPipeline, base, adapter), image=INIT, strength=0.6)
    _compare("img2img strength=0.6 (FaceID on)", theirs, _mine(ours, init=InitImage(INIT, 0.6)), LATENT_ATOL, 0)


def test_inpainting_with_the_plain_unet_equals_diffusers(sd15_faceid, ours):
    from diffusers import StableDiffusionInpaintPipeline

    from lookalike.generation.request import InitImage

    _, base, adapter = sd15_faceid
    theirs = _theirs(_reference(StableDiffusionInpaintPipeline, base, adapter), image=INIT, mask_image=MASK, strength=0.7)
    mine = _mine(ours, init=InitImage(INIT, 0.7, mask=MASK))
    _compare("inpaint strength=0.7 (plain UNet, FaceID on)", theirs, mine, LATENT_ATOL, 0)


@pytest.mark.parametrize("with_init", [False, True], ids=["txt2img", "img2img"])
def test_controlnet_equals_diffusers(sd15_faceid, ours, controlnet_folder, monkeypatch, with_init):
    from diffusers import ControlNetModel, StableDiffusionControlNetImg2ImgPipeline, StableDiffusionControlNetPipeline

    import lookalike.catalog.controlnets as catalog
    from lookalike.generation.request import ControlInput, InitImage

    _, base, adapter = sd15_faceid
    # The catalog's lookup is tested on its own (tests/catalog); here the engine loads this folder.
    monkeypatch.setattr(catalog, "controlnet_folder", lambda models_dir, spec, kind: controlnet_folder)
    controlnet = ControlNetModel.from_pretrained(str(controlnet_folder))
    if with_init:
        pipeline = _reference(StableDiffusionControlNetImg2ImgPipeline, base, adapter, controlnet=controlnet)
        theirs = _theirs(pipeline, image=INIT, control_image=CONTROL, strength=0.75, controlnet_conditioning_scale=0.7)
        mine = _mine(ours, init=InitImage(INIT, 0.75), control=ControlInput("canny", CONTROL, 0.7))
    else:
        pipeline = _reference(StableDiffusionControlNetPipeline, base, adapter, controlnet=controlnet)
        theirs = _theirs(pipeline, image=CONTROL, controlnet_conditioning_scale=0.7)
        mine = _mine(ours, control=ControlInput("canny", CONTROL, 0.7))
    _compare(f"controlnet {'img2img' if with_init else 'txt2img'} scale=0.7 (FaceID on)", theirs, mine, LATENT_ATOL, 0)
    # Teeth: without the control image the same call is another picture.
    blank = Image.new("RGB", (SIZE, SIZE))
    other = _mine(ours, control=ControlInput("canny", blank, 0.7), **({"init": InitImage(INIT, 0.75)} if with_init else {}))
    assert float(np.abs(other.latents - mine.latents).max()) > 100 * LATENT_ATOL


def test_an_inpainting_checkpoint_equals_diffusers(sd15_faceid, ours, tmp_path_factory):
    """A 9-channel inpainting UNet (runwayml's layout: latents, mask, masked latents), FaceID loaded into it."""
    from dataclasses import replace

    import torch
    from diffusers import StableDiffusionInpaintPipeline, UNet2DConditionModel

    from lookalike.catalog.base_models import ModelSource
    from lookalike.generation.request import InitImage

    _, base, adapter = sd15_faceid
    folder = tmp_path_factory.mktemp("inpainting-checkpoint")
    config = dict(UNet2DConditionModel.load_config(str(base), subfolder="unet"))
    config["in_channels"] = 9
    torch.manual_seed(6)
    UNet2DConditionModel.from_config(config).save_pretrained(str(folder / "unet"), safe_serialization=True)
    unet = UNet2DConditionModel.from_pretrained(str(folder), subfolder="unet")
    theirs = _theirs(
        _reference(StableDiffusionInpaintPipeline, base, adapter, unet=unet), image=INIT, mask_image=MASK, strength=0.7
    )
    spec, engine = ours
    spec = replace(spec, id="conformance-modes-inpainting", inpaint_unet=ModelSource(kind="local", path=str(folder)))
    mine = _mine((spec, engine), init=InitImage(INIT, 0.7, mask=MASK))
    _compare("inpaint strength=0.7 (inpainting checkpoint, FaceID on)", theirs, mine, LATENT_ATOL, 0)
    plain = _mine(ours, init=InitImage(INIT, 0.7, mask=MASK))
    assert float(np.abs(plain.latents - mine.latents).max()) > 100 * LATENT_ATOL  # the checkpoint was used
