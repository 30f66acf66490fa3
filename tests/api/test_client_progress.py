"""The client following a prompt's events: a dropped stream resumes, an older server is polled, errors are typed."""

from __future__ import annotations

import httpx
import pytest

from lookalike.client import Client
from lookalike.errors import GenerationFailedError, PromptNotFoundError


def _progress(step: int | None, phase: str = "denoising") -> dict:
    return {"phase": phase, "queue_position": None, "step": step, "steps": 4, "image": None, "images": 1,
            "finishing_step": None, "elapsed_s": 0.5, "updated_at": "2026-11-29T10:00:00.000Z"}


def _stream(*events: tuple[str, dict], comment: bool = True) -> bytes:
    import json

    body = b": keep-alive\n\n" if comment else b""
    for name, data in events:
        body += f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
    return body


def _client(handler) -> Client:
    return Client("http://lookalike.test", "k", transport=httpx.MockTransport(handler))


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda seconds: None)


def test_a_dropped_stream_is_read_once_and_opened_again():
    prompt = {"id": 7, "status": "processing", "progress": _progress(2)}
    done = {"id": 7, "status": "succeeded", "progress": None, "images": []}
    opened = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/prompts/7/events":
            opened.append(request.headers["authorization"])
            if len(opened) == 1:  # ends mid-prompt, without done (a restarting server)
                return httpx.Response(200, content=_stream(("progress", _progress(1))))
            return httpx.Response(200, content=_stream(("progress", _progress(3)), ("done", done)))
        return httpx.Response(200, json=prompt)

    items = list(_client(handler).progress(7))
    assert [item.get("step") for item in items[:-1]] == [1, 2, 3] and items[-1] == done
    assert opened == ["Bearer k", "Bearer k"]


def test_a_server_without_events_is_polled():
    answers = iter([{"id": 7, "status": "queued", "progress": _progress(None, "queued")},
                    {"id": 7, "status": "processing", "progress": _progress(1)},
                    {"id": 7, "status": "failed", "progress": None, "error": {"code": "generation_failed", "message": "boom"}}])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "Not Found"}})
        return httpx.Response(200, json=next(answers))

    heard = []
    with pytest.raises(GenerationFailedError, match="boom"):
        _client(handler).wait(7, on_progress=heard.append)
    assert [p["phase"] for p in heard] == ["queued", "denoising"]


def test_a_missing_prompt_is_its_typed_error():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": {"code": "prompt_not_found", "message": "There is no prompt 7."}})

    with pytest.raises(PromptNotFoundError):
        list(_client(handler).progress(7))


def test_it_gives_up_after_the_timeout():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            return httpx.Response(200, content=_stream(("progress", _progress(1))))
        return httpx.Response(200, json={"id": 7, "status": "processing", "progress": _progress(1)})

    with pytest.raises(TimeoutError, match="still processing"):
        list(_client(handler).progress(7, timeout=0.05))
