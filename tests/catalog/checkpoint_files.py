"""Small safetensors files whose headers look like checkpoints of one layout or another.

Only headers are read when a model is added (``catalog.checkpoints``), so
the tensors are tiny except where the header must show a real shape.
"""

from __future__ import annotations

import numpy as np
from safetensors.numpy import save_file

from lookalike.catalog.checkpoints import CLIP_L_KEY, CROSS_ATTENTION, OLD_CLIP_L_KEY, UNET_IN, VAE_KEY

__all__ = ["CLIP_L_KEY", "OLD_CLIP_L_KEY", "TOKEN_KEY", "checkpoint_file", "sd15_like"]

TOKEN_KEY = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"


def checkpoint_file(path, tensors: dict[str, tuple[int, ...]]):
    save_file({k: np.zeros(shape, dtype=np.float16) for k, shape in tensors.items()}, str(path))
    return path


def sd15_like(path, *, unet_in=(320, 4, 3, 3), cross=768, vae=True, clip=True):
    tensors = {UNET_IN: unet_in, CROSS_ATTENTION: (320, cross)}
    if vae:
        tensors[VAE_KEY] = (1, 1)
    if clip:
        tensors[TOKEN_KEY] = (1, 1)
        tensors[CLIP_L_KEY] = (1, 1)
    return checkpoint_file(path, tensors)
