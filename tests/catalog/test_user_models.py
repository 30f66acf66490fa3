"""Operators' own checkpoints in the catalog: what is accepted, what is refused and why, the models file.

The files are real safetensors files with checkpoint-like headers
(``checkpoint_files``); nothing here needs torch.
"""

from __future__ import annotations

import json

import pytest

from lookalike.catalog.checkpoints import CROSS_ATTENTION, UNET_IN, VAE_KEY
from lookalike.errors import InvalidFieldError, ModelUnavailableError, NotFoundError
from tests.catalog.checkpoint_files import CLIP_L_KEY, OLD_CLIP_L_KEY, checkpoint_file, sd15_like

def test_add_list_find_and_remove(settings, tmp_path):
    from lookalike.catalog.base_models import all_base_models, find_gallery_spec, get_base_model
    from lookalike.catalog.user_models import add_user_model, models_file, remove_user_model
    from lookalike.execution.readiness import readiness

    first = add_user_model(settings, "My-Portraits", sd15_like(tmp_path / "a.safetensors"), name="My portraits v1")
    second = add_user_model(settings, "second", sd15_like(tmp_path / "b.safetensors"))
    assert (first.id, first.gallery_id, first.name, second.gallery_id) == ("my-portraits", 1001, "My portraits v1", 1002)
    assert first.source.kind == "single_file" and first.source.path == str((tmp_path / "a.safetensors").resolve())
    assert first.adapter.id == "ip-adapter-faceid-sd15" and first.scheduler_lora("lcm") is not None
    assert get_base_model("my-portraits") == first == get_base_model("1001") == find_gallery_spec(1001)
    assert [s.id for s in all_base_models()[-2:]] == ["my-portraits", "second"]
    entry = next(m for m in readiness(settings).base_models if m.spec.id == "my-portraits")
    # The FaceID adapter is not pulled yet; CLIP's vocabulary comes with the installed package (or its pull).
    assert not entry.installed and entry.missing[0] == "my-portraits"
    assert entry.pull_commands[0] == "lookalike models pull my-portraits"

    remove_user_model(settings, "1001")
    assert [e["id"] for e in json.loads(models_file(settings).read_text())["base_models"]] == ["second"]
    again = add_user_model(settings, "my-portraits", sd15_like(tmp_path / "c.safetensors"))
    assert again.gallery_id == 1003  # the slug may come back (a new file); a gallery id never does
    remove_user_model(settings, "my-portraits")
    with pytest.raises(NotFoundError):
        remove_user_model(settings, "my-portraits")
    with pytest.raises(InvalidFieldError, match="built-in"):
        remove_user_model(settings, "tiny")


@pytest.mark.parametrize(
    ("name", "tensors", "family", "field", "words"),
    [
        ("sdxl", {"conditioner.embedders.0.transformer.x": (1,), UNET_IN: (320, 4, 3, 3)}, "sd15", "family", "sdxl"),
        ("sd2", {UNET_IN: (320, 4, 3, 3), CROSS_ATTENTION: (320, 1024), VAE_KEY: (1,)}, "sd15", "family", "sd2"),
        ("unet-only", {"down_blocks.0.resnets.0.conv1.weight": (1,)}, "sd15", "path", "diffusers component"),
        ("no-vae", {UNET_IN: (320, 4, 3, 3), CLIP_L_KEY: (1,)}, "sd15", "path", "first_stage_model"),
        ("old-clip", {UNET_IN: (320, 4, 3, 3), VAE_KEY: (1,), OLD_CLIP_L_KEY: (1,)}, "sd15", "path", "old layout"),
        ("inpainting", {UNET_IN: (320, 9, 3, 3), VAE_KEY: (1,), CLIP_L_KEY: (1,)}, "sd15", "config", "inpainting"),
        ("xl-family", {UNET_IN: (320, 4, 3, 3)}, "sdxl", "family", "not supported"),
    ],
)
def test_a_file_that_is_not_an_sd15_checkpoint_is_refused_saying_what_it_is(
    settings, tmp_path, name, tensors, family, field, words
):
    from lookalike.catalog.user_models import add_user_model, models_file

    path = checkpoint_file(tmp_path / f"{name}.safetensors", tensors)
    with pytest.raises(InvalidFieldError) as info:
        add_user_model(settings, name, path, family=family)
    assert info.value.field == field and words in info.value.message + info.value.hint
    assert not models_file(settings).exists()  # nothing written


def test_names_paths_and_formats_are_checked(settings, tmp_path):
    from lookalike.catalog.user_models import add_user_model

    good = sd15_like(tmp_path / "good.safetensors")
    pickle = tmp_path / "model.ckpt"
    pickle.write_bytes(b"PK")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\xff" * 64)
    for model_id, path, field in [
        ("tiny", good, "name"),  # a built-in model's id
        ("1234", good, "name"),  # digits would read as a gallery id
        ("no spaces", good, "name"),
        ("fine", tmp_path / "missing.safetensors", "path"),
        ("fine", pickle, "path"),
        ("fine", junk, "path"),
        ("fine", good.parent, "path"),
    ]:
        with pytest.raises(InvalidFieldError) as info:
            add_user_model(settings, model_id, path)
        assert info.value.field == field, (model_id, path)
    add_user_model(settings, "fine", good)
    with pytest.raises(InvalidFieldError, match="already exists"):
        add_user_model(settings, "FINE", good)
    with pytest.raises(InvalidFieldError) as info:
        add_user_model(settings, "other", good, config=tmp_path)  # not a diffusers folder
    assert info.value.field == "config"


def test_a_broken_models_file_is_an_error_naming_it(settings):
    from lookalike.catalog.base_models import get_base_model
    from lookalike.catalog.user_models import models_file

    path = models_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"base_models": [{"id": "x", "gallery_id": 5, "name": "x", "family": "sd15",
                                                 "path": "/m.safetensors"}]}))
    with pytest.raises(ModelUnavailableError) as info:
        get_base_model("tiny")
    assert str(path) in info.value.message and "gallery_id" in info.value.message
    path.write_text("{not json")
    with pytest.raises(ModelUnavailableError, match="unreadable JSON"):
        get_base_model("tiny")
    path.unlink()
    assert get_base_model("tiny").id == "tiny"


def test_the_cli_adds_lists_and_removes(settings, tmp_path):
    from typer.testing import CliRunner

    from lookalike.cli.app import app

    runner = CliRunner()
    path = sd15_like(tmp_path / "mine.safetensors")
    added = runner.invoke(app, ["models", "add", "mine", str(path), "--title", "Mine"])
    assert added.exit_code == 0 and "gallery id 1001" in added.stdout
    listed = runner.invoke(app, ["models", "list"])
    assert "1001  mine" in listed.stdout and str(path) in listed.stdout
    refused = runner.invoke(app, ["models", "add", "bad", str(tmp_path)])
    assert refused.exit_code == 2 and "invalid_field" in refused.output
    removed = runner.invoke(app, ["models", "remove", "mine", "--json"])
    assert json.loads(removed.stdout) == {"removed": "mine", "gallery_id": 1001}
