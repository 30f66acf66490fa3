"""The shape handling our attention processors share with diffusers' own.

An attention processor gets hidden states as tokens (B, N, C) or, in the
UNet's ResNet-adjacent blocks, as a feature map (B, C, H, W); it attends over
tokens and must hand back what it was given, after the output projection,
the residual and the rescale. ``fusion.FusedSelfAttnProcessor`` and
``ip_scale.TensorScaleIPProcessor`` do only their middle part themselves.
"""

from __future__ import annotations


def as_tokens(hidden_states):
    """(tokens, map_shape): a feature map flattened to (B, H*W, C); map_shape None when it came as tokens."""
    if hidden_states.ndim != 4:
        return hidden_states, None
    batch, channels, height, width = hidden_states.shape
    return hidden_states.view(batch, channels, height * width).transpose(1, 2), (batch, channels, height, width)


def finish(attn, out, residual, map_shape):
    """Output projection and dropout, back to the input's shape, residual, rescale: as diffusers ends."""
    out = attn.to_out[1](attn.to_out[0](out))
    if map_shape is not None:
        out = out.transpose(-1, -2).reshape(*map_shape)
    if attn.residual_connection:
        out = out + residual
    return out / attn.rescale_output_factor
