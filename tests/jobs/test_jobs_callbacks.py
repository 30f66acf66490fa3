"""Callback URLs, signatures and delivery with retries (in-process, against a local receiver)."""

from __future__ import annotations

import time

import pytest

from lookalike.errors import CallbackURLError
from lookalike.jobs.callbacks import SIGNATURE_HEADER, CallbackDispatcher, DeliveryPolicy, check_callback_url, sign, verify
from lookalike.store.tables import CallbackRow
from tests.api.receiver import Receiver


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://localhost:8000/x",
        "http://10.1.2.3/x",
        "http://192.168.0.1/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://0.0.0.0/x",
        # Multicast, and IPv6 forms that carry a loopback IPv4 inside (lookalike.net.addresses).
        "http://224.0.0.1/x",
        "http://[ff02::1]/x",
        "http://[64:ff9b::7f00:1]/x",
        "http://[2002:7f00:1::]/x",
        "http://[::ffff:127.0.0.1]/x",
    ],
)
def test_private_targets_are_refused(url):
    with pytest.raises(CallbackURLError):
        check_callback_url(url, allow_private=False)
    assert check_callback_url(url, allow_private=True) == url


@pytest.mark.parametrize("url", ["ftp://example.com/x", "http:///nohost", "not a url", "http://user:pw@1.1.1.1/", "http://1.1.1.1:99999/"])
def test_malformed_urls_are_refused_even_when_private_is_allowed(url):
    with pytest.raises(CallbackURLError):
        check_callback_url(url, allow_private=True)


def test_public_ip_literal_is_accepted():
    assert check_callback_url("https://1.1.1.1/hook", allow_private=False) == "https://1.1.1.1/hook"


def test_signature_roundtrip_and_replay_window():
    body = b'{"prompt":{"id":1}}'
    header = sign("whsec_x", body, 1_700_000_000)
    assert verify("whsec_x", body, header, now=1_700_000_100)
    assert not verify("whsec_x", body + b" ", header, now=1_700_000_100)
    assert not verify("whsec_y", body, header, now=1_700_000_100)
    assert not verify("whsec_x", body, header, now=1_700_001_000)  # too old
    assert not verify("whsec_x", body, "garbage", now=1_700_000_100)


def _dispatcher(services, attempts: int) -> CallbackDispatcher:
    policy = DeliveryPolicy(max_attempts=attempts, backoff_s=0.05, backoff_max_s=0.2, timeout_s=5, allow_private=True)
    return CallbackDispatcher(services.sessions, lambda account_id: f"secret-{account_id}", policy)


def _row(services, callback_id: int) -> CallbackRow:
    with services.sessions() as session:
        return session.get(CallbackRow, callback_id)


def _wait_status(services, callback_id: int, status: str, timeout: float = 10.0) -> CallbackRow:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = _row(services, callback_id)
        if row.status == status:
            return row
        time.sleep(0.02)
    raise AssertionError(f"callback {callback_id} is {row.status}, expected {status}")


def test_delivery_is_retried_with_backoff_then_succeeds(services):
    dispatcher = _dispatcher(services, attempts=5)
    try:
        with Receiver(fail_first=2) as receiver:
            callback_id = dispatcher.enqueue(account_id=3, url=receiver.url, event="prompt", object_id=9, payload={"prompt": {"id": 9}})
            requests = receiver.wait_for(3)
            row = _wait_status(services, callback_id, "delivered")
    finally:
        dispatcher.close()
    assert [r.answered for r in requests] == [500, 500, 204]
    assert row.attempts == 3
    assert all(verify("secret-3", r.body, r.headers[SIGNATURE_HEADER]) for r in requests)


def test_delivery_gives_up_after_max_attempts(services):
    dispatcher = _dispatcher(services, attempts=2)
    try:
        with Receiver(fail_first=99) as receiver:
            callback_id = dispatcher.enqueue(account_id=1, url=receiver.url, event="tune", object_id=1, payload={})
            row = _wait_status(services, callback_id, "failed")
            assert len(receiver.requests) == 2
    finally:
        dispatcher.close()
    assert row.attempts == 2 and row.last_error == "HTTP 500"


def test_pending_callbacks_resume_after_a_restart(services):
    with Receiver() as receiver:
        first = _dispatcher(services, attempts=3)
        first.close()  # stopped before it could deliver: the row stays pending
        callback_id = first.enqueue(account_id=1, url=receiver.url, event="tune", object_id=1, payload={"tune": {}})
        assert _row(services, callback_id).status == "pending"
        second = _dispatcher(services, attempts=3)
        try:
            assert second.resume_pending() == 1
            _wait_status(services, callback_id, "delivered")
        finally:
            second.close()


def _fake_dns(monkeypatch, name: str, address: str) -> list[str]:
    import socket

    real = socket.getaddrinfo
    lookups: list[str] = []

    def fake(host, port, *args, **kwargs):
        if host == name:
            lookups.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return lookups


def test_delivery_checks_the_address_again_and_does_not_post(services, monkeypatch):
    """A name that was public at POST time and points inside at delivery time is refused."""
    policy = DeliveryPolicy(max_attempts=2, backoff_s=0.01, backoff_max_s=0.02, timeout_s=5, allow_private=False)
    dispatcher = CallbackDispatcher(services.sessions, lambda account_id: "s", policy)
    try:
        with Receiver() as receiver:
            port = receiver.url.split(":")[2].split("/")[0]
            _fake_dns(monkeypatch, "hook.example.test", "127.0.0.1")
            callback_id = dispatcher.enqueue(
                account_id=1, url=f"http://hook.example.test:{port}/hook", event="tune", object_id=1, payload={}
            )
            row = _wait_status(services, callback_id, "failed")
            assert receiver.requests == []
    finally:
        dispatcher.close()
    assert "non-public address (127.0.0.1: loopback)" in row.last_error


def test_delivery_connects_to_the_address_it_resolved_and_names_the_host(services, monkeypatch):
    dispatcher = _dispatcher(services, attempts=1)
    try:
        with Receiver() as receiver:
            port = receiver.url.split(":")[2].split("/")[0]
            lookups = _fake_dns(monkeypatch, "hook.example.test", "127.0.0.1")
            callback_id = dispatcher.enqueue(
                account_id=1, url=f"http://hook.example.test:{port}/hook", event="tune", object_id=1, payload={"tune": {}}
            )
            (request,) = receiver.wait_for(1)
            _wait_status(services, callback_id, "delivered")
    finally:
        dispatcher.close()
    assert lookups == ["hook.example.test"]  # once per attempt, and this was one attempt
    assert request.headers["Host"] == f"hook.example.test:{port}"
    assert request.headers["X-Lookalike-Delivery"] == str(callback_id)
