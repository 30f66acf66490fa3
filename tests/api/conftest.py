"""A real `lookalike serve` in a subprocess, on a free port, with its data in a temp dir."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import encode
from tests.photos import brighter

LOOKALIKE = str(Path(sys.executable).parent / "lookalike")

# Fast callback retries and generous limits, so tests wait for nothing.
BASE_ENV = {
    "LOOKALIKE_CALLBACK_ALLOW_PRIVATE": "true",
    "LOOKALIKE_CALLBACK_BACKOFF_S": "0.2",
    "LOOKALIKE_CALLBACK_BACKOFF_MAX_S": "1",
    "LOOKALIKE_WORKER_POLL_S": "0.5",
    "LOOKALIKE_RATE_LIMIT_PER_MINUTE": "600",
    "LOOKALIKE_RATE_LIMIT_BURST": "200",
    "LOOKALIKE_MAX_UPLOAD_BYTES": str(3 * 1024 * 1024),
    "LOOKALIKE_MAX_REQUEST_BYTES": str(12 * 1024 * 1024),
    # The tests move between the tiny SD1.5 and SDXL models and their PlusV2 loads; all are small.
    "LOOKALIKE_MAX_CACHED_PIPELINES": "4",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One `lookalike serve` process over one data directory; restartable."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.env = {**os.environ, **BASE_ENV, "LOOKALIKE_DATA_DIR": str(data_dir), **(env or {})}
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log = data_dir.parent / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> dict:
        out = subprocess.run([LOOKALIKE, *args, "--json"], env=self.env, capture_output=True, text=True, check=True)
        return json.loads(out.stdout)

    def new_key(self, name: str = "test") -> dict:
        """A key made in-process on the server's database (the CLI costs seconds of imports per call)."""
        from lookalike.accounts.service import AccountService
        from lookalike.config import Settings
        from lookalike.services import Services

        services = Services(Settings(data_dir=self.data_dir))
        try:
            new = AccountService(services.sessions).create_key(name=name)
        finally:
            services.close()
        return {"key": new.key, "key_id": new.key_id, "account_id": new.account_id, "callback_secret": new.callback_secret}

    def start(self, *, env: dict[str, str] | None = None, wait_ready: bool = True) -> Server:
        self.env.update(env or {})
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [LOOKALIKE, "serve", "--port", str(self.port), "--log-level", "warning"],
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        path = "/readyz" if wait_ready else "/healthz"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + path, timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not {path} in 60 s: {self.log.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("lookalike") / "data")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def alice(server) -> dict:
    return server.new_key("alice")


@pytest.fixture(scope="session")
def bob(server) -> dict:
    return server.new_key("bob")


@pytest.fixture(scope="session")
def api(server, alice) -> Iterator[httpx.Client]:
    with server.client(alice["key"]) as client:
        yield client


@pytest.fixture(scope="session")
def photo_files(tmp_path_factory, astronaut, hopper, cat) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("photos")
    made = {
        "1.jpg": encode(astronaut, "JPEG", quality=92),
        "2.jpg": encode(brighter(astronaut), "JPEG", quality=92),
        "hopper.jpg": encode(hopper, "JPEG", quality=92),
        "cat.jpg": encode(cat, "JPEG", quality=92),
        "notes.txt": b"this is not an image\n",
    }
    paths = {}
    for name, data in made.items():
        (root / name).write_bytes(data)
        paths[name] = root / name
    return paths


def has_runner() -> bool:
    try:
        from lookalike.execution import runner  # noqa: F401
    except ImportError:
        return False
    return True


REPO = Path(__file__).resolve().parents[2]
# The server runs prompts with tests/api/fake_engine.py: no model, flat PNGs.
FAKE_ENGINE_ENV = {"LOOKALIKE_PROMPT_ENGINE": "tests.api.fake_engine:FakeEngine", "PYTHONPATH": str(REPO)}


@pytest.fixture(scope="session")
def fake_server(tmp_path_factory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("fake") / "data", env=FAKE_ENGINE_ENV)
    srv.start()
    yield srv
    srv.stop()


def wait_done(client: httpx.Client, prompt_id: int, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prompt = client.get(f"/prompts/{prompt_id}").json()
        if prompt["status"] in ("succeeded", "failed"):
            return prompt
        time.sleep(0.05)
    raise AssertionError(f"prompt {prompt_id} still {prompt['status']} after {timeout} s")


def photo_upload(path: Path, key: str = "tune[images][]"):
    return (key, (path.name, path.read_bytes(), "image/jpeg"))


needs_runner = pytest.mark.skipif(not has_runner(), reason="lookalike.execution.runner is not written yet")
