"""`lookalike prompts create --input-image ... --controlnet ...`: locally on the tiny model, and with --server (multipart)."""

from __future__ import annotations

import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from lookalike.cli.app import app
from tests.conftest import encode

runner = CliRunner()


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory, astronaut):
    path = tmp_path_factory.mktemp("cli-input") / "me.jpg"
    path.write_bytes(encode(astronaut[::4, ::4], "JPEG", quality=90))
    return path


def test_the_flags_come_from_the_options_and_the_file_flags_are_the_cli_s():
    import typer

    create = typer.main.get_command(app).commands["prompts"].commands["create"]
    flags = {opt for param in create.params for opt in param.opts}
    assert {"--input-image", "--input-image-url", "--denoising-strength", "--controlnet",
            "--controlnet-conditioning-scale", "--controlnet-txt2img"} <= flags


def test_local_run_with_a_pose_controlnet(settings, photo_file, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["prompts", "create", "a dancer", "--base-model", "tiny", "--input-image", str(photo_file),
                                 "--controlnet", "pose", "--controlnet-txt2img", "--steps", "1", "--seed", "3",
                                 "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    with Image.open(report["images"][0]["path"]) as image:
        parameters = image.text["parameters"]
    assert 'ControlNet preprocessor: "pose (mediapipe pose_landmark_full, OpenPose skeleton), txt2img"' in parameters
    assert "Denoising strength" not in parameters  # text-to-image: the input's pixels are not the start


def test_local_refusals_are_the_servers(settings, photo_file):
    result = runner.invoke(app, ["prompts", "create", "x", "--base-model", "tiny", "--controlnet", "canny", "--json"])
    error = json.loads(result.stdout)["error"]
    assert result.exit_code != 0 and error["code"] == "input_image_required" and "--input-image" in error["hint"]
    both = runner.invoke(app, ["prompts", "create", "x", "--base-model", "tiny", "--input-image", str(photo_file),
                               "--input-image-url", "https://example.com/a.jpg", "--json"])
    assert both.exit_code != 0 and json.loads(both.stdout)["error"]["code"] == "invalid_field"
