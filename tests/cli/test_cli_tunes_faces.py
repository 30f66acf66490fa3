"""The CLI contract for faces and tunes, driven in-process and as a real command."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from lookalike.cli.app import app
from tests.photos import blurred, brighter, jpeg, shrunk, two_people

runner = CliRunner()


def run(*args: str):
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout


def run_json(*args: str):
    code, out = run(*args, "--json")
    return code, json.loads(out)


@pytest.fixture
def photos(tmp_path, astronaut, hopper, cat):
    made = {
        "astro": astronaut,
        "astro_flip": astronaut[:, ::-1].copy(),
        "astro_bright": brighter(astronaut),
        "hopper": hopper,
        "cat": cat,
        "two": two_people(astronaut, hopper),
        "tiny": shrunk(astronaut, 0.5),
        "blurry": blurred(astronaut),
    }
    paths = {}
    for name, image in made.items():
        paths[name] = tmp_path / f"{name}.jpg"
        paths[name].write_bytes(jpeg(image))
    paths["text"] = tmp_path / "notes.jpg"
    paths["text"].write_text("this is not a photo")
    paths["empty"] = tmp_path / "empty.png"
    paths["empty"].write_bytes(b"")
    return {k: str(v) for k, v in paths.items()}


def test_create_show_list_delete(settings, photos):
    code, tune = run_json("tunes", "create", "--title", "Eileen", "--name", "woman",
                          photos["astro"], photos["astro_flip"], photos["astro_bright"])
    assert code == 0
    assert {"id", "title", "name", "model_type", "trained_at", "images"} <= tune.keys()
    assert tune["model_type"] == "faceid" and len(tune["images"]) == 3
    assert {"box", "quality"} <= tune["images"][0].keys()

    code, shown = run_json("tunes", "show", str(tune["id"]))
    assert code == 0 and shown["id"] == tune["id"]
    code, listed = run_json("tunes", "list")
    assert [t["id"] for t in listed] == [tune["id"]]
    code, out = run("tunes", "list")
    assert "Eileen" in out

    code, _ = run_json("tunes", "delete", str(tune["id"]))
    assert code == 0
    code, err = run_json("tunes", "show", str(tune["id"]))
    assert code == 2 and err["error"]["code"] == "tune_not_found"


@pytest.mark.parametrize(
    "names, code, index",
    [
        (["astro", "cat"], "no_face", 1),
        (["two"], "multiple_faces", 0),
        (["tiny"], "face_too_small", 0),
        (["astro", "blurry"], "face_too_blurry", 1),
        (["astro", "astro_bright", "hopper"], "identity_mismatch", 2),
        (["astro", "text"], "invalid_image", 1),
        (["empty"], "invalid_image", 0),
    ],
)
def test_rejected_inputs_exit_2_with_code_and_index(settings, photos, names, code, index):
    exit_code, out = run_json("tunes", "create", "--title", "t", "--name", "woman", *[photos[n] for n in names])
    assert exit_code == 2
    assert out["error"]["code"] == code and out["error"]["image_index"] == index
    assert out["error"]["message"]
    _, listed = run_json("tunes", "list")
    assert listed == []


def test_rejection_without_json_prints_code_and_message(settings, photos):
    result = runner.invoke(app, ["tunes", "create", "--title", "t", "--name", "woman", photos["cat"]])
    assert result.exit_code == 2
    assert "no_face" in result.output and "photo 0" in result.output


def test_missing_file_and_bad_fields(settings, photos, tmp_path):
    code, out = run_json("tunes", "create", "--title", "t", "--name", "woman", str(tmp_path / "nope.jpg"))
    assert code == 2 and out["error"]["code"] == "file_not_found"
    code, out = run_json("tunes", "create", "--title", "t", "--name", "cat", photos["astro"])
    assert code == 2 and out["error"]["code"] == "invalid_field" and out["error"]["field"] == "name"
    code, out = run_json("tunes", "create", "--title", "t", "--name", "woman", "--base-model", "nope", photos["astro"])
    assert code == 2 and out["error"]["code"] == "unknown_base_model"


def test_faces_detect_and_compare(settings, photos):
    code, out = run_json("faces", "detect", photos["two"])
    assert code == 0 and len(out["faces"]) == 2
    assert {"box", "score", "landmarks", "quality"} <= out["faces"][0].keys()
    code, out = run_json("faces", "detect", photos["cat"])
    assert code == 0 and out["faces"] == []

    code, same = run_json("faces", "compare", photos["astro"], photos["astro_flip"])
    assert code == 0 and same["same_person"] is True and same["similarity"] >= same["threshold"]
    code, diff = run_json("faces", "compare", photos["astro"], photos["hopper"])
    assert code == 0 and diff["same_person"] is False and diff["similarity"] < diff["threshold"]
    code, err = run_json("faces", "compare", photos["astro"], photos["cat"])
    assert code == 2 and err["error"]["code"] == "no_face" and err["error"]["image_index"] == 1


def _real_command(args, data_dir):
    env = os.environ | {"LOOKALIKE_DATA_DIR": str(data_dir)}
    exe = os.path.join(os.path.dirname(sys.executable), "lookalike")
    return subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=120)


def test_the_installed_command_end_to_end(tmp_path, photos):
    done = _real_command(["tunes", "create", "--title", "E", "--name", "woman", "--json", photos["astro"]], tmp_path)
    assert done.returncode == 0, done.stderr
    tune = json.loads(done.stdout)
    done = _real_command(["tunes", "create", "--title", "C", "--name", "woman", "--json", photos["cat"]], tmp_path)
    assert done.returncode == 2 and json.loads(done.stdout)["error"]["code"] == "no_face"
    done = _real_command(["tunes", "list", "--json"], tmp_path)
    assert [t["id"] for t in json.loads(done.stdout)] == [tune["id"]]


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys; from lookalike.cli.app import app; "
        "heavy = [m for m in ('torch', 'diffusers', 'onnxruntime', 'dlib', 'cv2') if m in sys.modules]; "
        "print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


@pytest.mark.parametrize(
    "env, code",
    [
        ({"LOOKALIKE_MAX_YAW": "0.01"}, "face_not_frontal"),
        ({"LOOKALIKE_MAX_IMAGE_PIXELS": "1000"}, "image_too_large"),
    ],
)
def test_limits_from_settings_reach_the_cli(settings, photos, monkeypatch, env, code):
    from lookalike.config import get_settings

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    exit_code, out = run_json("tunes", "create", "--title", "t", "--name", "woman", photos["astro"])
    assert exit_code == 2 and out["error"]["code"] == code and out["error"]["image_index"] == 0


def test_too_many_photos_through_the_cli(settings, photos):
    exit_code, out = run_json("tunes", "create", "--title", "t", "--name", "woman", *[photos["astro"]] * 11)
    assert exit_code == 2 and out["error"]["code"] == "too_many_photos"


def test_insightface_backend_offline_names_the_pull_command(settings, photos, monkeypatch):
    from lookalike.config import get_settings

    monkeypatch.setenv("LOOKALIKE_FACE_BACKEND", "insightface")
    get_settings.cache_clear()
    exit_code, out = run_json("faces", "detect", photos["astro"])
    assert exit_code == 2 and out["error"]["code"] == "model_unavailable"
    assert "lookalike models pull buffalo_l" in out["error"]["hint"]
