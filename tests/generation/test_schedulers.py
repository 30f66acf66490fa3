"""Astria's scheduler names as diffusers schedulers on the model's own noise schedule."""

from __future__ import annotations

import pytest

from lookalike.catalog.tiny import SD15_SCHEDULER_CONFIG
from lookalike.errors import UnknownSchedulerError
from lookalike.generation.schedulers import DIFFUSERS_SCHEDULERS, make_scheduler
from lookalike.prompts.schedulers import SCHEDULER_NAMES


def test_every_name_has_a_diffusers_mapping():
    assert set(DIFFUSERS_SCHEDULERS) == set(SCHEDULER_NAMES)


@pytest.mark.parametrize("name", SCHEDULER_NAMES)
def test_schedulers_keep_the_models_betas(name):
    scheduler = make_scheduler(name, {**SD15_SCHEDULER_CONFIG, "_class_name": "PNDMScheduler"})
    assert scheduler.config.beta_schedule == "scaled_linear"
    assert scheduler.config.beta_end == 0.012
    assert "skip_prk_steps" not in scheduler.config


def test_karras_and_sde_variants():
    assert make_scheduler("dpm++2m_karras", SD15_SCHEDULER_CONFIG).config.use_karras_sigmas is True
    assert make_scheduler("dpm++2m", SD15_SCHEDULER_CONFIG).config.use_karras_sigmas is False
    assert make_scheduler("dpm++sde", SD15_SCHEDULER_CONFIG).config.algorithm_type == "sde-dpmsolver++"
    assert type(make_scheduler("euler_a", SD15_SCHEDULER_CONFIG)).__name__ == "EulerAncestralDiscreteScheduler"


def test_unknown_name():
    with pytest.raises(UnknownSchedulerError) as info:
        make_scheduler("heun", SD15_SCHEDULER_CONFIG)
    assert "dpm++2m_karras" in info.value.message
