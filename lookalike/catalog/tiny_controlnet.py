"""Tiny ControlNets for the built-in tiny models: ``ControlNetModel.from_unet`` on the tiny UNet, seeded.

Written in the layout of a pulled ControlNet repo (``config.json`` and
``diffusion_pytorch_model.safetensors``), so the engine loads it with the same
``ControlNetModel.from_pretrained(folder)`` as a real one. ``from_unet`` starts
the output ("zero") convolutions at zero, as training does; here they get
small seeded random weights instead, so a tiny ControlNet changes the image
and a test can tell whether the control image reached the UNet.
"""

from __future__ import annotations

import json
from pathlib import Path

from lookalike.catalog.base_models import BaseModelSpec
from lookalike.catalog.controlnets import ControlNetSpec
from lookalike.fileio import write_folder_once

# Bump when what is written here changes; an older folder is rewritten.
TINY_CONTROLNET_VERSION = 1
MARKER = "lookalike-tiny-controlnet.json"
SEED = 0
ZERO_CONV_STD = 0.05
# The real ControlNets' condition encoder widths; it halves the size once per width after the first.
CONDITION_CHANNELS = (16, 32, 96, 256)


def ensure_tiny_controlnet(models_dir: Path, base_model: BaseModelSpec, spec: ControlNetSpec) -> Path:
    """The tiny ControlNet's folder, written first (from the tiny model's UNet) if missing or stale."""
    from lookalike.catalog.tiny import TINY_VERSION, ensure_tiny_model

    root = Path(models_dir) / spec.source.local_dir
    stamp = {"version": TINY_CONTROLNET_VERSION, "tiny_version": TINY_VERSION, "kind": spec.kind, "seed": SEED}
    if _is_current(root, stamp):
        return root
    model_dir = ensure_tiny_model(models_dir, base_model)

    def write(staging: Path) -> None:
        write_tiny_controlnet(staging, model_dir, seed=SEED)
        (staging / MARKER).write_text(json.dumps(stamp) + "\n")

    # As the tiny models: processes sharing a models folder take turns, and
    # the folder is written aside and swapped in whole.
    return write_folder_once(root, lambda path: _is_current(path, stamp), write)


def write_tiny_controlnet(folder: Path, model_dir: Path, *, seed: int = SEED) -> None:
    """A ControlNet made from the UNet of the diffusers pipeline folder ``model_dir``, saved into ``folder``.

    Its condition encoder shrinks the control image by the VAE's factor (8 for
    the real models, 2 for the tiny ones), so the two meet at latent size.
    """
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(str(Path(model_dir) / "unet"))
    vae_config = json.loads((Path(model_dir) / "vae" / "config.json").read_text())
    halvings = len(vae_config["block_out_channels"]) - 1
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=CONDITION_CHANNELS[: halvings + 1])
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for conv in (*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block):
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * ZERO_CONV_STD)
            conv.bias.zero_()
        out = controlnet.controlnet_cond_embedding.conv_out
        out.weight.copy_(torch.randn(out.weight.shape, generator=generator) * ZERO_CONV_STD)
    folder.mkdir(parents=True, exist_ok=True)
    controlnet.save_pretrained(str(folder), safe_serialization=True)


def _is_current(root: Path, stamp: dict) -> bool:
    marker = root / MARKER
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()) == stamp
    except (OSError, ValueError):
        return False
