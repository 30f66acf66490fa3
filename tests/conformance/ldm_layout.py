"""diffusers -> original LDM (CompVis/A1111) key names, written for the single-file tests.

This is the layout of ``v1-5-pruned-emaonly.safetensors`` and of the SD1.5
checkpoints users download: the UNet under ``model.diffusion_model.``
(``input_blocks``/``middle_block``/``output_blocks`` of ``ResBlock``,
``SpatialTransformer``, ``Downsample``/``Upsample``), the VAE under
``first_stage_model.`` (``down.N.block.M``, ``mid.attn_1`` with 1x1-conv
q/k/v), the CLIP text model under ``cond_stage_model.transformer.text_model.``. It is
written from the layout's structure, not from diffusers' converter, which
is the reference it is tested against: a wrong name here makes
``from_single_file`` fail, or give other weights and other images.
"""

from __future__ import annotations

import re

_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_VAE_RESNET = {"conv_shortcut": "nin_shortcut"}  # the rest (norm1, conv1, norm2, conv2) keep their names
_VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _resnet(rest: str, table: dict[str, str]) -> str:
    for ours, theirs in table.items():
        if rest.startswith(ours + "."):
            return theirs + rest[len(ours):]
    return rest


def unet_key(key: str, layers_per_block: int, up_has_attention: list[bool]) -> str:
    """One diffusers UNet2DConditionModel key as the LDM UNet names it."""
    fixed = {
        "time_embedding.linear_1": "time_embed.0",
        "time_embedding.linear_2": "time_embed.2",
        "conv_in": "input_blocks.0.0",
        "conv_norm_out": "out.0",
        "conv_out": "out.2",
    }
    for ours, theirs in fixed.items():
        if key.startswith(ours + "."):
            return theirs + key[len(ours):]
    per_down = layers_per_block + 1  # resnets (+ attentions) then one downsampler
    per_up = layers_per_block + 1  # up blocks have one resnet more, and the upsampler sits in the last
    if m := re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        block, kind, layer, rest = int(m[1]), m[2], int(m[3]), m[4]
        index = per_down * block + layer + 1
        return f"input_blocks.{index}.0.{_resnet(rest, _RESNET)}" if kind == "resnets" else f"input_blocks.{index}.1.{rest}"
    if m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
        return f"input_blocks.{per_down * (int(m[1]) + 1)}.0.op.{m[2]}"
    if m := re.match(r"mid_block\.resnets\.(\d+)\.(.*)", key):
        return f"middle_block.{2 * int(m[1])}.{_resnet(m[2], _RESNET)}"
    if m := re.match(r"mid_block\.attentions\.0\.(.*)", key):
        return f"middle_block.1.{m[1]}"
    if m := re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        block, kind, layer, rest = int(m[1]), m[2], int(m[3]), m[4]
        index = per_up * block + layer
        return f"output_blocks.{index}.0.{_resnet(rest, _RESNET)}" if kind == "resnets" else f"output_blocks.{index}.1.{rest}"
    if m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", key):
        block = int(m[1])
        slot = 2 if up_has_attention[block] else 1
        return f"output_blocks.{per_up * block + layers_per_block}.{slot}.conv.{m[2]}"
    raise KeyError(f"no LDM name for UNet key {key}")


def vae_key(key: str, num_blocks: int) -> str:
    """One diffusers AutoencoderKL key as the LDM autoencoder names it."""
    if key.startswith(("quant_conv.", "post_quant_conv.")):
        return key
    part, rest = key.split(".", 1)  # encoder / decoder
    if rest.startswith("conv_norm_out."):
        return f"{part}.norm_out.{rest[len('conv_norm_out.'):]}"
    if rest.startswith(("conv_in.", "conv_out.")):
        return key
    if m := re.match(r"(down|up)_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", rest):
        where, block = m[1], int(m[2])
        level = block if where == "down" else num_blocks - 1 - block  # the decoder counts from the bottom
        return f"{part}.{where}.{level}.block.{m[3]}.{_resnet(m[4], _VAE_RESNET)}"
    if m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", rest):
        return f"{part}.down.{m[1]}.downsample.conv.{m[2]}"
    if m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", rest):
        return f"{part}.up.{num_blocks - 1 - int(m[1])}.upsample.conv.{m[2]}"
    if m := re.match(r"mid_block\.resnets\.(\d+)\.(.*)", rest):
        return f"{part}.mid.block_{int(m[1]) + 1}.{_resnet(m[2], _VAE_RESNET)}"
    if m := re.match(r"mid_block\.attentions\.0\.(.*)", rest):
        inner = m[1]
        for ours, theirs in _VAE_ATTENTION.items():
            if inner.startswith(ours + "."):
                return f"{part}.mid.attn_1.{theirs}{inner[len(ours):]}"
    raise KeyError(f"no LDM name for VAE key {key}")


def ldm_state_dict(unet, vae, text_encoder) -> dict:
    """The three models' weights in one dict, named as an original SD1.x checkpoint names them."""
    up_has_attention = [hasattr(block, "attentions") and block.attentions is not None for block in unet.up_blocks]
    out = {}
    for key, value in unet.state_dict().items():
        out["model.diffusion_model." + unet_key(key, unet.config.layers_per_block, up_has_attention)] = value
    for key, value in vae.state_dict().items():
        name = vae_key(key, len(vae.config.block_out_channels))
        if ".mid.attn_1." in name and name.endswith(".weight") and value.ndim == 2:
            value = value[:, :, None, None]  # the LDM autoencoder's attention is 1x1 convolutions
        out["first_stage_model." + name] = value
    for key, value in text_encoder.state_dict().items():
        # transformers 5 names CLIPTextModel's keys without the "text_model." that
        # transformers 4 (and so every published checkpoint) has.
        key = key if key.startswith("text_model.") else "text_model." + key
        out["cond_stage_model.transformer." + key] = value
    return {k: v.detach().contiguous().clone() for k, v in out.items()}
