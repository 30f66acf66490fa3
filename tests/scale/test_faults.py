"""Faults, each bounded in time: a worker killed mid-job, Redis stopped, the API server killed under load.

Every test runs real processes (PostgreSQL, Redis, `lookalike serve`,
`lookalike worker`) and checks the database afterwards: every prompt
succeeded, once, with exactly its own images.
"""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.api.conftest import Server
from tests.scale.conftest import WorkerProcess, cluster_env, make_key, wait_all

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(120)]


def rows(database_url: str) -> list[dict]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            result = conn.execute(
                text(
                    "SELECT p.id, p.status, p.attempts, p.claimed_by, count(i.id) AS images "
                    "FROM prompts p LEFT JOIN prompt_images i ON i.prompt_id = p.id GROUP BY p.id ORDER BY p.id"
                )
            )
            return [dict(r._mapping) for r in result]
    finally:
        engine.dispose()


def wait_status(client: httpx.Client, prompt_id: int, status: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prompt = client.get(f"/prompts/{prompt_id}").json()
        if prompt["status"] == status:
            return prompt
        time.sleep(0.05)
    raise AssertionError(f"prompt {prompt_id} never {status}")


def test_worker_killed_mid_job_the_prompt_completes_on_another(tmp_path, pg_url, redis_url):
    data = tmp_path / "data"
    env = cluster_env(data, database_url=pg_url, broker_url=redis_url, extra={"FAKE_ENGINE_DELAY_S": "2"})
    key = make_key(pg_url, data)
    server = Server(data, env=env)
    server.env = env
    workers = {name: WorkerProcess(env, name, tmp_path) for name in ("w1", "w2")}
    try:
        for worker in workers.values():
            worker.start()
        server.start()
        for worker in workers.values():
            worker.wait_ready()
        with server.client(key) as client:
            prompt = client.post("/tunes/999/prompts", data={"prompt[text]": "k", "prompt[num_images]": "2"}).json()
            wait_status(client, prompt["id"], "processing")
            victim = rows(pg_url)[0]["claimed_by"]
            killed_at = time.monotonic()
            workers[victim].kill()

            done = wait_all(client, [prompt["id"]], timeout=30)[0]
            took = time.monotonic() - killed_at
            assert done["status"] == "succeeded" and len(done["images"]) == 2
            assert client.get(done["images"][1]).status_code == 200
        [row] = rows(pg_url)
        assert row["attempts"] == 2 and row["claimed_by"] != victim and row["images"] == 2
        # Lease 2 s + sweep 0.5 s + the 2 s job, with room for a busy CI machine.
        assert took < 20, took
    finally:
        server.stop()
        for worker in workers.values():
            worker.stop()


def test_redis_stopped_prompts_wait_and_run_when_it_is_back(tmp_path, pg_url, private_redis):
    data = tmp_path / "data"
    env = cluster_env(data, database_url=pg_url, broker_url=private_redis.url, extra={"FAKE_ENGINE_DELAY_S": "0.5"})
    key = make_key(pg_url, data)
    server = Server(data, env=env)
    server.env = env
    worker = WorkerProcess(env, "w1", tmp_path)
    try:
        worker.start()
        server.start()
        worker.wait_ready()
        with server.client(key) as client:
            before = [client.post("/tunes/999/prompts", data={"prompt[text]": f"b{i}"}).json()["id"] for i in range(3)]
            wait_status(client, before[0], "processing")
            # Redis dies with two prompts in its list (no persistence: they are gone from it).
            private_redis.stop()
            during = []
            for i in range(3):
                started = time.monotonic()
                response = client.post("/tunes/999/prompts", data={"prompt[text]": f"d{i}"})
                # Queued in the database, answered at once: the broker is not on the POST's path.
                assert response.status_code == 201, response.text
                assert time.monotonic() - started < 2
                during.append(response.json()["id"])
            assert client.get(f"/prompts/{during[0]}").json()["status"] == "queued"
            time.sleep(3)
            ready = client.get("/readyz").json()
            assert ready["broker"] == "unavailable" and ready["broker_error"]["code"] == "broker_unavailable"
            private_redis.start()  # same port, empty
            done = wait_all(client, before + during, timeout=45)
            assert client.get("/readyz").json()["broker"] == "ok"
        assert [p["status"] for p in done] == ["succeeded"] * 6
        assert all(r["images"] == 1 and r["status"] == "succeeded" for r in rows(pg_url))
    finally:
        server.stop()
        worker.stop()


def test_api_server_killed_under_load_loses_and_duplicates_nothing(tmp_path, pg_url, redis_url):
    data = tmp_path / "data"
    env = cluster_env(data, database_url=pg_url, broker_url=redis_url, extra={"FAKE_ENGINE_DELAY_S": "0.1"})
    key = make_key(pg_url, data)
    server = Server(data, env=env)
    server.env = env
    workers = [WorkerProcess(env, f"w{i}", tmp_path) for i in range(2)]
    total = 16
    ids: dict[str, int] = {}
    retries = []

    def client_load() -> None:
        # A careful client: one Idempotency-Key per prompt, retried until answered.
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as client:
            for i in range(total):
                idem = f"load-{i}"
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    try:
                        response = client.post(
                            "/tunes/999/prompts", data={"prompt[text]": f"l{i}"}, headers={"Idempotency-Key": idem}
                        )
                    except httpx.TransportError:
                        retries.append(i)
                        time.sleep(0.1)
                        continue
                    if response.status_code in (200, 201):
                        ids[idem] = response.json()["id"]
                        break
                    retries.append(i)
                    time.sleep(0.1)
                time.sleep(0.05)

    try:
        for worker in workers:
            worker.start()
        server.start()
        for worker in workers:
            worker.wait_ready()
        load = threading.Thread(target=client_load)
        load.start()
        while len(ids) < 5:
            time.sleep(0.02)
        server.stop(signal.SIGKILL)
        server.start()
        load.join(90)
        assert not load.is_alive()
        assert retries, "the kill should have interrupted the client at least once"
        with server.client(key) as client:
            done = wait_all(client, sorted(ids.values()), timeout=45)
        assert len(ids) == total and len(set(ids.values())) == total
        assert all(p["status"] == "succeeded" for p in done)
        stored = rows(pg_url)
        assert len(stored) == total, "a prompt was stored twice or lost"
        assert all(r["images"] == 1 and r["attempts"] == 1 for r in stored)
    finally:
        server.stop()
        for worker in workers:
            worker.stop()
