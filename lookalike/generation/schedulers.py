"""Astria's scheduler names as diffusers schedulers.

Each name maps to a diffusers class and the config overrides that make it
the sampler A1111/Astria users know by that name. Every scheduler is built
from the base model's own ``scheduler_config.json`` so that the noise
schedule (betas, prediction type) stays the model's.
"""

from __future__ import annotations

import inspect
from typing import Any

from lookalike.prompts.schedulers import get_scheduler_info

_DPM = "DPMSolverMultistepScheduler"

# name -> (diffusers class, overrides)
DIFFUSERS_SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "dpm++2m": (_DPM, {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": False}),
    "dpm++2m_karras": (_DPM, {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True}),
    # A1111's "DPM++ SDE" is k-diffusion's singlestep SDE solver, which in
    # diffusers needs torchsde; the multistep SDE variant samples the same
    # way (stochastic, seeded) with no extra dependency.
    "dpm++sde": (_DPM, {"algorithm_type": "sde-dpmsolver++", "solver_order": 2, "use_karras_sigmas": False}),
    "dpm++sde_karras": (_DPM, {"algorithm_type": "sde-dpmsolver++", "solver_order": 2, "use_karras_sigmas": True}),
    "ddim": ("DDIMScheduler", {"set_alpha_to_one": False}),
    "lcm": ("LCMScheduler", {}),
    "tcd": ("TCDScheduler", {}),
}


def make_scheduler(name: str, base_config: dict[str, Any]):
    """A fresh scheduler of the named kind on the model's own noise schedule."""
    import diffusers

    info = get_scheduler_info(name)
    class_name, overrides = DIFFUSERS_SCHEDULERS[info.name]
    cls = getattr(diffusers, class_name)
    # Keys another class wrote (PNDM's skip_prk_steps) would be ignored with a
    # warning on every request; drop them here instead.
    accepted = set(inspect.signature(cls.__init__).parameters)
    config = {k: v for k, v in base_config.items() if k in accepted}
    config.update(overrides)
    return cls.from_config(config)
