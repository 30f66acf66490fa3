"""Real PostgreSQL, Redis, an S3-compatible server, `lookalike serve` and `lookalike worker` processes.

Where PostgreSQL and Redis are (.ci/run starts them and sets these):
  LOOKALIKE_TEST_POSTGRES_URL  a URL whose role may CREATE DATABASE (each test gets its own database)
  LOOKALIKE_TEST_REDIS_URL     a Redis (each test gets its own queue name)
Locally, without them, these tests skip and say why; with CI=true a missing
service fails the run instead, so CI cannot pass by skipping them.
The S3 server is moto's (`moto_server`, from the test extra) on loopback.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import BASE_ENV, LOOKALIKE, REPO, free_port, photo_files  # noqa: F401 (a fixture)

ON_CI = os.environ.get("CI") == "true"
BIN = Path(sys.executable).parent


def unavailable(reason: str):
    if ON_CI:
        pytest.fail(f"{reason} (CI=true: .ci/run must provide this service)", pytrace=False)
    pytest.skip(reason)


# -- PostgreSQL ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    url = os.environ.get("LOOKALIKE_TEST_POSTGRES_URL")
    if not url:
        unavailable("no PostgreSQL: set LOOKALIKE_TEST_POSTGRES_URL (eval \"$(.ci/services.sh)\" starts one)")
    import psycopg

    try:
        with psycopg.connect(_libpq(url), connect_timeout=3):
            pass
    except psycopg.Error as exc:
        unavailable(f"PostgreSQL at {url} does not answer: {exc}")
    return url


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def pg_url(pg_admin_url) -> Iterator[str]:
    """A fresh, empty database for this test; dropped after it."""
    import psycopg

    name = f"lk_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(pg_admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield pg_admin_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(_libpq(pg_admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- Redis ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("LOOKALIKE_TEST_REDIS_URL")
    if not url:
        unavailable("no Redis: set LOOKALIKE_TEST_REDIS_URL (eval \"$(.ci/services.sh)\" starts one)")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        unavailable(f"Redis at {url} does not answer: {exc}")
    return url


class RedisServer:
    """A private redis-server on a free port that a test may stop and start again (no persistence)."""

    def __init__(self, workdir: Path) -> None:
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_connect_timeout=0.5).ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start in 10 s") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def private_redis(redis_url, tmp_path) -> Iterator[RedisServer]:
    # Asking for redis_url first: the same skip/fail rule as the shared one.
    server = RedisServer(tmp_path / "redis")
    if server.binary is None:
        unavailable("redis-server is not installed (Debian package redis-server)")
    server.start()
    yield server
    server.stop()


# -- S3 (moto's server) -------------------------------------------------------------------


class S3Server:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self):
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
        )

    def env(self, bucket: str, prefix: str) -> dict[str, str]:
        return {
            "LOOKALIKE_BLOB_BACKEND": "s3",
            "LOOKALIKE_S3_BUCKET": bucket,
            "LOOKALIKE_S3_PREFIX": prefix,
            "LOOKALIKE_S3_ENDPOINT_URL": self.endpoint,
            "LOOKALIKE_S3_REGION": "us-east-1",
            "LOOKALIKE_S3_ACCESS_KEY_ID": "test",
            "LOOKALIKE_S3_SECRET_ACCESS_KEY": "test",
        }


@pytest.fixture(scope="session")
def s3(tmp_path_factory) -> Iterator[S3Server]:
    binary = BIN / "moto_server"
    if not binary.exists():
        unavailable("moto_server is not installed (pip install -e '.[test]')")
    server = S3Server()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    server.proc = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(server.port)], stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(server.endpoint, timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline or server.proc.poll() is not None:
                server.proc.kill()
                raise RuntimeError(f"moto_server did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.1)
    server.client().create_bucket(Bucket="lookalike")
    yield server
    server.proc.terminate()
    server.proc.wait(10)


# -- lookalike processes ------------------------------------------------------------------

# Prompts run on tests/api/fake_engine.py unless a test asks for the real one.
FAKE_ENGINE = {"LOOKALIKE_PROMPT_ENGINE": "tests.api.fake_engine:FakeEngine"}


def cluster_env(data_dir: Path, *, database_url: str, broker_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Settings shared by API servers and workers of one test: Celery mode, short leases and sweeps."""
    return {
        **os.environ,
        **BASE_ENV,
        "PYTHONPATH": str(REPO),
        "LOOKALIKE_DATA_DIR": str(data_dir),
        "LOOKALIKE_DATABASE_URL": database_url,
        "LOOKALIKE_QUEUE": "celery",
        "LOOKALIKE_BROKER_URL": broker_url,
        "LOOKALIKE_CELERY_QUEUE": f"lookalike-test-{uuid.uuid4().hex[:8]}",
        "LOOKALIKE_JOB_LEASE_S": "2",
        "LOOKALIKE_SWEEP_INTERVAL_S": "0.5",
        "LOOKALIKE_REPUBLISH_AFTER_S": "4",
        **FAKE_ENGINE,
        **(extra or {}),
    }


class WorkerProcess:
    """One `lookalike worker` process."""

    def __init__(self, env: dict[str, str], name: str, log_dir: Path) -> None:
        self.env, self.name = env, name
        self.log = log_dir / f"worker-{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> WorkerProcess:
        self.proc = subprocess.Popen(
            [LOOKALIKE, "worker", "--name", self.name, "--log-level", "info"],
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        return self

    def wait_ready(self, timeout: float = 60) -> WorkerProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited: {self.log.read_text()[-3000:]}")
            # Celery logs "<hostname> ready." once it consumes.
            if " ready." in self.log.read_text(errors="replace"):
                return self
            time.sleep(0.1)
        raise RuntimeError(f"worker {self.name} not ready in {timeout} s: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()


def make_key(database_url: str, data_dir: Path, name: str = "scale") -> str:
    from lookalike.accounts.service import AccountService
    from lookalike.config import Settings
    from lookalike.services import Services

    services = Services(Settings(data_dir=data_dir, database_url=database_url))
    try:
        return AccountService(services.sessions).create_key(name=name).key
    finally:
        services.close()


def wait_all(client: httpx.Client, ids: list[int], timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    pending = set(ids)
    done: dict[int, dict] = {}
    while pending:
        for prompt_id in sorted(pending):
            prompt = client.get(f"/prompts/{prompt_id}").json()
            if prompt["status"] in ("succeeded", "failed"):
                done[prompt_id] = prompt
                pending.discard(prompt_id)
        if pending and time.monotonic() > deadline:
            states = {i: client.get(f"/prompts/{i}").json()["status"] for i in sorted(pending)}
            raise AssertionError(f"not finished after {timeout} s: {states}")
        time.sleep(0.1)
    return [done[i] for i in ids]
