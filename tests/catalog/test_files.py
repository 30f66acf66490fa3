"""Model files: pull over HTTP (a real local server), sha256 checks, clear offline errors."""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lookalike.catalog.files import ModelPack, RemoteFile, fetch, locate, verify
from lookalike.errors import ModelIntegrityError, ModelUnavailableError

WEIGHTS = b"pretend weights " * 1000


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def server():
    routes = {"/w.bin": WEIGHTS, "/pack.zip": _zip({"pack/a.onnx": b"AAAA", "pack/b.onnx": b"BBBB"})}
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            hits.append(self.path)
            body = routes.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", hits
    httpd.shutdown()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_missing_model_names_the_pull_command(tmp_path):
    pack = ModelPack("demo", "Demo", "mit", (RemoteFile("http://x/w.bin", "demo/w.bin"),))
    with pytest.raises(ModelUnavailableError) as info:
        locate(pack, tmp_path)
    assert "lookalike models pull demo" in info.value.hint


def test_pull_with_published_digest(server, tmp_path):
    base, _ = server
    digest = hashlib.sha256(WEIGHTS).hexdigest()
    pack = ModelPack("demo", "Demo", "mit", (RemoteFile(f"{base}/w.bin", "demo/w.bin", sha256=digest),))
    seen = []
    [path] = fetch(pack, tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert path.read_bytes() == WEIGHTS and seen[-1] == (len(WEIGHTS), len(WEIGHTS))
    assert locate(pack, tmp_path) == [path]
    path.write_bytes(b"tampered")
    with pytest.raises(ModelIntegrityError):
        locate(pack, tmp_path)


def test_wrong_digest_leaves_no_file(server, tmp_path):
    base, _ = server
    pack = ModelPack("demo", "Demo", "mit", (RemoteFile(f"{base}/w.bin", "demo/w.bin", sha256="0" * 64),))
    with pytest.raises(ModelIntegrityError):
        fetch(pack, tmp_path)
    assert not (tmp_path / "demo" / "w.bin").exists()
    assert not any(p.name.endswith(".part") for p in tmp_path.rglob("*"))


def test_unpublished_digest_is_recorded_then_enforced(server, tmp_path):
    base, _ = server
    pack = ModelPack("demo", "Demo", "mit", (RemoteFile(f"{base}/w.bin", "demo/w.bin"),))
    [path] = fetch(pack, tmp_path)
    recorded = path.with_name("w.bin.sha256").read_text().split()[0]
    assert recorded == hashlib.sha256(WEIGHTS).hexdigest()
    verify(path, None)
    path.write_bytes(b"changed later")
    with pytest.raises(ModelIntegrityError):
        verify(path, None)


def test_zip_members_come_from_one_download(server, tmp_path):
    base, hits = server
    pack = ModelPack(
        "zipped", "Zipped", "mit",
        (
            RemoteFile(f"{base}/pack.zip", "z/a.onnx", archive_member="a.onnx"),
            RemoteFile(f"{base}/pack.zip", "z/b.onnx", archive_member="b.onnx"),
        ),
    )
    a, b = fetch(pack, tmp_path)
    assert a.read_bytes() == b"AAAA" and b.read_bytes() == b"BBBB"
    assert hits.count("/pack.zip") == 1
    assert not list(tmp_path.glob("*.part"))


def test_offline_pull_is_a_clear_error(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/w.bin"
    pack = ModelPack("demo", "Demo", "mit", (RemoteFile(url, "demo/w.bin"),))
    with pytest.raises(ModelUnavailableError) as info:
        fetch(pack, tmp_path, timeout=5)
    assert "lookalike models pull demo" in info.value.hint
    assert not (tmp_path / "demo" / "w.bin").exists()


def test_http_error_is_a_clear_error(server, tmp_path):
    base, _ = server
    pack = ModelPack("demo", "Demo", "mit", (RemoteFile(f"{base}/missing.bin", "demo/w.bin"),))
    with pytest.raises(ModelUnavailableError):
        fetch(pack, tmp_path)
