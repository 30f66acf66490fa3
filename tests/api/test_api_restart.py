"""A restart loses nothing: prompts queued, or running when the process died, run after the next start."""

from __future__ import annotations

import signal
import time

from tests.api.conftest import FAKE_ENGINE_ENV, Server, photo_upload, wait_done


def test_queued_and_interrupted_prompts_survive_restarts(tmp_path, photo_files):
    server = Server(tmp_path / "data", env={**FAKE_ENGINE_ENV, "LOOKALIKE_WORKER_ENABLED": "false"})
    key = server.new_key("restart")
    server.start()
    try:
        with server.client(key["key"]) as client:
            tune = client.post(
                "/tunes",
                data={"tune[title]": "r", "tune[name]": "man", "tune[base_tune_id]": "999"},
                files=[photo_upload(photo_files["1.jpg"])],
            ).json()
            queued = client.post("/tunes/999/prompts", data={"prompt[text]": f"<faceid:{tune['id']}:1>"}).json()
            time.sleep(0.3)
            assert client.get(f"/prompts/{queued['id']}").json()["status"] == "queued"
        server.stop()

        # Second life: the worker runs, slowly, and the process is killed mid-prompt.
        server.start(env={"LOOKALIKE_WORKER_ENABLED": "true", "FAKE_ENGINE_DELAY_S": "30"})
        with server.client(key["key"]) as client:
            second = client.post("/tunes/999/prompts", data={"prompt[text]": "second"}).json()
            deadline = time.monotonic() + 20
            while client.get(f"/prompts/{queued['id']}").json()["status"] != "processing":
                assert time.monotonic() < deadline
                time.sleep(0.05)
        server.stop(signal.SIGKILL)

        # Third life: both run, the interrupted one first.
        server.start(env={"FAKE_ENGINE_DELAY_S": "0"})
        with server.client(key["key"]) as client:
            first_done = wait_done(client, queued["id"])
            second_done = wait_done(client, second["id"])
            assert first_done["status"] == second_done["status"] == "succeeded"
            assert first_done["trained_at"] <= second_done["trained_at"]
            assert client.get(first_done["images"][0]).status_code == 200
    finally:
        server.stop()
