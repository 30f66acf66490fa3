"""LoRA tunes through a real `lookalike serve` on the tiny model: train, watch, prompt, download, cancel, survive kill -9.

One server for the module (its in-process worker trains with an operator
preset small enough to finish in seconds); the last test kills it with
SIGKILL mid-training and starts it again on the same data, which must
resume the training from its last checkpoint.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from safetensors import safe_open

from tests.api.conftest import Server, photo_upload, wait_done
from tests.api.receiver import Receiver

TINY, TINY_XL = 999, 998
LOOKALIKE = str(Path(sys.executable).parent / "lookalike")
# Small enough to train in about a second on two cores; checkpoints every 4 steps for the kill test.
PRESET = {
    "id": "tiny-test",
    "title": "tests",
    "steps_per_photo": 6,
    "min_steps": 1,
    "max_steps": 400,
    "learning_rate": 0.001,
    "rank": 4,
    "prior_preservation": True,
    "class_images": 2,
    "class_image_steps": 1,
    "checkpoint_every": 4,
    "resolution": 32,
}
FAST_PROMPT = {"num_images": 1, "steps": 1, "scheduler": "euler", "cfg_scale": 1}


@pytest.fixture(scope="module")
def lora_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("lora")
    presets = root / "presets"
    presets.mkdir()
    (presets / "tiny.json").write_text(json.dumps(PRESET))
    srv = Server(
        root / "data",
        env={
            "LOOKALIKE_TRAINING_PRESETS_DIR": str(presets),
            "LOOKALIKE_TRAINING_DEFAULT_PRESET": "tiny-test",
            "LOOKALIKE_TRAINING_PROGRESS_INTERVAL_S": "0.05",
            "LOOKALIKE_WORKER_POLL_S": "0.2",
            "LOOKALIKE_DEVICE": "cpu",
            "LOOKALIKE_JOB_LEASE_S": "3",
            # The tiny model's ops are too small to share between threads; two OpenMP threads on a
            # busy two-core machine spin against each other (10x slower), one does not.
            "OMP_NUM_THREADS": "1",
        },
    )
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def keys(lora_server):
    return {"ann": lora_server.new_key("ann"), "ben": lora_server.new_key("ben")}


@pytest.fixture(scope="module")
def ann(lora_server, keys):
    with lora_server.client(keys["ann"]["key"]) as client:
        yield client


def create_lora(client, photo_files, title: str, **fields) -> dict:
    data = {"tune[title]": title, "tune[name]": "woman", "tune[model_type]": "lora", "tune[base_tune_id]": str(TINY)}
    data.update({f"tune[{k}]": str(v) for k, v in fields.items()})
    response = client.post("/tunes", data=data, files=[photo_upload(photo_files["1.jpg"])])
    assert response.status_code == 201, response.text
    return response.json()


def wait_tune(client, tune_id: int, timeout: float = 60.0, until=lambda t: t["status"] in ("trained", "failed")):
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tune = client.get(f"/tunes/{tune_id}").json()
        if tune.get("progress"):
            seen.append(tune["progress"])
        if until(tune):
            return tune, seen
        time.sleep(0.15)
    raise AssertionError(f"tune {tune_id} still {tune['status']} after {timeout} s: {tune.get('progress')}")


@pytest.fixture(scope="module")
def trained(lora_server, ann, photo_files):
    """A LoRA tune with a callback and a prompt queued with it, trained by the server's worker."""
    with Receiver() as receiver:
        made = create_lora(
            ann,
            photo_files,
            "ada lora",
            callback=receiver.url,
            **{"prompts_attributes][0][text": "portrait of sks woman", "prompts_attributes][0][num_images": "1",
               "prompts_attributes][0][steps": "1"},
        )
        waiting = ann.post(
            f"/tunes/{TINY}/prompts",
            data={"prompt[text]": f"<lora:{made['id']}:0.8> <faceid:{made['id']}:1> sks woman",
                  **{f"prompt[{k}]": str(v) for k, v in FAST_PROMPT.items()}},
        )
        tune, seen = wait_tune(ann, made["id"])
        callbacks = receiver.wait_for(1)
    return {"made": made, "waiting": waiting, "tune": tune, "seen": seen, "callbacks": callbacks}


def test_a_lora_tune_is_queued_then_trained_with_progress_and_a_callback(trained):
    made, tune = trained["made"], trained["tune"]
    assert made["model_type"] == "lora" and made["status"] == "queued" and made["trained_at"] is None
    assert made["eta"] is None and made["ckpt_url"] is None and made["steps"] == 6 and made["preset"] == "tiny-test"
    assert made["progress"]["phase"] == "queued" and made["token"] == "sks"
    assert tune["status"] == "trained", tune.get("error")
    assert tune["trained_at"] and tune["eta"] == tune["trained_at"] and tune["progress"] is None
    assert tune["started_training_at"] <= tune["trained_at"]
    training = [p for p in trained["seen"] if p["phase"] == "training"]
    assert training and all(p["steps"] == 6 and 1 <= p["step"] <= 6 and p["loss"] > 0 for p in training)
    assert [p["step"] for p in training] == sorted(p["step"] for p in training)
    body = json.loads(trained["callbacks"][0].body)
    assert body["tune"]["id"] == made["id"] and body["tune"]["trained_at"] == tune["trained_at"]


def test_prompts_on_a_training_tune_wait_for_it_then_run_with_both_tokens(trained, ann):
    waiting = trained["waiting"]
    assert waiting.status_code == 201, waiting.text
    assert waiting.json()["status"] == "waiting" and waiting.json()["progress"]["phase"] == "waiting"
    done = wait_done(ann, waiting.json()["id"], timeout=60)
    assert done["status"] == "succeeded", done.get("error")
    assert len(done["images"]) == 1
    queued_with_the_tune = ann.get(f"/tunes/{trained['made']['id']}/prompts").json()
    assert any(p["text"].startswith(f"<lora:{trained['made']['id']}:1> ") for p in queued_with_the_tune)


def test_the_trained_lora_changes_the_served_image(trained, ann, photo_files):
    """The engine loads the file (diffusers' load_lora_weights, kohya layout) under the tune's name: same seed,
    another image; two LoRAs combine on SD 1.5."""
    lora_id = trained["tune"]["id"]
    other = create_lora(ann, photo_files, "second", steps=2)
    fields = {f"prompt[{k}]": str(v) for k, v in {**FAST_PROMPT, "seed": 7, "steps": 2}.items()}
    texts = (
        "sks woman",
        f"<lora:{lora_id}:1> sks woman",
        f"<lora:{lora_id}:0> sks woman",
        f"<lora:{lora_id}:1> <lora:{other['id']}:1> sks woman",
    )
    ids = [ann.post(f"/tunes/{TINY}/prompts", data={"prompt[text]": text, **fields}).json()["id"] for text in texts]
    twice = ann.post(f"/tunes/{TINY}/prompts", data={"prompt[text]": f"<lora:{lora_id}:1> <lora:{lora_id}:0.5> woman"})
    assert twice.status_code == 422 and twice.json()["code"] == "malformed_lora_token"
    images = []
    for prompt_id in ids:
        done = wait_done(ann, prompt_id, timeout=60)
        assert done["status"] == "succeeded", done.get("error")
        # Pixels, not PNG bytes: each PNG carries its own prompt text in its parameters.
        images.append(np.asarray(Image.open(io.BytesIO(httpx.get(done["images"][0]).content)).convert("RGB"), dtype=np.int16))
    plain, with_lora, at_zero, with_both = images
    assert np.abs(with_lora - plain).mean() > 0.5
    assert np.array_equal(at_zero, plain)  # weight 0: the LoRA's layers add nothing
    # The second tune trained 2 steps only: a small change, but a change (both LoRAs are applied).
    assert np.abs(with_both - with_lora).mean() > 0.05


def test_the_owner_downloads_the_lora_as_kohya_safetensors_and_others_see_nothing(trained, ann, lora_server, keys, tmp_path):
    tune = trained["tune"]
    url = tune["ckpt_url"]
    assert url and tune["ckpt_urls"] == [url] and "signature=" in url
    file = httpx.get(url)  # a signed link: no key
    assert file.status_code == 200 and file.headers["content-type"] == "application/octet-stream"
    path = tmp_path / "lora.safetensors"
    path.write_bytes(file.content)
    with safe_open(str(path), "pt") as handle:
        keys_in_file = list(handle.keys())
    assert keys_in_file and all(k.startswith("lora_unet_") for k in keys_in_file)
    assert any(k.endswith(".alpha") for k in keys_in_file)
    with lora_server.client(keys["ben"]["key"]) as ben:
        assert ben.get(f"/tunes/{tune['id']}").status_code == 404
        assert ben.get(f"/tunes/{tune['id']}/lora.safetensors").status_code == 404
        refused = ben.post(f"/tunes/{TINY}/prompts", data={"prompt[text]": f"<lora:{tune['id']}:1> sks woman"})
        assert refused.status_code == 422 and refused.json()["code"] == "unknown_tune"


def test_wrong_lora_requests_are_named(trained, ann, photo_files):
    faceid = ann.post(
        "/tunes",
        data={"tune[title]": "face", "tune[name]": "woman", "tune[base_tune_id]": str(TINY)},
        files=[photo_upload(photo_files["1.jpg"])],
    ).json()
    lora_id = trained["tune"]["id"]
    cases = [
        (f"/tunes/{TINY}/prompts", {"prompt[text]": f"<lora:{faceid['id']}:1> woman"}, "not_a_lora_tune"),
        (f"/tunes/{TINY_XL}/prompts", {"prompt[text]": f"<lora:{lora_id}:1> woman"}, "lora_base_model_mismatch"),
        (f"/tunes/{TINY}/prompts", {"prompt[text]": f"<lora:{lora_id}:3> woman"}, "lora_weight_out_of_range"),
        (f"/tunes/{TINY}/prompts", {"prompt[text]": f"<lora:{lora_id}:x> woman"}, "malformed_lora_token"),
        (f"/tunes/{TINY}/prompts", {"prompt[text]": "<lyco:1:1> woman"}, "unsupported_prompt_token"),
    ]
    for path, data, code in cases:
        answer = ann.post(path, data=data)
        assert answer.status_code == 422 and answer.json()["code"] == code, (code, answer.text)
    tune_cases = [
        ({"tune[steps]": "10"}, "unsupported_field", "tune[steps]"),  # a FaceID tune is not trained
        ({"tune[model_type]": "lora", "tune[preset]": "flux-lora-portrait"}, "unknown_training_preset", "tune[preset]"),
        ({"tune[model_type]": "lora", "tune[token]": "two words"}, "invalid_field", "tune[token]"),
        ({"tune[model_type]": "lora", "tune[training_face_correct]": "true"}, "unsupported_field", "tune[training_face_correct]"),
        ({"tune[model_type]": "pti"}, "invalid_field", "tune[model_type]"),
    ]
    for fields, code, field in tune_cases:
        data = {"tune[title]": "bad", "tune[name]": "woman", "tune[base_tune_id]": str(TINY), **fields}
        answer = ann.post("/tunes", data=data, files=[photo_upload(photo_files["1.jpg"])])
        assert answer.status_code == 422, answer.text
        assert (answer.json()["code"], answer.json()["field"]) == (code, field)


def test_delete_cancels_a_running_training_and_prompts_run_between_its_steps(lora_server, ann, photo_files):
    long = create_lora(ann, photo_files, "long", steps=400)
    wait_tune(ann, long["id"], until=lambda t: (t.get("progress") or {}).get("step") or t["status"] != "queued")
    # A prompt posted meanwhile runs between two training steps, not after the training.
    prompt = ann.post(f"/tunes/{TINY}/prompts", data={"prompt[text]": "a portrait", **{f"prompt[{k}]": str(v) for k, v in FAST_PROMPT.items()}}).json()
    assert wait_done(ann, prompt["id"], timeout=30)["status"] == "succeeded"
    assert ann.get(f"/tunes/{long['id']}").json()["status"] == "training"
    assert ann.delete(f"/tunes/{long['id']}").status_code == 200
    assert ann.get(f"/tunes/{long['id']}").status_code == 404
    # The worker is free again at once: the next training starts and ends within seconds.
    started = time.monotonic()
    short = create_lora(ann, photo_files, "after the cancel", steps=2)
    tune, _ = wait_tune(ann, short["id"], timeout=30)
    assert tune["status"] == "trained" and time.monotonic() - started < 25
    assert not (lora_server.data_dir / "blobs" / "tunes" / str(long["id"])).exists()


def test_the_cli_waits_with_a_bar_through_the_server(lora_server, keys, photo_files):
    env = {**lora_server.env, "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "120"}
    ran = subprocess.run(
        [LOOKALIKE, "tunes", "create", str(photo_files["1.jpg"]), "--title", "cli", "--name", "woman",
         "--base-model", "tiny", "--model-type", "lora", "--steps", "3", "--wait",
         "--server", lora_server.url, "--api-key", keys["ann"]["key"]],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    assert "lora" in ran.stdout and "ready at" in ran.stdout and "<lora:" in ran.stdout
    # Drawn ten times a second: a short training may show only some phases, and the end.
    assert "trained" in ran.stderr
    assert any(phase in ran.stderr for phase in ("queued", "preparing", "class images", "training", "saving"))


def test_a_training_killed_with_sigkill_resumes_from_its_checkpoint(lora_server, ann, photo_files):
    """The last test of the module: it kills the server (SIGKILL) mid-training and starts it again."""
    tune = create_lora(ann, photo_files, "survivor", steps=24)
    # Past the checkpoint at step 8: a kill now loses at most the steps since.
    wait_tune(ann, tune["id"], timeout=60, until=lambda t: ((t.get("progress") or {}).get("step") or 0) >= 9)
    lora_server.stop(signal.SIGKILL)
    lora_server.start()
    done, seen = wait_tune(ann, tune["id"], timeout=90)
    assert done["status"] == "trained", done.get("error")
    resumed = [p for p in seen if p["phase"] == "training" and p.get("attempt") == 2]
    first = resumed[0] if resumed else {}
    assert first.get("resumed_from") and first["resumed_from"] >= 8 and first["resumed_from"] % 4 == 0, seen[-5:]
    assert first["step"] > first["resumed_from"]
    assert os.path.isdir(lora_server.data_dir / "blobs" / "tunes" / str(tune["id"]) / "lora")
