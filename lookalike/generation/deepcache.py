"""DeepCache-style feature reuse: the UNet's deep blocks run on every N-th step only.

The idea (Ma et al., "DeepCache", 2023): from one denoising step to the
next, the UNet's deep features change little, while the shallow ones carry
the detail. So on a full step the whole UNet runs and the input of its last
up block (everything the deep part computed) is kept; on the steps between,
only ``conv_in``, the first down block, the last up block and the output
layers run, and the kept features stand in for the deep part.

Done here by swapping the deep blocks for stand-ins during one pipeline
call (``with DeepCache(unet, interval): pipe(...)``), so diffusers' own
``UNet2DConditionModel.forward`` is used unchanged. The call counter counts
UNet calls, one per step (CFG batches both halves into one call).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class _State:
    interval: int
    calls: int = 0
    full: bool = True
    kept: Any = None
    full_calls: int = 0
    reused_calls: int = 0


class _StandIn(torch.nn.Module):
    """Runs ``block`` on full steps; on the others returns shapes the UNet's forward can carry on with."""

    def __init__(self, block, state: _State, kind: str, keeps: bool) -> None:
        super().__init__()
        self.block = block
        self.kind = kind
        self.keeps = keeps
        self._state = state
        # The UNet's forward reads these to pick the call and to slice the skips.
        self.has_cross_attention = getattr(block, "has_cross_attention", False)
        if hasattr(block, "resnets"):
            self.resnets = block.resnets

    def forward(self, *args, **kwargs):
        state = self._state
        if state.full:
            out = self.block(*args, **kwargs)
            if self.keeps:
                state.kept = out
            return out
        hidden = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]
        if self.kind == "down":
            # The skips of deep down blocks are read only by deep up blocks, which are stand-ins too.
            count = len(self.block.resnets) + (1 if getattr(self.block, "downsamplers", None) else 0)
            return hidden, (hidden,) * count
        if self.kind == "up" and self.keeps:
            return state.kept
        return hidden


class DeepCache:
    """Context manager for one pipeline call; ``interval`` 2 runs the full UNet on steps 0, 2, 4..."""

    def __init__(self, unet, interval: int) -> None:
        if interval < 2:
            raise ValueError("DeepCache needs an interval of at least 2 (1 would run every step in full)")
        if len(unet.down_blocks) < 2 or len(unet.up_blocks) < 2:
            raise ValueError("DeepCache needs a UNet with at least two down and two up blocks")
        self.unet = unet
        self.state = _State(interval=interval)
        self._originals: list[tuple[Any, int | None, Any]] = []
        self._hook = None

    def __enter__(self) -> DeepCache:
        unet, state = self.unet, self.state
        for i in range(1, len(unet.down_blocks)):
            self._swap(unet.down_blocks, i, "down", keeps=False)
        if unet.mid_block is not None:
            self._swap(unet, None, "mid", keeps=False)
        last_deep = len(unet.up_blocks) - 2
        for i in range(len(unet.up_blocks) - 1):
            self._swap(unet.up_blocks, i, "up", keeps=i == last_deep)

        def before_call(_module, _args):
            state.full = state.calls % state.interval == 0 or state.kept is None
            state.calls += 1
            if state.full:
                state.full_calls += 1
            else:
                state.reused_calls += 1

        self._hook = unet.register_forward_pre_hook(before_call)
        return self

    def _swap(self, owner, index: int | None, kind: str, keeps: bool) -> None:
        block = owner.mid_block if index is None else owner[index]
        stand_in = _StandIn(block, self.state, kind, keeps)
        if index is None:
            owner.mid_block = stand_in
        else:
            owner[index] = stand_in
        self._originals.append((owner, index, block))

    def __exit__(self, *exc) -> None:
        if self._hook is not None:
            self._hook.remove()
        for owner, index, block in reversed(self._originals):
            if index is None:
                owner.mid_block = block
            else:
                owner[index] = block
        self._originals.clear()
        self.state.kept = None
