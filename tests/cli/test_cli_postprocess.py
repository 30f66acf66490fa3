"""`lookalike prompts create` with the finishing flags, on the tiny model (gallery id 999)."""

from __future__ import annotations

import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from lookalike.cli.app import app
from tests.photos import jpeg

runner = CliRunner()
FAST = ["--base-model", "999", "--steps", "1", "--scheduler", "euler", "--seed", "3"]


@pytest.fixture
def tune(settings, tmp_path, hopper):
    photo = tmp_path / "grace.jpg"
    photo.write_bytes(jpeg(hopper))
    result = runner.invoke(app, ["tunes", "create", "--title", "grace", "--name", "woman", "--base-model", "tiny",
                                 "--json", str(photo)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["id"]


def create(tmp_path, text, *args):
    result = runner.invoke(app, ["prompts", "create", text, "--out", str(tmp_path / "out"), "--json", *FAST, *args])
    return result.exit_code, json.loads(result.stdout)


def test_super_resolution_gives_exactly_four_times_the_size_after_the_swap(settings, tmp_path, tune):
    # The tiny model paints noise: no realistic face, so the swap says why it did nothing; then x4.
    code, report = create(tmp_path, f"portrait of <faceid:{tune}:1.0> woman", "--width", "72", "--height", "64",
                          "--face-swap", "--super-resolution")
    assert code == 0, report
    image = report["images"][0]
    with Image.open(image["path"]) as png:
        assert png.size == (288, 256)
        parameters = png.text["parameters"]
    assert (image["width"], image["height"]) == (288, 256)
    # The report keeps the generator's own size; the file is the finished one.
    assert (report["w"], report["h"]) == (72, 64)
    summary = image["postprocess"]
    assert summary.startswith("face_swap skipped (no face found") and summary.endswith("; super_resolution applied")
    assert f'Postprocess: "{summary}"' in parameters


def test_missing_weights_fail_before_generating_and_name_the_pull(settings, tmp_path):
    code, report = create(tmp_path, "a photo of a lighthouse", "--width", "64", "--height", "64", "--face-correct")
    assert code == 2, report
    assert report["error"]["code"] == "model_unavailable"
    assert "lookalike models pull gfpgan_v1.4" in report["error"]["hint"]
    assert not (tmp_path / "out").exists()  # nothing was generated


def test_face_swap_needs_a_tune_in_the_prompt(settings, tmp_path):
    code, report = create(tmp_path, "a photo of a lighthouse", "--width", "64", "--height", "64", "--face-swap")
    assert code == 2 and report["error"]["field"] == "face_swap", report
