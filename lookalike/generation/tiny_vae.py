"""The preview decoder: TAESD (``AutoencoderTiny``) instead of the full VAE.

The full SD1.5 VAE decoder costs about 2.5 TFLOP per 512x512 image, three
times a UNet step; TAESD decodes the same latents in a small fraction of
that, with softer detail (the measured cost in quality is in
docs/GENERATION.md). TAESD reads the latents as the UNet produces them:
they are divided by TAESD's own ``scaling_factor`` (1.0 in madebyollin/taesd),
as diffusers' pipelines do when ``pipe.vae`` is an ``AutoencoderTiny``
(tests/conformance/test_taesd.py checks it against exactly that).

Its weights are the catalog's ``taesd`` pack, found by the same ``locate``
as every model: offline and missing, it is a ``ModelUnavailableError``
naming ``lookalike models pull taesd``.
"""

from __future__ import annotations

from pathlib import Path

from lookalike.catalog.base_models import TAESD_PACK, TAESD_SOURCE
from lookalike.catalog.files import locate


def tiny_vae_dir(models_dir: Path) -> Path:
    return Path(models_dir) / TAESD_SOURCE.local_dir


def load_tiny_vae(models_dir: Path, device, dtype):
    from diffusers import AutoencoderTiny

    locate(TAESD_PACK, Path(models_dir))
    vae = AutoencoderTiny.from_pretrained(str(tiny_vae_dir(models_dir)), torch_dtype=dtype, local_files_only=True)
    return vae.to(device).eval()


def decode_latents(loaded, tiny_vae, latents):
    """PIL images from the pipeline's latents through ``tiny_vae``."""
    import torch

    with torch.inference_mode():
        images = tiny_vae.decode(latents.to(tiny_vae.dtype) / tiny_vae.config.scaling_factor).sample
    return loaded.pipe.image_processor.postprocess(images, output_type="pil", do_denormalize=[True] * len(images))
