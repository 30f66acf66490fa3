"""What a user's ``.safetensors`` checkpoint is, read from its header alone (no tensor is loaded).

A safetensors file starts with the little-endian length of a JSON header
that names every tensor with its dtype and shape, so the layout and the
family can be told in microseconds, before a 2 to 7 GB file is loaded:

* SD1.x in the original LDM layout (A1111, CompVis, civitai downloads):
  ``model.diffusion_model.*``, ``first_stage_model.*`` and
  ``cond_stage_model.transformer.*`` (CLIP ViT-L/14), cross-attention 768;
* SD2.x: the same UNet keys with OpenCLIP's text model
  (``cond_stage_model.model.*``), cross-attention 1024;
* SDXL: ``conditioner.embedders.*``;
* a diffusers component file (``down_blocks.*``), which is not a whole checkpoint.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

from lookalike.errors import InvalidFieldError

_MAX_HEADER = 100 * 1024 * 1024  # real headers are a few hundred kB
UNET_IN = "model.diffusion_model.input_blocks.0.0.weight"
CROSS_ATTENTION = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
VAE_KEY = "first_stage_model.decoder.conv_in.weight"
# The key diffusers' converter recognises CLIP ViT-L/14 by (``is_clip_model``).
CLIP_L_KEY = "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight"
# The layout of checkpoints saved with transformers before 4.x's ``text_model``; diffusers cannot convert it.
OLD_CLIP_L_KEY = "cond_stage_model.transformer.embeddings.position_embedding.weight"
# SD1.5's UNet: conv_in 4 -> 320 channels.
SD15_UNET_IN_SHAPE = (320, 4, 3, 3)


@dataclass(frozen=True)
class CheckpointInfo:
    family: str  # "sd15", "sd2", "sdxl"
    tensors: int
    unet_in_shape: tuple[int, ...]
    cross_attention_dim: int | None

    @property
    def standard_sd15(self) -> bool:
        """SD1.5's own UNet width and input channels (not an inpainting or a resized model)."""
        return self.family == "sd15" and self.unet_in_shape == SD15_UNET_IN_SHAPE


def read_header(path: Path) -> dict[str, dict]:
    """Tensor name -> {dtype, shape, data_offsets} of a safetensors file."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
            (length,) = struct.unpack("<Q", head) if len(head) == 8 else (0,)
            if not 2 <= length <= _MAX_HEADER:
                raise ValueError(f"header length {length}")
            header = json.loads(fh.read(length))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InvalidFieldError(
            f"{path} is not a readable .safetensors file ({exc}).",
            field="path",
            hint="Give the path of a .safetensors checkpoint as A1111 or civitai publish them.",
        ) from exc
    if not isinstance(header, dict):
        raise InvalidFieldError(f"{path} has no safetensors header.", field="path")
    header.pop("__metadata__", None)
    return header


def inspect_checkpoint(path: Path) -> CheckpointInfo:
    """The family of a checkpoint in the original LDM layout, or a typed error saying what the file is instead."""
    header = read_header(path)
    names = set(header)
    if any(n.startswith("conditioner.embedders.") for n in names):
        return CheckpointInfo("sdxl", len(names), tuple(header.get(UNET_IN, {}).get("shape", ())), 2048)
    if UNET_IN not in names:
        what = (
            "a diffusers component file (down_blocks.* keys), not a whole checkpoint"
            if any(n.startswith(("down_blocks.", "encoder.down_blocks.")) for n in names)
            else "not a Stable Diffusion checkpoint in the original (A1111/CompVis) layout"
        )
        raise InvalidFieldError(
            f"{path} is {what}: it has no {UNET_IN}.",
            field="path",
            hint="Add the single .safetensors file that holds UNet, VAE and text encoder "
            "(model.diffusion_model.*, first_stage_model.*, cond_stage_model.*), or a diffusers "
            "folder as a `local` model.",
        )
    cross = header.get(CROSS_ATTENTION, {}).get("shape")
    cross_dim = int(cross[1]) if cross and len(cross) == 2 else None
    unet_in = tuple(int(v) for v in header[UNET_IN].get("shape", ()))
    if any(n.startswith("cond_stage_model.model.") for n in names) or cross_dim == 1024:
        return CheckpointInfo("sd2", len(names), unet_in, cross_dim)
    if CLIP_L_KEY not in names and OLD_CLIP_L_KEY in names:
        raise InvalidFieldError(
            f"{path} keeps its text encoder in an old layout (cond_stage_model.transformer.embeddings.*, "
            "without text_model.), which diffusers' converter does not read.",
            field="path",
            hint="Re-save the checkpoint with a current tool (A1111, ComfyUI, kohya) and add that file.",
        )
    missing = [k for k in (VAE_KEY, CLIP_L_KEY) if k not in names]
    if missing:
        raise InvalidFieldError(
            f"{path} has SD1.x UNet keys but lacks {', '.join(missing)}: "
            "a checkpoint without its VAE or text encoder baked in.",
            field="path",
            hint="Use a full checkpoint (UNet, VAE and text encoder in one file).",
        )
    return CheckpointInfo("sd15", len(names), unet_in, cross_dim)
