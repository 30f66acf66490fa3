"""IP-Adapter attention with its scale in a tensor, so a compiled UNet serves every FaceID weight.

diffusers' ``IPAdapterAttnProcessor2_0`` keeps the scale as a Python float
and skips the adapter when it is 0. torch.compile specialises on such
floats: every new weight (0.5, 0.7, 1.3...) compiles the UNet again, and
after a handful the compiled graph is abandoned (measured on the tiny model:
five weights, five graphs). Here the scale is a buffer of the processor
(a graph input; filled in place, so CUDA graphs keep its address) and the
adapter's attention always runs: its four tokens cost little, and at scale
0 adding ``0 * x`` leaves the text attention's result bit for bit.

Same arithmetic as diffusers' processor for SD1.5's cross-attention (no
masks, no norms); anything else goes to the original processor.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lookalike.generation.attention_io import as_tokens, finish


class TensorScaleIPProcessor(torch.nn.Module):
    def __init__(self, original) -> None:
        super().__init__()
        self.original = original  # keeps to_k_ip / to_v_ip (and their weights) where they were
        weight = original.to_k_ip[0].weight
        self.register_buffer("scale_tensor", torch.zeros(len(original.to_k_ip), device=weight.device, dtype=weight.dtype))
        self.per_person: list | None = None  # [[s1, s2, ...]] while regions are in use

    def forward(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                scale=1.0, ip_adapter_masks=None):
        return self.__call__(attn, hidden_states, encoder_hidden_states, attention_mask, temb, scale, ip_adapter_masks)

    # ``ip_adapter_masks`` is named: diffusers' Attention passes a processor only
    # the keyword arguments its signature names, and masks must reach the fallback.
    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                 scale=1.0, ip_adapter_masks=None):
        plain = (
            isinstance(encoder_hidden_states, tuple)
            and attention_mask is None
            and ip_adapter_masks is None
            and attn.spatial_norm is None
            and attn.group_norm is None
            and not attn.norm_cross
            and attn.norm_q is None
            and attn.norm_k is None
        )
        if not plain:
            # Several people: one scale per person's region (IpScaler.set kept them); else the tensor's.
            self.original.scale = self.per_person or [float(s) for s in self.scale_tensor]
            return self.original(
                attn, hidden_states, encoder_hidden_states, attention_mask, temb, scale=scale,
                ip_adapter_masks=ip_adapter_masks,
            )
        text, ip_states = encoder_hidden_states
        residual = hidden_states
        hidden_states, map_shape = as_tokens(hidden_states)
        batch_size = hidden_states.shape[0]

        def heads(x):
            return x.view(batch_size, -1, attn.heads, x.shape[-1] // attn.heads).transpose(1, 2)

        query = heads(attn.to_q(hidden_states))
        out = F.scaled_dot_product_attention(query, heads(attn.to_k(text)), heads(attn.to_v(text)))
        for index, (states, to_k_ip, to_v_ip) in enumerate(
            zip(ip_states, self.original.to_k_ip, self.original.to_v_ip, strict=True)
        ):
            ip_out = F.scaled_dot_product_attention(query, heads(to_k_ip(states)), heads(to_v_ip(states)))
            out = out + self.scale_tensor[index] * ip_out
        out = out.transpose(1, 2).reshape(batch_size, -1, attn.heads * query.shape[-1]).to(query.dtype)
        return finish(attn, out, residual, map_shape)


class IpScaler:
    """Puts ``TensorScaleIPProcessor`` on every IP-Adapter processor of a UNet and sets their scale."""

    def __init__(self, unet) -> None:
        from diffusers.models.attention_processor import IPAdapterAttnProcessor2_0

        self.processors: list[TensorScaleIPProcessor] = []
        replaced: dict[str, Any] = {}
        for name, processor in unet.attn_processors.items():
            if type(processor) is IPAdapterAttnProcessor2_0:
                replaced[name] = TensorScaleIPProcessor(processor)
                self.processors.append(replaced[name])
            else:
                replaced[name] = processor
        if self.processors:
            unet.set_attn_processor(replaced)

    def __len__(self) -> int:
        return len(self.processors)

    def set(self, scale: float, per_person=None) -> None:
        """The adapter's scale; ``per_person`` ([[s1, s2...]]) when each person has a region (masked fallback)."""
        regions = per_person if isinstance(per_person, list) else None
        with torch.no_grad():
            for processor in self.processors:
                processor.scale_tensor.fill_(scale)
                processor.per_person = regions
