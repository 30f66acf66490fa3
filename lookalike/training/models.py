"""The base model's components for training, and what differs between SD1.5 and SDXL when training.

Files are found with ``generation.pipelines.model_paths`` (the same places
the engine loads from; offline, a missing file is ``model_unavailable``
naming the pull command), and each component is read from its diffusers
folder, or from the one checkpoint file of a ``single_file`` model.

SD1.5 conditions the UNet on one CLIP text encoder's last hidden state.
SDXL joins the penultimate hidden states of its two encoders side by side
and adds two vectors through ``added_cond_kwargs``: the second encoder's
pooled projection (``text_embeds``) and the six size-and-crop numbers
(``time_ids``: original size, crop top-left, target size), which for a
square training crop at the training size are (S, S, 0, 0, S, S).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lookalike.catalog.base_models import BaseModelSpec


@dataclass
class TrainingModels:
    family: str
    unet: Any
    vae: Any
    text_encoders: list[Any]
    tokenizers: list[Any]
    noise_scheduler: Any
    scheduler_config: dict[str, Any] = field(default_factory=dict)

    @property
    def vae_scale(self) -> float:
        return float(self.vae.config.scaling_factor)

    def encode_text(self, texts: list[str], device) -> tuple[Any, Any]:
        """(prompt embeds, pooled embeds or None) for ``texts``, through the encoders as they are now."""
        import torch

        if self.family != "sdxl":
            ids = _token_ids(self.tokenizers[0], texts).to(device)
            return self.text_encoders[0](ids)[0], None
        hidden, pooled = [], None
        for tokenizer, encoder in zip(self.tokenizers, self.text_encoders, strict=True):
            ids = _token_ids(tokenizer, texts).to(device)
            out = encoder(ids, output_hidden_states=True)
            # SDXL conditions on the penultimate layer; the pooled vector is the second encoder's projection.
            hidden.append(out.hidden_states[-2])
            pooled = out[0]
        return torch.cat(hidden, dim=-1), pooled

    def added_conditions(self, pooled, resolution: int, batch: int, device, dtype) -> dict[str, Any] | None:
        """SDXL's ``added_cond_kwargs`` for square training crops at ``resolution``; None on SD1.5."""
        if self.family != "sdxl":
            return None
        import torch

        time_ids = torch.tensor([[resolution, resolution, 0, 0, resolution, resolution]], device=device, dtype=dtype)
        return {"text_embeds": pooled.to(device, dtype), "time_ids": time_ids.repeat(batch, 1)}


def _token_ids(tokenizer, texts: list[str]):
    return tokenizer(
        texts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
    ).input_ids


def load_training_models(spec: BaseModelSpec, models_dir: Path, dtype) -> TrainingModels:
    """The components of ``spec`` in ``dtype`` on the CPU (the loop moves them), gradients off."""
    import json

    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    from lookalike.generation.pipelines import model_paths

    paths = model_paths(spec, models_dir)
    sdxl = spec.family == "sdxl"
    if paths.single_file:
        components = _single_file_components(paths.base, sdxl, dtype)
        unet, vae = components["unet"], components["vae"]
        encoders = [components["text_encoder"]] + ([components["text_encoder_2"]] if sdxl else [])
        tokenizers = [components["tokenizer"]] + ([components["tokenizer_2"]] if sdxl else [])
        scheduler_config = dict(components["scheduler"].config)
    else:
        base = str(paths.base)
        unet = UNet2DConditionModel.from_pretrained(base, subfolder="unet", torch_dtype=dtype, local_files_only=True)
        vae = None
        encoders = [CLIPTextModel.from_pretrained(base, subfolder="text_encoder", dtype=dtype, local_files_only=True)]
        tokenizers = [CLIPTokenizer.from_pretrained(base, subfolder="tokenizer", local_files_only=True)]
        if sdxl:
            encoders.append(
                CLIPTextModelWithProjection.from_pretrained(
                    base, subfolder="text_encoder_2", dtype=dtype, local_files_only=True
                )
            )
            tokenizers.append(CLIPTokenizer.from_pretrained(base, subfolder="tokenizer_2", local_files_only=True))
        scheduler_config = json.loads((paths.base / "scheduler" / "scheduler_config.json").read_text())
        if paths.vae is None:
            # The VAE stays in float32: SDXL's overflows in float16, and it only encodes the few training crops.
            vae = AutoencoderKL.from_pretrained(base, subfolder="vae", local_files_only=True)
    if paths.vae is not None:
        vae = AutoencoderKL.from_pretrained(str(paths.vae), local_files_only=True)
    vae = vae.float()
    # Training noise follows the model's own betas; DDPM is the scheduler every diffusers training script adds noise with.
    noise_scheduler = DDPMScheduler.from_config(
        {k: v for k, v in scheduler_config.items() if not k.startswith("_")}
    )
    for module in (unet, vae, *encoders):
        module.requires_grad_(False)
        module.eval()
    return TrainingModels(
        family=spec.family,
        unet=unet,
        vae=vae,
        text_encoders=encoders,
        tokenizers=tokenizers,
        noise_scheduler=noise_scheduler,
        scheduler_config=scheduler_config,
    )


def _single_file_components(path: Path, sdxl: bool, dtype) -> dict[str, Any]:
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    cls = StableDiffusionXLPipeline if sdxl else StableDiffusionPipeline
    kwargs = {} if sdxl else {"safety_checker": None, "requires_safety_checker": False}
    pipe = cls.from_single_file(str(path), torch_dtype=dtype, **kwargs)
    return dict(pipe.components)
