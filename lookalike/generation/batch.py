"""Which requests can share one pipeline call (no torch here).

One diffusers call runs one scheduler, one size, one step count, one guidance
scale, one set of adapter scales and regions, one set of LoRAs and one mode
(text-to-image, image-to-image, inpainting, ControlNet) for every image in
it; those are the call's key. What differs per image goes in as per-image
tensors: the text (and negative) conditioning, the identity embeddings and
the seed (one CPU generator per image). So requests that agree on the key
run as one batch, and each image is the one its request would get alone (up
to the rounding of batched matmuls).

Adapter scales are part of the key rather than per image because diffusers'
IP-Adapter processors hold one scale per layer (per region with several
people); requests whose FaceID weights differ run as separate calls, in the
same ``generate_batch``. A request that starts from an input image or a
control image runs in a call of its own (its image is the call's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lookalike.generation.identity import FacePlan
from lookalike.generation.request import GenerationRequest
from lookalike.prompts.options import GenerationOptions


@dataclass(frozen=True)
class PreparedRequest:
    """A request with everything resolved that the call needs: seeds, size, steps, identities."""

    request: GenerationRequest
    options: GenerationOptions  # with its seed drawn
    seeds: list[int]
    steps: int
    cfg: float
    width: int
    height: int
    faces: FacePlan
    deepcache_interval: int  # 0: off
    tiny_vae: bool

    @property
    def mode(self) -> str:
        init = self.request.init
        if init is None:
            return "txt2img"
        return "inpaint" if init.mask is not None else "img2img"

    @property
    def call_key(self) -> tuple[Any, ...]:
        request = self.request
        images = (id(request.init), id(request.control)) if request.init or request.control else ()
        return (
            request.base_model.id,
            self.width,
            self.height,
            self.steps,
            self.cfg,
            self.options.scheduler,
            self.faces.key,
            (self.options.faceid_adapter, self.options.faceid_shortcut, self.options.faceid_s_scale),
            tuple((lora.name, lora.path, round(lora.weight, 6)) for lora in request.loras),
            self.mode,
            images,
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
