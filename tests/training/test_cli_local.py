"""`lookalike tunes create --model-type lora --wait` with no server: the CLI trains the tune in its own process."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from lookalike.cli.app import app
from tests.conftest import encode
from tests.training.conftest import TINY_PRESET


def test_a_local_lora_tune_is_trained_here_and_shown_ready(settings, monkeypatch, tmp_path, astronaut, training_models_dir):
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "tiny.json").write_text(TINY_PRESET.model_dump_json())
    monkeypatch.setenv("LOOKALIKE_TRAINING_PRESETS_DIR", str(presets))
    monkeypatch.setenv("LOOKALIKE_DEVICE", "cpu")
    monkeypatch.setenv("LOOKALIKE_MODELS_DIR", str(training_models_dir))  # the tiny model is written there once
    photo = tmp_path / "ada.jpg"
    photo.write_bytes(encode(astronaut))
    runner = CliRunner()
    args = ["tunes", "create", str(photo), "--title", "ada", "--name", "woman", "--base-model", "tiny",
            "--model-type", "lora", "--preset", "tiny-test", "--steps", "3"]
    queued = runner.invoke(app, args)
    assert queued.exit_code == 0, queued.output
    assert "queued" in queued.stdout and "not trained yet" in queued.stdout
    trained = runner.invoke(app, [*args[:4], "ada 2", *args[5:], "--wait", "--json"])
    assert trained.exit_code == 0, trained.output
    tune = json.loads(trained.stdout)
    assert tune["model_type"] == "lora" and tune["trained_at"] and tune["training"]["status"] == "succeeded"
    assert tune["training"]["has_lora"] and tune["token"] == "sks"
    listed = runner.invoke(app, ["tunes", "list"])
    assert "lora, not trained yet" in listed.stdout  # the first, still waiting for a worker
