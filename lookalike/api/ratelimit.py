"""Per-key rate limits for the CPU-heavy calls: creations (tunes, prompts) and face checks.

Counted with the ``limits`` library's moving windows, so one implementation
serves both modes; only the storage differs:

- in-process mode (one API server): this process's memory;
- Celery mode (any number of API servers): the Redis at
  ``LOOKALIKE_BROKER_URL``, so the servers share one count per key and N
  servers allow the limit once, not N times. Keys are prefixed with
  ``LOOKALIKE_CELERY_QUEUE``, as the broker's queue is, so deployments that
  share a Redis do not share limits.

Each budget is two moving windows made from ``LOOKALIKE_RATE_LIMIT_PER_MINUTE``
(R) and ``LOOKALIKE_RATE_LIMIT_BURST`` (B), the two numbers of the token
bucket this replaces: at most B calls in any ``60 / R`` seconds (the time a
token took to come back: a full burst at once, then wait about one refill
interval) and at most R in any minute (the sustained rate; a B above R is
capped by it). A refused call costs nothing; its Retry-After is the time
until both windows have room again.

Redis unreachable (Celery mode): the call is counted in this process's memory
instead, for ``SHARED_RETRY_S``, then Redis is tried again. Creating must not
depend on Redis any more than queueing does (a POST never needs the broker),
and a per-server limit is better than none while it is away.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

if TYPE_CHECKING:
    from lookalike.config import Settings

log = logging.getLogger(__name__)

# The budgets: tune and prompt creation share one; POST /faces/check has its own.
CREATE = "create"
FACE_CHECK = "face_check"

# After a Redis failure, count in memory this long before trying Redis again,
# so a dead Redis costs one failed attempt per interval, not one per request.
SHARED_RETRY_S = 10.0
# Redis is on every limited request's path: fail fast rather than hang it.
REDIS_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class Rate:
    """A budget's two numbers, as the settings give them."""

    per_minute: float
    burst: int

    def windows(self) -> tuple[RateLimitItem, ...]:
        """The moving windows: ``burst`` per refill interval, then the per-minute (sustained) cap.

        ``limits`` windows are whole seconds; a rate under one per minute
        becomes one call per ``60 / per_minute`` seconds.
        """
        refill_s = 60.0 / self.per_minute
        burst = RateLimitItemPerSecond(self.burst, max(1, math.ceil(refill_s)))
        span = max(60, math.ceil(refill_s))
        sustained = RateLimitItemPerSecond(max(1, math.floor(self.per_minute * span / 60.0 + 1e-9)), span)
        return burst, sustained


class RateLimiter:
    def __init__(self, budgets: Mapping[str, Rate], *, redis_url: str | None = None, prefix: str = "lookalike") -> None:
        """Counts in memory, or in the Redis at ``redis_url``; ``prefix`` keeps deployments apart there."""
        self.budgets = {name: rate.windows() for name, rate in budgets.items()}
        self.prefix = prefix
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared: MovingWindowRateLimiter | None = None
        if redis_url:
            storage = storage_from_string(
                _limits_url(redis_url),
                key_prefix=f"{prefix}:ratelimit",
                wrap_exceptions=True,
                socket_connect_timeout=REDIS_TIMEOUT_S,
                socket_timeout=REDIS_TIMEOUT_S,
            )
            self._shared = MovingWindowRateLimiter(storage)
        self._shared_down_until = 0.0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        rate = Rate(per_minute=settings.rate_limit_per_minute, burst=settings.rate_limit_burst)
        # One budget per kind of CPU-heavy call, each with the same numbers (docs/SERVICE.md).
        budgets = {CREATE: rate, FACE_CHECK: rate}
        if settings.queue == "celery":
            return cls(budgets, redis_url=settings.broker_url, prefix=f"lookalike:{settings.celery_queue}")
        return cls(budgets)

    @property
    def shared(self) -> bool:
        """True when counts live in Redis (shared by every API server on it)."""
        return self._shared is not None

    def take(self, budget: str, key: int) -> float | None:
        """Spend one call of ``budget`` for API key ``key``: None if allowed, else seconds until one is free."""
        windows = self.budgets[budget]
        identifiers = (budget, str(key))
        if self._shared is not None and time.monotonic() >= self._shared_down_until:
            try:
                return _take(self._shared, windows, identifiers)
            except StorageError as exc:
                self._shared_down_until = time.monotonic() + SHARED_RETRY_S
                log.warning(
                    "rate limits: Redis unreachable (%s); counting in this process for %.0f s",
                    exc.storage_error,
                    SHARED_RETRY_S,
                )
        with self._lock:
            return _take(self._local, windows, identifiers)


def _take(limiter: MovingWindowRateLimiter, windows: tuple[RateLimitItem, ...], identifiers: tuple[str, ...]) -> float | None:
    # Test every window first, so a refused call spends nothing. Between the
    # test and the hits another server may take the last place; the hit then
    # fails and the call is refused like any other (at worst one place of an
    # earlier window is spent by a refused call).
    full = [item for item in windows if not limiter.test(item, *identifiers)]
    if not full:
        for item in windows:
            if not limiter.hit(item, *identifiers):
                full = [item]
                break
        else:
            return None
    now = time.time()
    waits = [limiter.get_window_stats(item, *identifiers).reset_time - now for item in full]
    return max(0.001, *waits)


def _limits_url(url: str) -> str:
    # Celery spells a Unix socket redis+socket://, redis-py (and limits) redis+unix://.
    return "redis+unix://" + url.removeprefix("redis+socket://") if url.startswith("redis+socket://") else url
