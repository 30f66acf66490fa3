"""Prior preservation's class images: what the base model itself draws for the class prompt ("woman").

DreamBooth trains on these beside the person's photos, so that the class
word keeps meaning any woman rather than becoming this one. They are drawn
by the same base model being trained (before its LoRA exists), each with
its own seed from the plan, and decoded by the VAE in float32 (SDXL's VAE
overflows in float16). The caller keeps them (the blob store) so that a
resumed training reuses them rather than drawing them again.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lookalike.training.models import TrainingModels
from lookalike.training.plan import TrainingPlan

# Several at once: each call then amortises the text encoding and Python overhead.
BATCH = 4


def draw_class_images(
    models: TrainingModels,
    plan: TrainingPlan,
    device,
    *,
    count: int,
    start: int = 0,
    on_image: Callable[[int], None] | None = None,
) -> list[np.ndarray]:
    """Images ``start`` .. ``start + count - 1`` of the plan's class images (RGB uint8, resolution squared)."""
    import torch
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline, StableDiffusionXLPipeline

    scheduler = DPMSolverMultistepScheduler.from_config(
        {k: v for k, v in models.scheduler_config.items() if not k.startswith("_")}
    )
    common = dict(vae=models.vae, unet=models.unet, scheduler=scheduler)
    if models.family == "sdxl":
        pipe = StableDiffusionXLPipeline(
            text_encoder=models.text_encoders[0],
            text_encoder_2=models.text_encoders[1],
            tokenizer=models.tokenizers[0],
            tokenizer_2=models.tokenizers[1],
            add_watermarker=False,
            **common,
        )
    else:
        pipe = StableDiffusionPipeline(
            text_encoder=models.text_encoders[0],
            tokenizer=models.tokenizers[0],
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
            **common,
        )
    pipe.set_progress_bar_config(disable=True)
    images: list[np.ndarray] = []
    for first in range(start, start + count, BATCH):
        indices = list(range(first, min(first + BATCH, start + count)))
        # One generator per image, so image i is the same whatever batch it is drawn in.
        generators = [torch.Generator("cpu").manual_seed(plan.seed + 1 + i) for i in indices]
        with torch.inference_mode():
            latents = pipe(
                [plan.class_prompt] * len(indices),
                num_inference_steps=plan.class_image_steps,
                height=plan.resolution,
                width=plan.resolution,
                generator=generators,
                output_type="latent",
            ).images
            decoded = models.vae.decode(latents.to(device, torch.float32) / models.vae_scale).sample
        pixels = ((decoded.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        for index, image in zip(indices, pixels, strict=True):
            images.append(np.ascontiguousarray(image))
            if on_image is not None:
                on_image(index)
    return images
