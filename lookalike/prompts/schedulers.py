"""Scheduler names as users write them (Astria's), with their defaults.

This is the vocabulary of the ``scheduler`` field; how each name becomes a
diffusers scheduler lives in ``lookalike.generation.schedulers``.
"""

from __future__ import annotations

from dataclasses import dataclass

from lookalike.errors import UnknownSchedulerError


@dataclass(frozen=True)
class SchedulerInfo:
    name: str
    label: str  # A1111's sampler name, written into PNG metadata
    default_steps: int = 30
    default_cfg: float = 5.0
    # Few-step schedulers need a distillation LoRA on real models.
    needs_lora: bool = False


SCHEDULERS: dict[str, SchedulerInfo] = {
    s.name: s
    for s in (
        SchedulerInfo("euler", "Euler"),
        SchedulerInfo("euler_a", "Euler a"),
        SchedulerInfo("dpm++2m", "DPM++ 2M", default_steps=25),
        SchedulerInfo("dpm++2m_karras", "DPM++ 2M Karras", default_steps=25),
        SchedulerInfo("dpm++sde", "DPM++ 2M SDE", default_steps=25),
        SchedulerInfo("dpm++sde_karras", "DPM++ 2M SDE Karras", default_steps=25),
        SchedulerInfo("ddim", "DDIM"),
        # Distilled for guidance ~1, where CFG is off and each step costs half.
        SchedulerInfo("lcm", "LCM", default_steps=6, default_cfg=1.0, needs_lora=True),
        SchedulerInfo("tcd", "TCD", default_steps=4, default_cfg=1.0, needs_lora=True),
    )
}

SCHEDULER_NAMES: tuple[str, ...] = tuple(SCHEDULERS)
DEFAULT_SCHEDULER = "dpm++2m_karras"


def get_scheduler_info(name: str) -> SchedulerInfo:
    info = SCHEDULERS.get(name.strip().lower()) if isinstance(name, str) else None
    if info is None:
        raise UnknownSchedulerError(
            f"Unknown scheduler {name!r}. Valid: {', '.join(SCHEDULER_NAMES)}.",
            field="scheduler",
            details={"valid": list(SCHEDULER_NAMES)},
        )
    return info
