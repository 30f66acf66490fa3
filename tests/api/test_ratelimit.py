"""The rate limiter (api/ratelimit.py) in memory: bursts, refills, the per-minute cap, and Redis going away.

The shared (Redis) counting is tested against a real Redis in tests/scale/test_shared_rate_limits.py.
"""

from __future__ import annotations

import time

import pytest

from lookalike.api import ratelimit
from lookalike.api.ratelimit import CREATE, FACE_CHECK, Rate, RateLimiter
from lookalike.config import Settings
from tests.api.conftest import free_port


class FakeClock:
    """Stands in for the ``time`` module where the limiter and limits' memory storage read it."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    import limits.storage.memory

    fake = FakeClock()
    monkeypatch.setattr(limits.storage.memory, "time", fake)
    monkeypatch.setattr(ratelimit, "time", fake)
    return fake


def test_windows_are_the_burst_per_refill_interval_and_the_rate_per_minute():
    burst, sustained = Rate(per_minute=6, burst=3).windows()
    assert (burst.amount, burst.get_expiry()) == (3, 10)
    assert (sustained.amount, sustained.get_expiry()) == (6, 60)
    burst, sustained = Rate(per_minute=600, burst=200).windows()
    assert (burst.amount, burst.get_expiry()) == (200, 1)  # whole seconds at least
    assert (sustained.amount, sustained.get_expiry()) == (600, 60)
    burst, sustained = Rate(per_minute=0.5, burst=4).windows()
    assert (sustained.amount, sustained.get_expiry()) == (1, 120)  # one per two minutes


def test_a_burst_then_one_per_refill_interval(clock):
    limiter = RateLimiter({CREATE: Rate(per_minute=6, burst=3)})
    assert [limiter.take(CREATE, 1) for _ in range(3)] == [None, None, None]
    wait = limiter.take(CREATE, 1)
    assert wait == pytest.approx(10.0)
    assert limiter.take(CREATE, 2) is None  # another key has its own count
    # Refused calls spend nothing: after the interval the whole burst is back.
    clock.now += 5
    assert limiter.take(CREATE, 1) == pytest.approx(5.0)
    clock.now += 5.01
    assert [limiter.take(CREATE, 1) for _ in range(3)] == [None, None, None]
    # Six in this minute: the per-minute window refuses the seventh although the burst window has room.
    clock.now += 10.01
    assert limiter.take(CREATE, 1) == pytest.approx(60 - 20.02)


def test_a_burst_above_the_rate_is_capped_by_the_minute(clock):
    limiter = RateLimiter({CREATE: Rate(per_minute=6, burst=20)})
    assert [limiter.take(CREATE, 1) for _ in range(6)] == [None] * 6
    assert limiter.take(CREATE, 1) == pytest.approx(60.0)


def test_budgets_are_counted_apart(clock):
    limiter = RateLimiter.from_settings(Settings(rate_limit_per_minute=6, rate_limit_burst=2))
    assert not limiter.shared  # in-process mode counts in memory
    assert limiter.take(CREATE, 1) is None and limiter.take(CREATE, 1) is None
    assert limiter.take(CREATE, 1) is not None
    assert limiter.take(FACE_CHECK, 1) is None and limiter.take(FACE_CHECK, 1) is None
    assert limiter.take(FACE_CHECK, 1) is not None


def test_real_time_refill():
    limiter = RateLimiter({CREATE: Rate(per_minute=60, burst=2)})
    assert limiter.take(CREATE, 7) is None and limiter.take(CREATE, 7) is None
    wait = limiter.take(CREATE, 7)
    assert 0 < wait <= 1.0
    time.sleep(wait + 0.05)
    assert limiter.take(CREATE, 7) is None


def test_celery_mode_counts_in_redis_and_an_unreachable_redis_falls_back_to_memory():
    settings = Settings(queue="celery", broker_url=f"redis://127.0.0.1:{free_port()}/0", rate_limit_per_minute=60, rate_limit_burst=2)
    limiter = RateLimiter.from_settings(settings)
    assert limiter.shared
    started = time.monotonic()
    # Nothing listens there: the calls are counted in this process instead, and quickly.
    assert limiter.take(CREATE, 1) is None and limiter.take(CREATE, 1) is None
    assert limiter.take(CREATE, 1) is not None
    assert time.monotonic() - started < 2.5
