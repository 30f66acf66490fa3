"""What differs between SD1.5 and SDXL for the engine: pipeline classes, component loading, text conditioning.

Everything else (the FaceID adapter, schedulers, LoRAs, seeds, batching,
regions, speed-ups) is the same code for both, so the engine asks its
model's ``Family`` for these three things and nothing more:

* ``pipeline_class(mode, controlnet)``: the diffusers class for text-to-image,
  image-to-image or inpainting, with or without a ControlNet, with the
  per-image adapter rows of ``batched_pipeline``;
* ``load_components(paths, dtype)``: the text-to-image pipeline from a
  diffusers folder (safety checker and feature extractor left out);
* ``text_conditioning(pipe, dtype)`` and ``encode(...)``: compel for long,
  weighted prompts. SD1.5 has one CLIP text encoder; SDXL has two, whose
  penultimate hidden states are joined side by side, and a pooled vector
  from the second, which SDXL's added conditioning needs
  (``pooled_prompt_embeds``).

SDXL with an empty negative prompt conditions on zeros, as diffusers does
when no negative prompt is given and the model's config says
``force_zeros_for_empty_prompt`` (SDXL base does: it was trained that way).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lookalike.generation.batched_pipeline import per_image_adapter

Mode = Literal["txt2img", "img2img", "inpaint"]
MODES: tuple[str, ...] = ("txt2img", "img2img", "inpaint")


@dataclass
class Conditioning:
    """One prompt's text conditioning: (1, L, D) embeds, and SDXL's (1, P) pooled vectors."""

    embeds: Any
    negative: Any = None
    pooled: Any = None
    negative_pooled: Any = None

    @property
    def length(self) -> int:
        return int(self.embeds.shape[1])


def batch_text_kwargs(conditionings: list[Conditioning], counts: list[int], do_cfg: bool) -> dict[str, Any]:
    """The pipeline's text arguments for a batch: each prompt's conditioning repeated for its images."""
    import torch

    def rows(name: str, dims: int):
        parts = [getattr(c, name) for c in conditionings]
        if parts[0] is None:
            return None
        shape = (-1,) * (dims - 1)
        return torch.cat([part.expand(n, *shape) for part, n in zip(parts, counts, strict=True)])

    out: dict[str, Any] = {"prompt_embeds": rows("embeds", 3)}
    if do_cfg:
        out["negative_prompt_embeds"] = rows("negative", 3)
    pooled = rows("pooled", 2)
    if pooled is not None:
        out["pooled_prompt_embeds"] = pooled
        if do_cfg:
            out["negative_pooled_prompt_embeds"] = rows("negative_pooled", 2)
    return out


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


class _Family:
    name = ""
    # diffusers class names by (mode, with ControlNet)
    classes: dict[tuple[str, bool], str] = {}

    def pipeline_class(self, mode: str = "txt2img", controlnet: bool = False) -> type:
        import diffusers

        return per_image_adapter(getattr(diffusers, self.classes[(mode, controlnet)]))

    def variant(self, pipe, mode: str, controlnet=None, unet=None):
        """A pipeline of ``mode`` (and ControlNet) built on ``pipe``'s very modules (nothing is copied or reloaded).

        ``unet`` replaces the UNet (an inpainting checkpoint's own).
        """
        cls = self.pipeline_class(mode, controlnet is not None)
        wanted = set(cls._get_signature_keys(cls)[0])
        components = {k: v for k, v in pipe.components.items() if k in wanted}
        if controlnet is not None:
            components["controlnet"] = controlnet
        if unet is not None:
            components["unet"] = unet
        extra = {k: v for k, v in self._config_kwargs(pipe, cls).items() if k not in components or components[k] is None}
        components = {k: v for k, v in components.items() if k not in extra}
        variant = cls(**components, **extra)
        variant.set_progress_bar_config(disable=True)
        return variant

    def _config_kwargs(self, pipe, cls) -> dict[str, Any]:
        return {}


class SD15Family(_Family):
    name = "sd15"
    classes = {
        ("txt2img", False): "StableDiffusionPipeline",
        ("img2img", False): "StableDiffusionImg2ImgPipeline",
        ("inpaint", False): "StableDiffusionInpaintPipeline",
        ("txt2img", True): "StableDiffusionControlNetPipeline",
        ("img2img", True): "StableDiffusionControlNetImg2ImgPipeline",
        ("inpaint", True): "StableDiffusionControlNetInpaintPipeline",
    }

    def load_components(self, base: Path, vae, scheduler, dtype):
        from diffusers import UNet2DConditionModel
        from transformers import CLIPTextModel, CLIPTokenizer

        base = str(base)
        # Built from components rather than from_pretrained(folder) so that the
        # safety checker and feature extractor are not required on disk.
        return self.pipeline_class()(
            vae=vae,
            text_encoder=CLIPTextModel.from_pretrained(base, subfolder="text_encoder", dtype=dtype, local_files_only=True),
            tokenizer=CLIPTokenizer.from_pretrained(base, subfolder="tokenizer", local_files_only=True),
            unet=UNet2DConditionModel.from_pretrained(base, subfolder="unet", torch_dtype=dtype, local_files_only=True),
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )

    def _config_kwargs(self, pipe, cls) -> dict[str, Any]:
        return {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}

    def text_conditioning(self, pipe, dtype):
        from compel import Compel

        # compel splits text past CLIP's 77 tokens into windows instead of cutting it.
        return Compel(
            tokenizer=pipe.tokenizer,
            text_encoder=pipe.text_encoder,
            truncate_long_prompts=False,
            dtype_for_device_getter=lambda _device: dtype,
        )

    def encode(self, compel, pipe, prompt: str, negative: str, do_cfg: bool) -> Conditioning:
        positive = compel.build_conditioning_tensor(prompt)
        if not do_cfg:
            return Conditioning(embeds=positive)
        negative_embeds = compel.build_conditioning_tensor(negative)
        positive, negative_embeds = compel.pad_conditioning_tensors_to_same_length([positive, negative_embeds])
        return Conditioning(embeds=positive, negative=negative_embeds)


class SDXLFamily(_Family):
    name = "sdxl"
    classes = {
        ("txt2img", False): "StableDiffusionXLPipeline",
        ("img2img", False): "StableDiffusionXLImg2ImgPipeline",
        ("inpaint", False): "StableDiffusionXLInpaintPipeline",
        ("txt2img", True): "StableDiffusionXLControlNetPipeline",
        ("img2img", True): "StableDiffusionXLControlNetImg2ImgPipeline",
        ("inpaint", True): "StableDiffusionXLControlNetInpaintPipeline",
    }

    def load_components(self, base: Path, vae, scheduler, dtype):
        from diffusers import UNet2DConditionModel
        from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

        index = _read_json(Path(base) / "model_index.json")
        base = str(base)
        return self.pipeline_class()(
            vae=vae,
            text_encoder=CLIPTextModel.from_pretrained(base, subfolder="text_encoder", dtype=dtype, local_files_only=True),
            text_encoder_2=CLIPTextModelWithProjection.from_pretrained(
                base, subfolder="text_encoder_2", dtype=dtype, local_files_only=True
            ),
            tokenizer=CLIPTokenizer.from_pretrained(base, subfolder="tokenizer", local_files_only=True),
            tokenizer_2=CLIPTokenizer.from_pretrained(base, subfolder="tokenizer_2", local_files_only=True),
            unet=UNet2DConditionModel.from_pretrained(base, subfolder="unet", torch_dtype=dtype, local_files_only=True),
            scheduler=scheduler,
            force_zeros_for_empty_prompt=bool(index.get("force_zeros_for_empty_prompt", True)),
            # The invisible watermark would need another package and changes pixels; off as for every model here.
            add_watermarker=False,
        )

    def _config_kwargs(self, pipe, cls) -> dict[str, Any]:
        import inspect

        params = inspect.signature(cls.__init__).parameters
        extra: dict[str, Any] = {}
        if "force_zeros_for_empty_prompt" in params:
            extra["force_zeros_for_empty_prompt"] = pipe.config.force_zeros_for_empty_prompt
        if "add_watermarker" in params:
            extra["add_watermarker"] = False
        if "requires_aesthetics_score" in params:
            # The base model's added conditioning is sizes, not aesthetic scores (only the refiner's is).
            extra["requires_aesthetics_score"] = False
        return extra

    def text_conditioning(self, pipe, dtype):
        from compel import CompelForSDXL

        return CompelForSDXL(pipe)

    def encode(self, compel, pipe, prompt: str, negative: str, do_cfg: bool) -> Conditioning:
        zeros_for_empty = do_cfg and not negative and bool(getattr(pipe.config, "force_zeros_for_empty_prompt", False))
        if not do_cfg or zeros_for_empty:
            out = compel(prompt)
            conditioning = Conditioning(embeds=out.embeds, pooled=out.pooled_embeds)
            if zeros_for_empty:
                import torch

                conditioning.negative = torch.zeros_like(out.embeds)
                conditioning.negative_pooled = torch.zeros_like(out.pooled_embeds)
            return conditioning
        out = compel(prompt, negative_prompt=negative)
        return Conditioning(
            embeds=out.embeds,
            negative=out.negative_embeds,
            pooled=out.pooled_embeds,
            negative_pooled=out.negative_pooled_embeds,
        )


FAMILIES: dict[str, _Family] = {"sd15": SD15Family(), "sdxl": SDXLFamily()}


def family_of(spec) -> _Family:
    return FAMILIES[spec.family]
