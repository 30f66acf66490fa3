"""Generation options: validation, sizes, seeds, schedulers."""

from __future__ import annotations

import pytest

from lookalike.errors import InvalidFieldError, UnknownSchedulerError
from lookalike.prompts.options import (
    ASPECT_RATIOS,
    MAX_SIDE,
    MIN_SIDE,
    GenerationOptions,
    aspect_size,
)
from lookalike.prompts.schedulers import SCHEDULER_NAMES


def test_defaults_come_from_the_scheduler():
    opts = GenerationOptions()
    assert opts.resolved_steps() == 25 and opts.resolved_cfg() == 5.0
    lcm = GenerationOptions(scheduler="lcm")
    assert 4 <= lcm.resolved_steps() <= 8 and lcm.resolved_cfg() == 1.0
    assert GenerationOptions(scheduler="lcm", steps=4, cfg_scale=2).resolved_steps() == 4


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"num_images": 0}, "num_images"),
        ({"num_images": 9}, "num_images"),
        ({"num_images": 2.0}, "num_images"),
        ({"steps": 0}, "steps"),
        ({"steps": 51}, "steps"),
        ({"cfg_scale": -0.5}, "cfg_scale"),
        ({"cfg_scale": 15.5}, "cfg_scale"),
        ({"cfg_scale": float("nan")}, "cfg_scale"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**32}, "seed"),
        ({"seed": True}, "seed"),
        ({"w": 500, "h": 512}, "w"),
        ({"w": 512, "h": 30}, "h"),
        ({"w": 4096, "h": 512}, "w"),
        ({"w": 512}, "h"),
        ({"h": 512}, "w"),
        ({"w": 512, "h": 512, "aspect_ratio": "1:1"}, "aspect_ratio"),
        ({"aspect_ratio": "7:5"}, "aspect_ratio"),
        ({"negative_prompt": 3}, "negative_prompt"),
    ],
)
def test_invalid_fields_name_the_field(kwargs, field):
    with pytest.raises(InvalidFieldError) as info:
        GenerationOptions(**kwargs)
    assert info.value.field == field
    assert info.value.code == "invalid_field"


def test_not_a_multiple_of_eight_hints_the_nearest():
    with pytest.raises(InvalidFieldError) as info:
        GenerationOptions(w=510, h=512)
    assert "512" in info.value.hint


def test_unknown_scheduler_lists_the_valid_ones():
    with pytest.raises(UnknownSchedulerError) as info:
        GenerationOptions(scheduler="k_lms")
    assert info.value.code == "unknown_scheduler" and info.value.field == "scheduler"
    for name in SCHEDULER_NAMES:
        assert name in info.value.message


def test_scheduler_names_cover_astria_and_ddim():
    astria = {"euler", "euler_a", "dpm++2m_karras", "dpm++sde_karras", "dpm++2m", "dpm++sde", "lcm", "tcd"}
    assert astria | {"ddim"} == set(SCHEDULER_NAMES)
    assert GenerationOptions(scheduler=" LCM ").scheduler == "lcm"


def test_sizes():
    assert GenerationOptions().size_for(512) == (512, 512)
    assert GenerationOptions(w=640, h=384).size_for(512) == (640, 384)
    assert GenerationOptions(aspect_ratio="2:3").size_for(512) == (416, 624)


@pytest.mark.parametrize("ratio", list(ASPECT_RATIOS))
@pytest.mark.parametrize("native", [512, 1024])
def test_aspect_ratios_are_multiples_of_eight_near_native_area(ratio, native):
    w, h = aspect_size(ratio, native)
    rw, rh = ASPECT_RATIOS[ratio]
    assert w % 8 == 0 and h % 8 == 0
    assert abs(w / h - rw / rh) / (rw / rh) < 0.05
    assert abs(w * h - native * native) / (native * native) < 0.06
    assert (w > h) == (rw > rh) and (w == h) == (rw == rh)


def test_image_seeds_count_up_and_wrap():
    assert GenerationOptions(seed=10, num_images=3).image_seeds() == [10, 11, 12]
    assert GenerationOptions(seed=2**32 - 1, num_images=2).image_seeds() == [2**32 - 1, 0]
    with pytest.raises(ValueError):
        GenerationOptions().image_seeds()


def test_from_fields_reads_form_strings():
    opts = GenerationOptions.from_fields(
        {"num_images": "4", "seed": "42", "cfg_scale": "3.5", "w": "", "scheduler": "euler_a", "title": "x"}
    )
    assert (opts.num_images, opts.seed, opts.cfg_scale, opts.w, opts.scheduler) == (4, 42, 3.5, None, "euler_a")
    with pytest.raises(InvalidFieldError) as info:
        GenerationOptions.from_fields({"steps": "ten"})
    assert info.value.field == "steps"
    with pytest.raises(InvalidFieldError) as info:
        GenerationOptions.from_fields({"num_images": "2.5"})
    assert info.value.field == "num_images"


@pytest.mark.parametrize("ratio", list(ASPECT_RATIOS))
@pytest.mark.parametrize("native", [64, 128, 512, 1024, 2048])
def test_aspect_sizes_stay_within_the_side_limits(ratio, native):
    """The tiny model's 64 px must not give a side the same options refuse (16:9 was 88x48)."""
    w, h = aspect_size(ratio, native)
    rw, rh = ASPECT_RATIOS[ratio]
    assert MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE
    assert w % 8 == 0 and h % 8 == 0
    assert abs(w / h - rw / rh) / (rw / rh) < 0.08
    assert (w > h) == (rw > rh) and (w == h) == (rw == rh)
    # What size_for gives is accepted back as w and h (the worker re-reads the resolved options).
    opts = GenerationOptions(aspect_ratio=ratio)
    assert GenerationOptions(w=w, h=h).size_for(native) == opts.size_for(native) == (w, h)


def test_small_models_short_side_is_the_minimum():
    assert aspect_size("16:9", 64) == (112, 64)
    assert aspect_size("9:16", 64) == (64, 112)
    assert aspect_size("3:2", 64) == (96, 64)
    assert aspect_size("1:1", 64) == (64, 64)
