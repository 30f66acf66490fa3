"""Which requests can share one pipeline call (no torch here).

One diffusers call runs one scheduler, one size, one step count, one guidance
scale, one adapter scale and one LoRA weight for every image in it; those
are the call's key. What differs per image goes in as per-image tensors:
the text (and negative) conditioning, the identity embedding and the seed
(one CPU generator per image). So requests that agree on the key run as one
batch, and each image is the one its request would get alone (up to the
rounding of batched matmuls).

Adapter scale is part of the key rather than per image because diffusers'
IP-Adapter processors hold one scale per layer; requests whose FaceID
weights differ run as separate calls, in the same ``generate_batch``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lookalike.generation.identity import IdentityBlend
from lookalike.generation.request import GenerationRequest
from lookalike.prompts.options import GenerationOptions


@dataclass(frozen=True)
class PreparedRequest:
    """A request with everything resolved that the call needs: seeds, size, steps, identity."""

    request: GenerationRequest
    options: GenerationOptions  # with its seed drawn
    seeds: list[int]
    steps: int
    cfg: float
    width: int
    height: int
    blend: IdentityBlend
    deepcache_interval: int  # 0: off
    tiny_vae: bool

    @property
    def call_key(self) -> tuple[Any, ...]:
        blend = self.blend
        return (
            self.request.base_model.id,
            self.width,
            self.height,
            self.steps,
            self.cfg,
            self.options.scheduler,
            round(blend.scale, 6) if blend.active else 0.0,
            self.deepcache_interval,
            self.tiny_vae,
        )


def group_by_call(prepared: list[PreparedRequest]) -> list[list[int]]:
    """Indices of ``prepared`` in groups that can share a call, in order of first appearance."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for index, item in enumerate(prepared):
        groups.setdefault(item.call_key, []).append(index)
    return list(groups.values())


def resolve_deepcache(options_value: int | None, settings_value: int) -> int:
    value = settings_value if options_value is None else options_value
    return value if value >= 2 else 0
