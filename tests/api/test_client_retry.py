"""The client's retries: which answers and failures are retried, how long it waits, when it gives up."""

from __future__ import annotations

import httpx
import pytest

from lookalike.client import Client
from lookalike.errors import LookalikeError, RateLimitedError, ServerUnreachableError


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)
    return slept


def _client(answers, *, max_retries: int = 3):
    """A client whose server gives ``answers`` in turn (a status, (status, headers), or an exception)."""
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        answer = answers[min(len(calls), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        status, headers = answer if isinstance(answer, tuple) else (answer, {})
        body = {"error": {"code": "rate_limited", "message": "slow down"}} if status == 429 else []
        return httpx.Response(status, json=body, headers=headers)

    return Client("http://lookalike.test", "k", max_retries=max_retries, transport=httpx.MockTransport(handler)), calls


def test_busy_answers_are_retried_with_exponential_backoff(waits):
    client, calls = _client([503, 502, 504, 200])
    assert client.list_tunes() == []
    assert len(calls) == 4 and waits == [0.5, 1.0, 2.0]


def test_retry_after_is_honoured_and_capped(waits):
    client, _ = _client([(429, {"Retry-After": "3"}), (503, {"Retry-After": "600"}), (503, {"Retry-After": "soon"}), 200])
    client.list_tunes()
    assert waits == [3.0, 60.0, 2.0]


def test_out_of_attempts_the_last_answer_is_a_typed_error(waits):
    client, calls = _client([429], max_retries=2)
    with pytest.raises(RateLimitedError) as info:
        client.list_tunes()
    assert info.value.status == 429 and len(calls) == 3 and len(waits) == 2


def test_other_errors_are_not_retried(waits):
    client, calls = _client([500, 200])
    with pytest.raises(LookalikeError) as info:
        client.list_tunes()
    assert info.value.status == 500 and len(calls) == 1 and waits == []


def test_transport_errors_are_retried_then_reported(waits):
    client, calls = _client([httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), 200])
    assert client.list_tunes() == []
    assert len(calls) == 3 and waits == [0.5, 1.0]

    client, calls = _client([httpx.ConnectError("refused")], max_retries=4)
    with pytest.raises(ServerUnreachableError) as info:
        client.list_tunes()
    assert "refused" in info.value.message
    assert len(calls) == 5 and waits[2:] == [0.5, 1.0, 2.0, 4.0]


def test_backoff_stops_growing_at_eight_seconds(waits):
    client, _ = _client([503] * 7 + [200], max_retries=7)
    client.list_tunes()
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
