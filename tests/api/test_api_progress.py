"""Live progress through a real `lookalike serve` (in-process worker, the fake engine reporting its steps).

The `progress` field on polling, the events stream (progress, then done),
reconnecting mid-prompt, a finished prompt, the signed `events_url`, and the
CLI's bar.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from lookalike.client import Client
from tests.api.conftest import FAKE_ENGINE_ENV, LOOKALIKE, Server, wait_done

DELAY_S = 1.2  # each prompt's fake run, spread over its steps


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory) -> Iterator[Server]:
    env = {**FAKE_ENGINE_ENV, "FAKE_ENGINE_DELAY_S": str(DELAY_S), "LOOKALIKE_EVENTS_KEEPALIVE_S": "0.5"}
    srv = Server(tmp_path_factory.mktemp("progress") / "data", env=env)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def key(slow_server) -> str:
    return slow_server.new_key("progress")["key"]


@pytest.fixture(scope="module")
def api(slow_server, key) -> Iterator[httpx.Client]:
    with slow_server.client(key) as client:
        yield client


def post(api: httpx.Client, text: str = "a portrait", steps: int = 6, **fields: str) -> dict:
    data = {"prompt[text]": text, "prompt[steps]": str(steps), **{f"prompt[{k}]": v for k, v in fields.items()}}
    response = api.post("/tunes/999/prompts", data=data)
    assert response.status_code == 201, response.text
    return response.json()


def events(client: httpx.Client, path: str, *, until: str | None = "done", limit_s: float = 30, **kwargs):
    """(seconds since the request, event, data) of a stream; stops after `until` (None: when it ends)."""
    started = time.monotonic()
    with client.stream("GET", path, timeout=httpx.Timeout(10, read=limit_s), **kwargs) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        event, data = None, []
        for line in response.iter_lines():
            if line.startswith(":"):
                yield time.monotonic() - started, "comment", line
            elif line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: "):
                data.append(line[len("data: "):])
            elif not line and event:
                payload = json.loads("\n".join(data))
                yield time.monotonic() - started, event, payload
                if event == until:
                    return
                event, data = None, []
            assert time.monotonic() - started < limit_s


def test_polling_shows_progress_while_it_runs_and_none_once_finished(api):
    prompt = post(api, steps=6)
    assert prompt["progress"]["phase"] == "queued" and prompt["progress"]["queue_position"] >= 1
    assert prompt["events_url"].startswith("http://") and f"/prompts/{prompt['id']}/events?" in prompt["events_url"]
    seen = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        current = api.get(f"/prompts/{prompt['id']}").json()
        if current["status"] in ("succeeded", "failed"):
            break
        if current["progress"]:
            seen.append(current["progress"])
        time.sleep(0.05)
    assert current["status"] == "succeeded" and current["progress"] is None
    steps = [p["step"] for p in seen if p["phase"] == "denoising" and p["step"] is not None]
    assert steps and steps == sorted(steps) and max(steps) <= 6
    running = [p for p in seen if p["phase"] == "denoising" and p["step"]]
    assert all(p["steps"] == 6 and p["images"] == 1 and p["elapsed_s"] >= 0 for p in running)
    # The list shows the same field.
    listed = api.get("/prompts", params={"limit": 1}).json()[0]
    assert listed["id"] == prompt["id"] and "progress" in listed and listed["progress"] is None


def test_events_stream_progress_then_done(api):
    prompt = post(api, steps=6, face_correct="true", num_images="2")
    got = list(events(api, f"/prompts/{prompt['id']}/events"))
    kinds = [kind for _, kind, _ in got if kind != "comment"]
    assert kinds[-1] == "done" and kinds.count("done") == 1 and "progress" in kinds
    done = got[-1][2]
    assert done["id"] == prompt["id"] and done["status"] == "succeeded" and len(done["images"]) == 2
    assert done["progress"] is None
    progress = [data for _, kind, data in got if kind == "progress"]
    assert all(set(p) == {"phase", "queue_position", "step", "steps", "image", "images", "finishing_step",
                          "elapsed_s", "updated_at"} for p in progress)
    denoising = [p["step"] for p in progress if p["phase"] == "denoising" and p["step"] is not None]
    assert len(denoising) >= 2 and denoising == sorted(denoising)
    # Each event is a change: no two in a row are equal.
    assert all(a != b for a, b in zip(progress, progress[1:]))


def test_a_queued_prompt_shows_its_place_in_line_then_runs(api):
    first, second, third = (post(api, text=f"line {i}", steps=4) for i in range(3))
    assert third["progress"]["queue_position"] >= 2
    got = [(kind, data) for _, kind, data in events(api, f"/prompts/{third['id']}/events") if kind != "comment"]
    positions = [data["queue_position"] for kind, data in got if kind == "progress" and data["phase"] == "queued"]
    assert positions and positions == sorted(positions, reverse=True) and positions[-1] >= 1
    phases = [data["phase"] for kind, data in got if kind == "progress"]
    assert phases.index("denoising") > phases.index("queued")
    assert got[-1][0] == "done" and got[-1][1]["status"] == "succeeded"
    wait_done(api, first["id"]), wait_done(api, second["id"])


def test_a_reconnect_mid_prompt_resumes_where_it_is(api):
    prompt = post(api, steps=8)
    path = f"/prompts/{prompt['id']}/events"
    first = []
    for _, kind, data in events(api, path, until=None):
        if kind == "progress":
            first.append(data)
            if data["phase"] == "denoising" and (data["step"] or 0) >= 2:
                break  # the page reloads: the connection drops mid-prompt
    assert first[-1]["step"] >= 2
    again = [(kind, data) for _, kind, data in events(api, path) if kind != "comment"]
    # No state per connection: the new stream starts at the current state, never back in the queue.
    assert again[0][0] in ("progress", "done")
    if again[0][0] == "progress":
        assert again[0][1]["phase"] != "queued" and (again[0][1]["step"] or 0) >= first[-1]["step"]
    assert again[-1][0] == "done" and again[-1][1]["status"] == "succeeded"


def test_a_finished_prompt_answers_done_at_once(api):
    prompt = wait_done(api, post(api, steps=2)["id"])
    got = list(events(api, f"/prompts/{prompt['id']}/events", until=None, limit_s=5))
    assert [kind for _, kind, _ in got] == ["done"] and got[0][0] < 1.0
    assert got[0][2] == api.get(f"/prompts/{prompt['id']}").json()
    failed = wait_done(api, post(api, text="explode please", steps=2)["id"])
    got = list(events(api, f"/prompts/{failed['id']}/events", until=None, limit_s=5))
    assert [kind for _, kind, _ in got] == ["done"] and got[0][2]["status"] == "failed"
    assert got[0][2]["error"]["code"] == "generation_failed"


def test_keep_alive_comments_while_nothing_changes(api):
    prompt = post(api, steps=1)  # one step after the whole delay: nothing changes for DELAY_S
    got = list(events(api, f"/prompts/{prompt['id']}/events"))
    assert any(kind == "comment" and data == ": keep-alive" for _, kind, data in got)
    assert got[-1][1] == "done"


def test_the_signed_events_url_needs_no_key_and_a_bad_signature_is_403(slow_server, api, key):
    prompt = post(api, steps=4)
    with httpx.Client(timeout=30) as anonymous:
        got = [kind for _, kind, _ in events(anonymous, prompt["events_url"]) if kind != "comment"]
        assert got[-1] == "done" and "progress" in got
        url = urlsplit(prompt["events_url"])
        query = parse_qs(url.query)
        tampered = f"{slow_server.url}{url.path}?expires={query['expires'][0]}&signature=AAAA{query['signature'][0][4:]}"
        forbidden = anonymous.get(tampered)
        assert forbidden.status_code == 403 and forbidden.json()["code"] == "invalid_link"
        # A link is for its own prompt only.
        other = post(api, steps=1)
        moved = f"{slow_server.url}/prompts/{other['id']}/events?{url.query}"
        assert anonymous.get(moved).status_code == 403
        assert anonymous.get(f"{slow_server.url}/prompts/{prompt['id']}/events").status_code == 401
    # The nested path with the key; another account's prompt is a 404, as for GET.
    got = [kind for _, kind, _ in events(api, f"/tunes/999/prompts/{prompt['id']}/events", until=None, limit_s=10)]
    assert got == ["done"]
    assert api.get(f"/tunes/12345678/prompts/{prompt['id']}/events").status_code == 404
    stranger = slow_server.new_key("stranger")["key"]
    with slow_server.client(stranger) as theirs:
        assert theirs.get(f"/prompts/{prompt['id']}/events").json()["code"] == "prompt_not_found"
    wait_done(api, other["id"])


def test_the_client_iterates_progress_and_calls_back(slow_server, key):
    with Client(slow_server.url, key) as client:
        prompt = client.create_prompt(999, "client progress", steps=5)
        items = list(client.progress(prompt, timeout=30))
        assert items[-1]["status"] == "succeeded" and all("phase" in item for item in items[:-1])
        assert any(item["phase"] == "denoising" and item["step"] for item in items[:-1])
        heard = []
        done = client.wait(client.create_prompt(999, "client callback", steps=5), timeout=30, on_progress=heard.append)
        assert done["status"] == "succeeded" and any(p["phase"] == "denoising" for p in heard)


def cli(server: Server, key: str, *args: str, tty: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKALIKE_")}
    env.update({"LOOKALIKE_SERVER": server.url, "LOOKALIKE_API_KEY": key})
    if tty:  # rich draws its live bar as on a terminal
        env.update({"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "120"})
    return subprocess.run([LOOKALIKE, *args], env=env, capture_output=True, text=True, timeout=120)


def test_the_cli_shows_a_bar_with_server_and_json_prints_none(slow_server, key, tmp_path):
    ran = cli(slow_server, key, "prompts", "create", "a portrait", "--steps", "5", "--out", str(tmp_path), tty=True)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("prompt ") and "1 image(s)" in ran.stdout and ".png" in ran.stdout
    bar = ran.stderr
    assert "denoising" in bar and "/5" in bar and "step " in bar and "done" in bar
    quiet = cli(slow_server, key, "prompts", "create", "a portrait", "--steps", "3", "--out", str(tmp_path), "--json")
    assert quiet.returncode == 0, quiet.stderr
    report = json.loads(quiet.stdout)
    assert set(report) == {"id", "text", "negative_prompt", "base_model", "num_images", "seed", "steps", "cfg_scale",
                           "scheduler", "w", "h", "images", "url"}
    assert quiet.stderr == ""
