"""Hub files through huggingface_hub, against a loopback server that answers like the Hub.

The server speaks the two calls ``hf_hub_download`` makes: ``HEAD`` of
``/{repo}/resolve/{revision}/{file}`` (commit, ETag and size in headers) and
``GET`` of the same path. Nothing here reaches the network.
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lookalike.catalog.files import HubFile, ModelPack, fetch, locate
from lookalike.errors import ModelIntegrityError, ModelUnavailableError

REPO = "acme/portrait-weights"
REVISION = "0123456789abcdef0123456789abcdef01234567"
FILENAME = "unet/diffusion_pytorch_model.safetensors"
WEIGHTS = b"pretend safetensors " * 2000
DIGEST = hashlib.sha256(WEIGHTS).hexdigest()


@pytest.fixture
def hub():
    files = {f"/{REPO}/resolve/{REVISION}/{FILENAME}": WEIGHTS}
    requests: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, with_body: bool) -> None:
            requests.append((self.command, self.path))
            body = files.get(self.path)
            if body is None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("X-Repo-Commit", REVISION)
            # An LFS file: the Hub gives its sha256 as the linked ETag.
            self.send_header("X-Linked-Etag", f'"{hashlib.sha256(body).hexdigest()}"')
            self.send_header("ETag", '"not-the-lfs-oid"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def do_HEAD(self):  # noqa: N802 (http.server's naming)
            self._answer(with_body=False)

        def do_GET(self):  # noqa: N802
            self._answer(with_body=True)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", requests
    httpd.shutdown()
    httpd.server_close()


def _pack(sha256: str | None = DIGEST, filename: str = FILENAME) -> ModelPack:
    remote = HubFile(
        repo_id=REPO, filename=filename, revision=REVISION, path=f"hub/{REPO}/{filename}", sha256=sha256
    )
    return ModelPack("portrait", "Portrait weights", "mit", (remote,))


def _files_under(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_pull_asks_for_the_pinned_commit_and_lands_in_place(hub, tmp_path):
    base, requests = hub
    seen = []
    [path] = fetch(_pack(), tmp_path, hub_endpoint=base, progress=lambda done, total: seen.append((done, total)))
    assert path == tmp_path / "hub" / REPO / FILENAME
    assert path.read_bytes() == WEIGHTS
    assert seen and seen[-1] == (len(WEIGHTS), len(WEIGHTS))
    wanted = f"/{REPO}/resolve/{REVISION}/{FILENAME}"
    assert ("HEAD", wanted) in requests and ("GET", wanted) in requests
    assert all(REVISION in p for _, p in requests)
    # huggingface_hub's bookkeeping and the staging folder are gone: the file and its digest record only.
    assert _files_under(tmp_path) == [f"hub/{REPO}/{FILENAME}", f"hub/{REPO}/{FILENAME}.sha256"]
    assert locate(_pack(), tmp_path) == [path]


def test_second_pull_verifies_without_downloading(hub, tmp_path):
    base, requests = hub
    fetch(_pack(), tmp_path, hub_endpoint=base)
    requests.clear()
    fetch(_pack(), tmp_path, hub_endpoint=base)
    assert requests == []


def test_wrong_digest_is_an_integrity_error_and_leaves_nothing(hub, tmp_path):
    base, _ = hub
    with pytest.raises(ModelIntegrityError) as info:
        fetch(_pack(sha256="0" * 64), tmp_path, hub_endpoint=base)
    assert DIGEST in info.value.message
    assert _files_under(tmp_path) == []


def test_unpublished_digest_is_recorded_then_enforced(hub, tmp_path):
    base, _ = hub
    [path] = fetch(_pack(sha256=None), tmp_path, hub_endpoint=base)
    assert path.with_name(path.name + ".sha256").read_text().split()[0] == DIGEST
    path.write_bytes(b"changed later")
    with pytest.raises(ModelIntegrityError):
        locate(_pack(sha256=None), tmp_path)


def test_file_missing_on_the_hub_names_the_pull_command(hub, tmp_path):
    base, _ = hub
    with pytest.raises(ModelUnavailableError) as info:
        fetch(_pack(filename="unet/absent.safetensors"), tmp_path, hub_endpoint=base)
    assert "lookalike models pull portrait" in info.value.hint
    assert _files_under(tmp_path) == []


def test_hf_endpoint_is_read_at_pull_time(hub, tmp_path, monkeypatch):
    base, requests = hub
    monkeypatch.setenv("HF_ENDPOINT", base)
    [path] = fetch(_pack(), tmp_path)
    assert path.read_bytes() == WEIGHTS and requests


def test_missing_hub_file_offline_names_the_pull_command(tmp_path):
    with pytest.raises(ModelUnavailableError) as info:
        locate(_pack(), tmp_path)
    assert "lookalike models pull portrait" in info.value.hint
