"""Callbacks: refuse unsafe URLs, sign bodies, deliver from an outbox with retries.

A callback is written to the ``callbacks`` table in the same moment as the
event it reports, then delivered by a small thread pool. A delivery that
fails is retried with exponential backoff (tenacity); one still pending when
the server stops is delivered after the next start. So delivery is
at-least-once: receivers should use ``X-Lookalike-Delivery`` to drop repeats.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, stop_when_event_set, wait_exponential

from lookalike.errors import CallbackURLError
from lookalike.net import pinned
from lookalike.net.pinned import OutboundError
from lookalike.store.tables import CallbackRow, utcnow

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Lookalike-Signature"
MAX_URL_LENGTH = pinned.MAX_URL_LENGTH
# A POST answers at once; a name server that has not answered by then will not.
_RESOLVE_TIMEOUT_S = 10.0
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


class DeliveryError(Exception):
    """One attempt failed (network error or a non-2xx answer); worth retrying."""


# -- URL safety ------------------------------------------------------------------


def check_callback_url(url: str, *, allow_private: bool, field: str = "callback") -> str:
    """The URL if it is http(s) and every address its host resolves to is public.

    Resolving here (and again before each delivery, whose connection then goes
    to the address just checked) keeps callers from making the server POST
    into its own network. The address policy is the one photo fetching uses
    (``lookalike.net.addresses``): loopback, private, link-local (cloud
    metadata at 169.254.169.254), multicast, reserved, and IPv6 forms that
    carry such an IPv4 address inside (``::ffff:127.0.0.1``, NAT64, 6to4).
    """
    try:
        parsed = pinned.parse_url(url, max_length=MAX_URL_LENGTH)
    except OutboundError as exc:
        raise CallbackURLError(f"The callback URL is not usable: {exc.message}", field=field) from exc
    if allow_private:
        return parsed.url
    try:
        pinned.resolve_url(parsed, allow_private=False, deadline=pinned.deadline_after(_RESOLVE_TIMEOUT_S))
    except OutboundError as exc:
        if exc.kind in (pinned.UNREACHABLE, pinned.TIMEOUT):
            # A name that does not resolve now may resolve at delivery, which
            # resolves and checks again and connects only to what it checked;
            # Astria takes such URLs too. A non-public answer is refused now.
            return parsed.url
        raise CallbackURLError(f"The callback URL is not usable: {exc.message}", field=field) from exc
    return parsed.url


# -- signing -----------------------------------------------------------------------


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """``t=TIMESTAMP,v1=HEX``: HMAC-SHA256 over ``b"TIMESTAMP." + body``, keyed by the account's secret."""
    digest = hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: float = 300.0, now: float | None = None) -> bool:
    """What a receiver does (in Python); documented in docs/SERVICE.md."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


# -- delivery ----------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int
    backoff_s: float
    backoff_max_s: float
    timeout_s: float
    allow_private: bool

    @classmethod
    def from_settings(cls, settings) -> DeliveryPolicy:
        return cls(
            max_attempts=settings.callback_max_attempts,
            backoff_s=settings.callback_backoff_s,
            backoff_max_s=settings.callback_backoff_max_s,
            timeout_s=settings.callback_timeout_s,
            allow_private=settings.callback_allow_private,
        )


class CallbackDispatcher:
    def __init__(self, sessions: sessionmaker[Session], secret_for, policy: DeliveryPolicy, *, threads: int = 4) -> None:
        self.sessions = sessions
        self.secret_for = secret_for  # account_id -> signing secret
        self.policy = policy
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lookalike-callback")

    def enqueue(self, *, account_id: int, url: str, event: str, object_id: int, payload: dict[str, Any]) -> int:
        now = utcnow()
        row = CallbackRow(
            account_id=account_id,
            url=url,
            event=event,
            object_id=object_id,
            body=json.dumps(payload, separators=(",", ":"), default=str),
            status=PENDING,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        with self.sessions() as session:
            session.add(row)
            session.commit()
        # After close() the row stays pending and goes out after the next start.
        if not self._stop.is_set():
            self._submit(row.id)
        return row.id

    def _submit(self, callback_id: int) -> None:
        try:
            self._pool.submit(self._deliver_logged, callback_id)
        except RuntimeError:
            # The pool shut down between the check and the submit: same as above.
            log.info("callback %s left pending for the next start", callback_id)

    def resume_pending(self) -> int:
        """Deliver what a previous process left pending."""
        with self.sessions() as session:
            ids = list(session.scalars(select(CallbackRow.id).where(CallbackRow.status == PENDING).order_by(CallbackRow.id)))
        for callback_id in ids:
            self._submit(callback_id)
        return len(ids)

    def close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _deliver_logged(self, callback_id: int) -> None:
        try:
            self._deliver(callback_id)
        except Exception:
            # A pool thread has no caller to report to; the row stays pending
            # and is retried after the next start.
            log.exception("callback %s: delivery crashed", callback_id)

    def _deliver(self, callback_id: int) -> None:
        with self.sessions() as session:
            row = session.get(CallbackRow, callback_id)
            if row is None or row.status != PENDING:
                return
            url, body, account_id, event = row.url, row.body.encode("utf-8"), row.account_id, row.event
        secret = self.secret_for(account_id)
        retrying = Retrying(
            stop=stop_after_attempt(self.policy.max_attempts) | stop_when_event_set(self._stop),
            wait=wait_exponential(multiplier=self.policy.backoff_s, max=self.policy.backoff_max_s),
            retry=retry_if_exception_type(DeliveryError),
            # Waiting on the stop event lets shutdown cut a long backoff short.
            sleep=self._stop.wait,
        )
        try:
            for attempt in retrying:
                with attempt:
                    self._attempt(callback_id, url, body, secret, event)
        except RetryError as exc:
            error = str(exc.last_attempt.exception()) if exc.last_attempt.failed else "stopped"
            # Stopped by shutdown: stays pending and is delivered after the next start.
            if not self._stop.is_set():
                self._finish(callback_id, FAILED, error)
                log.warning("callback %s to %s failed for good: %s", callback_id, url, error)
            return
        self._finish(callback_id, DELIVERED, None)

    def _attempt(self, callback_id: int, url: str, body: bytes, secret: str, event: str) -> None:
        self._count_attempt(callback_id)
        deadline = pinned.deadline_after(self.policy.timeout_s)
        headers = [
            ("Content-Type", "application/json"),
            ("User-Agent", "lookalike-callback/1"),
            ("X-Lookalike-Event", event),
            ("X-Lookalike-Delivery", str(callback_id)),
            (SIGNATURE_HEADER, sign(secret, body, int(time.time()))),
        ]
        try:
            # Resolved and checked again at each attempt (DNS may have changed
            # since the POST), and the connection pinned to the checked address.
            target = pinned.resolve_url(url, allow_private=self.policy.allow_private, deadline=deadline)
            # Redirects are not followed: the exchange never does.
            reply = pinned.exchange(target, "POST", deadline=deadline, headers=headers, content=body, read_body=False)
        except OutboundError as exc:
            raise DeliveryError(exc.message) from exc
        if not 200 <= reply.status < 300:
            raise DeliveryError(f"HTTP {reply.status}")

    def _count_attempt(self, callback_id: int) -> None:
        with self.sessions() as session:
            row = session.get(CallbackRow, callback_id)
            if row is not None:
                row.attempts += 1
                row.updated_at = utcnow()
                session.commit()

    def _finish(self, callback_id: int, status: str, error: str | None) -> None:
        with self.sessions() as session:
            row = session.get(CallbackRow, callback_id)
            if row is not None:
                row.status, row.last_error, row.updated_at = status, error and error[:1024], utcnow()
                session.commit()
