"""Celery mode end to end: a stateless `lookalike serve`, `lookalike worker` processes, PostgreSQL, Redis, S3."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.api.conftest import Server, needs_runner, photo_upload
from tests.scale.conftest import WorkerProcess, cluster_env, make_key, wait_all

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.s3]


def test_prompts_run_on_workers_and_images_come_from_s3(tmp_path, pg_url, redis_url, s3):
    data = tmp_path / "data"
    env = cluster_env(data, database_url=pg_url, broker_url=redis_url, extra=s3.env("lookalike", "flow"))
    key = make_key(pg_url, data)
    server = Server(data, env=env)
    # The API server has no local worker: it only queues.
    server.env = env
    workers = [WorkerProcess(env, f"w{i}", tmp_path) for i in range(2)]
    try:
        for worker in workers:
            worker.start()
        server.start()
        for worker in workers:
            worker.wait_ready()
        with server.client(key) as client:
            ids = [
                client.post("/tunes/999/prompts", data={"prompt[text]": f"p{i}", "prompt[num_images]": "2"}).json()["id"]
                for i in range(6)
            ]
            done = wait_all(client, ids, timeout=30)
            assert [p["status"] for p in done] == ["succeeded"] * 6
            assert all(len(p["images"]) == 2 for p in done)
            image = client.get(done[0]["images"][1])
            assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
        # The bytes live in the bucket, under the prompt's first attempt.
        listed = s3.client().list_objects_v2(Bucket="lookalike", Prefix=f"flow/prompts/{ids[0]}/")
        assert sorted(o["Key"] for o in listed["Contents"]) == [
            f"flow/prompts/{ids[0]}/a1/0.png",
            f"flow/prompts/{ids[0]}/a1/1.png",
        ]
        # Both workers took part (prefetch 1: a busy worker does not hoard messages).
        from sqlalchemy import create_engine, text

        engine = create_engine(pg_url)
        with engine.connect() as conn:
            claimed = {row[0].split("@")[0] for row in conn.execute(text("SELECT claimed_by FROM prompts"))}
        engine.dispose()
        assert len(claimed) == 2, claimed
    finally:
        server.stop()
        for worker in workers:
            worker.stop()


@needs_runner
def test_faceid_prompt_on_the_tiny_model_through_a_worker(tmp_path, pg_url, redis_url, s3, photo_files):
    """The real engine: the API makes the tune (crops to S3), a worker that warmed the tiny model reads them back."""
    data = tmp_path / "data"
    env = cluster_env(
        data,
        database_url=pg_url,
        broker_url=redis_url,
        extra={**s3.env("lookalike", "tiny"), "LOOKALIKE_PROMPT_ENGINE": "", "LOOKALIKE_WARMUP_MODELS": "999",
               "LOOKALIKE_JOB_LEASE_S": "30"},
    )
    key = make_key(pg_url, data)
    server = Server(data, env=env)
    server.env = env
    worker = WorkerProcess(env, "gpu0", tmp_path)
    try:
        # The worker first: it writes the tiny model into the shared models
        # directory, and catalog/tiny.py is not safe against two processes
        # writing it at the same moment (one may remove the other's fresh copy).
        worker.start()
        worker.wait_ready(timeout=120)
        server.start()
        with server.client(key) as client:
            tune = client.post(
                "/tunes",
                data={"tune[title]": "t", "tune[name]": "woman", "tune[base_tune_id]": "999"},
                files=[photo_upload(photo_files["1.jpg"])],
            )
            assert tune.status_code == 201, tune.text
            prompts = [
                client.post(
                    "/tunes/999/prompts",
                    data={"prompt[text]": f"ohwx woman <faceid:{tune.json()['id']}:1.0>", "prompt[steps]": "2",
                          "prompt[seed]": str(seed)},
                ).json()["id"]
                for seed in (1, 2)
            ]
            done = wait_all(client, prompts, timeout=90)
            assert [p["status"] for p in done] == ["succeeded"] * 2, [p["error"] for p in done]
            png = client.get(done[1]["images"][0])
            assert Image.open(io.BytesIO(png.content)).size == (64, 64)
        # The models were loaded once, at warm-up, not per prompt.
        log = worker.log.read_text()
        assert log.count(" ready.") == 1
    finally:
        server.stop()
        worker.stop()


@pytest.mark.postgres
@pytest.mark.redis
def test_progress_travels_from_a_worker_to_the_api_through_the_database(tmp_path, pg_url, redis_url):
    """Celery mode: the worker process writes each prompt's progress; the API server's events stream reads it."""
    from lookalike.client import Client

    data = tmp_path / "data"
    env = cluster_env(data, database_url=pg_url, broker_url=redis_url, extra={"FAKE_ENGINE_DELAY_S": "1.5"})
    key = make_key(pg_url, data)
    server = Server(data, env=env)
    server.env = env
    worker = WorkerProcess(env, "w0", tmp_path)
    try:
        worker.start()
        server.start()
        worker.wait_ready()
        with Client(server.url, key) as client:
            first = client.create_prompt(999, "celery progress one", steps=6)
            second = client.create_prompt(999, "celery progress two", steps=6)
            items = list(client.progress(second, timeout=60))
            polled = client.get_prompt(first)
        assert items[-1]["status"] == "succeeded" and items[-1]["progress"] is None
        progress = items[:-1]
        # Queued behind the first (one worker), then its own steps, as the worker wrote them.
        assert progress[0]["phase"] == "queued" and progress[0]["queue_position"] in (1, 2)
        steps = [p["step"] for p in progress if p["phase"] == "denoising" and p["step"]]
        assert len(steps) >= 2 and steps == sorted(steps) and all(p["steps"] == 6 for p in progress if p["step"])
        assert polled["status"] == "succeeded" and polled["progress"] is None
    finally:
        server.stop()
        worker.stop()
