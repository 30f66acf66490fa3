"""`lookalike prompts create` end to end on the tiny model: real tunes, real pipeline, PNGs on disk."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from lookalike.cli.app import app
from lookalike.prompts.schedulers import SCHEDULER_NAMES
from tests.photos import brighter, jpeg

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory, astronaut, hopper):
    """One data directory for the module: two tunes on the tiny model, models loaded once."""
    from lookalike.config import get_settings

    root = tmp_path_factory.mktemp("prompts")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOOKALIKE_DATA_DIR", str(root / "data"))
        get_settings.cache_clear()
        photos = {}
        for name, image in {"astro": astronaut, "astro2": brighter(astronaut), "hopper": hopper}.items():
            photos[name] = root / f"{name}.jpg"
            photos[name].write_bytes(jpeg(image))
        tunes = {}
        for title, files in {"eileen": ["astro", "astro2"], "grace": ["hopper"]}.items():
            result = runner.invoke(app, ["tunes", "create", "--title", title, "--name", "woman", "--base-model", "tiny",
                                         "--json", *[str(photos[f]) for f in files]])
            assert result.exit_code == 0, result.output
            tunes[title] = json.loads(result.stdout)["id"]
        yield {"root": root, "tunes": tunes}
    get_settings.cache_clear()


def generate(world, text, *args):
    out = world["root"] / "out"
    result = runner.invoke(app, ["prompts", "create", text, "--out", str(out), "--json", *args])
    return result.exit_code, json.loads(result.stdout)


def pixels(report, n=0):
    return np.asarray(Image.open(report["images"][n]["path"]).convert("RGB"), dtype=np.int16)


FAST = ["--steps", "2", "--scheduler", "euler"]


def test_count_size_and_report(world):
    tune = world["tunes"]["eileen"]
    code, report = generate(world, f"portrait of <faceid:{tune}:1.0> woman", *FAST,
                            "--num-images", "3", "--width", "64", "--height", "96", "--seed", "5")
    assert code == 0, report
    assert report["id"] and report["base_model"] == "tiny"  # taken from the tune
    assert [i["seed"] for i in report["images"]] == [5, 6, 7]
    assert len(report["images"]) == 3 and (report["w"], report["h"]) == (64, 96)
    for image in report["images"]:
        with Image.open(image["path"]) as png:
            assert png.size == (64, 96)
            assert "Seed: " in png.text["parameters"] and f"<faceid:{tune}:1.0>" in png.text["parameters"]
        assert "identity_score" in image


def test_same_seed_same_pixels_other_seed_differs(world):
    tune = world["tunes"]["eileen"]
    text = f"studio headshot <faceid:{tune}:1.0>"
    _, a = generate(world, text, *FAST, "--seed", "11")
    _, b = generate(world, text, *FAST, "--seed", "11")
    _, c = generate(world, text, *FAST, "--seed", "12")
    assert np.array_equal(pixels(a), pixels(b))
    assert np.abs(pixels(a) - pixels(c)).mean() > 1


def test_weight_zero_equals_no_identity(world):
    tune = world["tunes"]["eileen"]
    _, zero = generate(world, f"studio headshot <faceid:{tune}:0>", *FAST, "--seed", "3")
    _, plain = generate(world, "studio headshot", *FAST, "--seed", "3", "--base-model", "tiny")
    assert np.array_equal(pixels(zero), pixels(plain))
    assert zero["adapter_scale"] == 0


def test_another_identity_changes_the_image(world):
    eileen, grace = world["tunes"]["eileen"], world["tunes"]["grace"]
    _, a = generate(world, f"studio headshot <faceid:{eileen}:1.0>", *FAST, "--seed", "9")
    _, b = generate(world, f"studio headshot <faceid:{grace}:1.0>", *FAST, "--seed", "9")
    assert np.abs(pixels(a) - pixels(b)).mean() > 0.5


def test_html_escaped_token_is_accepted(world):
    tune = world["tunes"]["eileen"]
    _, escaped = generate(world, f"headshot &lt;faceid:{tune}:1.0&gt;", *FAST, "--seed", "4")
    _, plain = generate(world, f"headshot <faceid:{tune}:1.0>", *FAST, "--seed", "4")
    assert np.array_equal(pixels(escaped), pixels(plain))


@pytest.mark.parametrize("scheduler", SCHEDULER_NAMES)
def test_every_scheduler_runs(world, scheduler):
    tune = world["tunes"]["eileen"]
    code, report = generate(world, f"headshot <faceid:{tune}:1.0>", "--steps", "2", "--scheduler", scheduler,
                            "--seed", "1")
    assert code == 0, report
    assert report["scheduler"] == scheduler and pixels(report).std() > 0


@pytest.mark.parametrize(
    "text_template, args, code",
    [
        ("headshot <faceid:{id}:1.0", [], "malformed_faceid_token"),
        ("headshot <faceid:{id}:5>", [], "faceid_weight_out_of_range"),
        ("headshot <faceid:98765:1.0>", [], "unknown_tune"),
        ("headshot <faceid:{id}:1.0>", ["--width", "65", "--height", "64"], "invalid_field"),
        ("headshot <faceid:{id}:1.0>", ["--num-images", "9"], "invalid_field"),
        ("headshot <faceid:{id}:1.0>", ["--scheduler", "warp9"], "unknown_scheduler"),
        ("headshot <faceid:{id}:1.0>", ["--base-model", "nope"], "unknown_base_model"),
        ("headshot <faceid:{id}:1.0>", ["--base-model", "sdxl-base-1-0"], "model_unavailable"),
    ],
)
def test_errors_exit_2_with_codes(world, text_template, args, code):
    text = text_template.format(id=world["tunes"]["eileen"])
    exit_code, report = generate(world, text, *args)
    assert exit_code == 2 and report["error"]["code"] == code, report
    assert report["error"]["message"]


def test_real_model_missing_offline_names_the_pull_command(world):
    tune = world["tunes"]["eileen"]
    exit_code, report = generate(world, f"headshot <faceid:{tune}:1.0>", "--base-model", "realistic-vision-v5-1")
    assert exit_code == 2 and report["error"]["code"] == "model_unavailable"
    assert "lookalike models pull realistic-vision-v5-1" in report["error"]["hint"]


def test_a_local_run_shows_a_progress_bar_on_stderr(tmp_path):
    """A real process on the tiny model, drawn as on a terminal: the bar on stderr, the report on stdout."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKALIKE_")}
    env.update({"LOOKALIKE_DATA_DIR": str(tmp_path / "data"), "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1",
                "COLUMNS": "120"})
    lookalike = str(Path(sys.executable).parent / "lookalike")
    ran = subprocess.run([lookalike, "prompts", "create", "a portrait", "--base-model", "tiny", *FAST,
                          "--seed", "4", "--out", str(tmp_path / "out")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("prompt ") and "1 image(s), 64x64, 2 steps euler" in ran.stdout
    # The bar redraws 10 times a second, so a fast step may not be drawn; some step and the end are.
    assert "denoising" in ran.stderr and "/2" in ran.stderr and "done" in ran.stderr
