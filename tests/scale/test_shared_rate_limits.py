"""Rate limits shared through Redis: N API servers allow a key the limit once, not N times."""

from __future__ import annotations

import uuid

import pytest

from lookalike.api.ratelimit import CREATE, FACE_CHECK, Rate, RateLimiter
from lookalike.config import Settings
from tests.api.conftest import Server
from tests.scale.conftest import cluster_env

pytestmark = pytest.mark.redis


def test_two_limiters_on_one_redis_enforce_one_combined_limit(redis_url):
    prefix = f"lookalike-test-{uuid.uuid4().hex[:8]}"
    budgets = {CREATE: Rate(per_minute=6, burst=3), FACE_CHECK: Rate(per_minute=6, burst=3)}
    # As two API servers build them: one each, on the same Redis.
    first, second = (RateLimiter(budgets, redis_url=redis_url, prefix=prefix) for _ in range(2))
    assert [first.take(CREATE, 1), second.take(CREATE, 1), first.take(CREATE, 1)] == [None, None, None]
    for limiter in (second, first):
        wait = limiter.take(CREATE, 1)
        assert wait is not None and 9 < wait <= 10
    # Other keys, budgets and deployments (another prefix) are counted apart.
    assert second.take(CREATE, 2) is None
    assert second.take(FACE_CHECK, 1) is None
    elsewhere = RateLimiter(budgets, redis_url=redis_url, prefix=prefix + "-other")
    assert elsewhere.take(CREATE, 1) is None
    # What each server did before: a count of its own, so two servers allowed twice the limit.
    alone = [RateLimiter(budgets) for _ in range(2)]
    assert [limiter.take(CREATE, 1) for limiter in alone for _ in range(3)] == [None] * 6


def test_celery_mode_settings_count_in_the_brokers_redis(redis_url):
    queue = f"lookalike-test-{uuid.uuid4().hex[:8]}"
    settings = Settings(queue="celery", broker_url=redis_url, celery_queue=queue, rate_limit_per_minute=6, rate_limit_burst=2)
    first, second = RateLimiter.from_settings(settings), RateLimiter.from_settings(settings)
    assert first.shared and second.shared
    assert first.take(CREATE, 5) is None and second.take(CREATE, 5) is None
    assert first.take(CREATE, 5) is not None


def test_two_api_servers_share_one_limit_per_key(tmp_path, redis_url):
    data = tmp_path / "data"
    env = cluster_env(
        data,
        database_url=f"sqlite:///{data / 'lookalike.db'}",
        broker_url=redis_url,
        extra={"LOOKALIKE_RATE_LIMIT_PER_MINUTE": "6", "LOOKALIKE_RATE_LIMIT_BURST": "3"},
    )
    servers = [Server(data, env=env) for _ in range(2)]
    for server in servers:
        server.env = env
    try:
        for server in servers:
            server.start(wait_ready=False)
        key = servers[0].new_key("fleet")["key"]
        bad_tune = {"tune": {"title": "t", "name": "woman"}}  # no photos: 422, yet it spends a call
        with servers[0].client(key) as one, servers[1].client(key) as two:
            codes = [client.post("/tunes", json=bad_tune).status_code for client in (one, two, one)]
            assert codes == [422, 422, 422]
            for client in (two, one):
                limited = client.post("/tunes", json=bad_tune)
                assert limited.status_code == 429, limited.text
                assert limited.json()["code"] == "rate_limited"
                assert 1 <= int(limited.headers["Retry-After"]) <= 10
            # Face checks have their own budget.
            assert two.post("/faces/check", files={"nothing": ("x.txt", b"x")}).status_code == 422
    finally:
        for server in servers:
            server.stop()
