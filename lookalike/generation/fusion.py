"""Weight rewrites of the fast path: LoRAs folded into base weights, one q/k/v matmul per self-attention.

Why: a PEFT LoRA layer runs its base matmul plus two small ones and an add.
On a GPU at batch 1 the UNet is bound by kernel launches, and SD1.5 with the
FaceID LoRA (and the LCM LoRA) has hundreds of wrapped layers. While the
active LoRAs and their weights stay the same (the usual case: weight 1,
one scheduler), folding them into the base weights removes that cost.

How, so that the plain path's numbers are kept: the original base weights
are copied once; every change of the active LoRAs first writes the
originals back, lets PEFT select the new ones, then writes
``original + sum(delta)`` and switches PEFT's layers off. No LoRA at all is
therefore bit-exact with a model that never loaded one, and repeated
changes never accumulate rounding (as PEFT's merge/unmerge would in fp16).

The fused q/k/v weight of a self-attention is the concatenation of the three
effective weights (base + active LoRA deltas when PEFT is on), refreshed on
every LoRA change, so it never serves stale weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lookalike.generation.attention_io import as_tokens, finish


def _is_lora_layer(module) -> bool:
    # PEFT's tuner layers wrap the original module as ``base_layer``.
    return hasattr(module, "base_layer") and hasattr(module, "lora_A") and hasattr(module, "get_delta_weight")


def _active_deltas(layer):
    """Sum of the active adapters' delta weights, or None when PEFT runs none."""
    if getattr(layer, "disable_adapters", False) or getattr(layer, "merged", False):
        return None
    total = None
    for name in layer.active_adapters:
        if name not in layer.lora_A:
            continue
        delta = layer.get_delta_weight(name)
        total = delta if total is None else total + delta
    return total


def _uses_dora(layer) -> bool:
    return any(bool(v) for v in getattr(layer, "use_dora", {}).values())


@dataclass
class LoraFolder:
    """Keeps the UNet's LoRA layers folded into their base weights (see the module doc)."""

    unet: Any
    originals: dict[str, Any] = field(default_factory=dict)  # module name -> base weight as loaded

    def layers(self):
        return [(name, module) for name, module in self.unet.named_modules() if _is_lora_layer(module)]

    def supported(self) -> str | None:
        """None when folding can work; otherwise why not."""
        if any(_uses_dora(layer) for _, layer in self.layers()):
            return "a DoRA adapter is loaded (its magnitude vector cannot be folded linearly)"
        return None

    def restore(self) -> None:
        """Write the loaded base weights back (before PEFT is told about new adapters)."""
        import torch

        with torch.no_grad():
            for name, layer in self.layers():
                original = self.originals.get(name)
                if original is not None:
                    layer.base_layer.weight.copy_(original)

    def fold(self) -> int:
        """Fold what PEFT has active now into the base weights; returns how many layers changed.

        The caller switches PEFT's layers off afterwards (the deltas are in the weights now).
        """
        import torch

        changed = 0
        with torch.no_grad():
            for name, layer in self.layers():
                weight = layer.base_layer.weight
                if name not in self.originals:
                    # A layer wrapped since the last fold (a scheduler LoRA loaded
                    # on first use) was never folded, so its weight is the original.
                    self.originals[name] = weight.detach().clone()
                delta = _active_deltas(layer)
                if delta is None:
                    continue
                weight.copy_(self.originals[name] + delta.to(weight.dtype))
                changed += 1
        return changed


class FusedSelfAttnProcessor:
    """Self-attention with one matmul for q, k and v (``attn.lookalike_qkv``).

    The same arithmetic as diffusers' ``AttnProcessor2_0`` for SD's
    self-attention (no norms, no mask); anything else falls back to it.
    """

    def __init__(self) -> None:
        from diffusers.models.attention_processor import AttnProcessor2_0

        self._fallback = AttnProcessor2_0()

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args, **kwargs):
        import torch.nn.functional as F

        if encoder_hidden_states is not None or attention_mask is not None or not hasattr(attn, "lookalike_qkv"):
            return self._fallback(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
        residual = hidden_states
        hidden_states, map_shape = as_tokens(hidden_states)
        batch_size, length, _ = hidden_states.shape
        qkv = attn.lookalike_qkv(hidden_states)
        # Output features are [q | k | v], each heads x head_dim.
        query, key, value = qkv.view(batch_size, length, 3, attn.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(query, key, value, dropout_p=0.0, is_causal=False)
        out = out.transpose(1, 2).reshape(batch_size, length, -1).to(query.dtype)
        return finish(attn, out, residual, map_shape)


def _fusable(attn) -> str | None:
    from diffusers.models.attention_processor import AttnProcessor2_0

    if attn.is_cross_attention:
        return "cross-attention (k/v come from the text)"
    if type(attn.processor) is not AttnProcessor2_0:
        return f"processor {type(attn.processor).__name__}"
    if any(getattr(attn, n, None) is not None for n in ("spatial_norm", "group_norm", "norm_q", "norm_k")):
        return "normalisation inside the attention"
    return None


def _effective_weight(linear):
    """(weight, bias) that the module computes now: base plus the active LoRA deltas."""
    base = linear.base_layer if _is_lora_layer(linear) else linear
    weight = base.weight
    if base is not linear:
        delta = _active_deltas(linear)
        if delta is not None:
            weight = weight + delta.to(weight.dtype)
    return weight, base.bias


@dataclass
class QkvFuser:
    """Installs ``FusedSelfAttnProcessor`` on every fusable self-attention and keeps its weights current."""

    unet: Any
    fused: list[Any] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def install(self) -> int:
        import torch
        from diffusers.models.attention_processor import Attention

        processor = FusedSelfAttnProcessor()
        for name, module in self.unet.named_modules():
            if not isinstance(module, Attention):
                continue
            reason = _fusable(module)
            if reason is not None:
                self.skipped[name] = reason
                continue
            weight, bias = _effective_weight(module.to_q)
            out_features = sum(_effective_weight(p)[0].shape[0] for p in (module.to_q, module.to_k, module.to_v))
            has_bias = any(_effective_weight(p)[1] is not None for p in (module.to_q, module.to_k, module.to_v))
            module.lookalike_qkv = torch.nn.Linear(
                weight.shape[1], out_features, bias=has_bias, device=weight.device, dtype=weight.dtype
            ).requires_grad_(False)
            module.set_processor(processor)
            self.fused.append(module)
        self.refresh()
        return len(self.fused)

    def refresh(self) -> None:
        """Copy the current effective q/k/v weights in place (same storage, so CUDA graphs stay valid)."""
        import torch

        with torch.no_grad():
            for attn in self.fused:
                parts = [_effective_weight(p) for p in (attn.to_q, attn.to_k, attn.to_v)]
                attn.lookalike_qkv.weight.copy_(torch.cat([w for w, _ in parts]))
                if attn.lookalike_qkv.bias is not None:
                    biases = [b if b is not None else torch.zeros(w.shape[0], dtype=w.dtype, device=w.device) for w, b in parts]
                    attn.lookalike_qkv.bias.copy_(torch.cat(biases))
