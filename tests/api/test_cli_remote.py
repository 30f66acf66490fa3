"""The CLI with --server: the same commands, through the HTTP API and the Python client."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from PIL import Image

from tests.api.conftest import LOOKALIKE, needs_runner


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKALIKE_")}
    full_env.update(env or {})
    return subprocess.run([LOOKALIKE, *args, "--json"], env=full_env, capture_output=True, text=True, timeout=180)


@needs_runner
@pytest.mark.slow
def test_tune_then_prompt_through_the_server(server, alice, photo_files, tmp_path):
    env = {"LOOKALIKE_SERVER": server.url, "LOOKALIKE_API_KEY": alice["key"]}
    made = cli("tunes", "create", str(photo_files["1.jpg"]), str(photo_files["2.jpg"]),
               "--title", "remote cli", "--name", "woman", "--base-model", "999", env=env)
    assert made.returncode == 0, made.stderr
    tune = json.loads(made.stdout)
    assert tune["base_model"] == "tiny" and len(tune["images"]) == 2
    listed = json.loads(cli("tunes", "list", env=env).stdout)
    assert tune["id"] in [t["id"] for t in listed]

    out = tmp_path / "out"
    ran = cli("prompts", "create", f"a headshot of ohwx woman <faceid:{tune['id']}:1.0>",
              "--steps", "1", "--num-images", "1", "--seed", "5", "--out", str(out), env=env)
    assert ran.returncode == 0, ran.stderr + ran.stdout
    report = json.loads(ran.stdout)
    assert report["seed"] == 5 and len(report["images"]) == 1
    with Image.open(report["images"][0]["path"]) as image:
        assert image.size == (report["w"], report["h"])
    # The prompt really lives on the server, under the key's account.
    with server.client(alice["key"]) as api:
        assert api.get(f"/prompts/{report['id']}").json()["status"] == "succeeded"

    gone = cli("tunes", "delete", str(tune["id"]), env=env)
    assert gone.returncode == 0 and json.loads(gone.stdout)["deleted"] is True


def test_server_errors_reach_the_cli_with_their_codes(server, bob, photo_files):
    no_key = cli("tunes", "list", "--server", server.url)
    assert no_key.returncode == 2
    assert json.loads(no_key.stdout)["error"]["code"] == "unauthorized"
    wrong = cli("tunes", "list", "--server", server.url, "--api-key", "nope")
    assert wrong.returncode == 2 and json.loads(wrong.stdout)["error"]["code"] == "unauthorized"
    cat = cli("tunes", "create", str(photo_files["cat.jpg"]), "--title", "cat", "--name", "person",
              env={"LOOKALIKE_SERVER": server.url, "LOOKALIKE_API_KEY": bob["key"]})
    error = json.loads(cat.stdout)["error"]
    assert cat.returncode == 2 and error["code"] == "no_face" and error["image_index"] == 0
    foreign = cli("tunes", "show", "999999", env={"LOOKALIKE_SERVER": server.url, "LOOKALIKE_API_KEY": bob["key"]})
    assert foreign.returncode == 2 and json.loads(foreign.stdout)["error"]["code"] == "tune_not_found"
