"""What issue 12's contract costs: a signed image link against a plain static file, and a tune by URL against an upload.

    python benchmarks/astria_links.py            # 200 fetches each way, 5 tunes each way

1. Signed image fetch: a real `lookalike serve` (fake engine, so images
   appear at once) makes a prompt; the benchmark then GETs one of its
   signed image URLs (no key: signature check, row lookup, blob read) and,
   alternately in the same loop, a static file of the studio from the same
   server. Reported: the medians and their ratio.
2. Tune by URL: the same three photos, uploaded as files or given as
   ``image_urls`` served by a local HTTP server on loopback (the server
   fetches them, DNS pinned, sniffed), alternately; each tune is timed from
   the POST to its 201. Reported: the medians and their ratio.
"""

from __future__ import annotations

import argparse
import http.server
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import header  # noqa: E402
from benchmarks.service import LOOKALIKE, REPO, free_port, make_key, photo_bytes  # noqa: E402


def start_server(data_dir: Path, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "LOOKALIKE_DATA_DIR": str(data_dir),
        "LOOKALIKE_PROMPT_ENGINE": "tests.api.fake_engine:FakeEngine",
        "PYTHONPATH": str(REPO),
        "LOOKALIKE_FETCH_ALLOW_PRIVATE": "true",
        "LOOKALIKE_RATE_LIMIT_PER_MINUTE": "100000",
        "LOOKALIKE_RATE_LIMIT_BURST": "100000",
    }
    proc = subprocess.Popen(
        [LOOKALIKE, "serve", "--port", str(port), "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


class Photos(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self):  # noqa: N802 - the stdlib's name
        data = self.files[self.path]
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args):
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fetches", type=int, default=200)
    parser.add_argument("--tunes", type=int, default=5)
    args = parser.parse_args()
    header(f"python benchmarks/astria_links.py --fetches {args.fetches} --tunes {args.tunes}")

    with tempfile.TemporaryDirectory() as tmp:
        data_dir, port = Path(tmp) / "data", free_port()
        data_dir.mkdir()
        key = make_key(data_dir)
        server = start_server(data_dir, port)
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120) as api:
                prompt = api.post("/tunes/999/prompts", data={"prompt[text]": "a lighthouse", "prompt[num_images]": "1"}).json()
                while not prompt["images"]:
                    time.sleep(0.05)
                    prompt = api.get(f"/prompts/{prompt['id']}").json()
                signed_url = prompt["images"][0]
            signed, static = [], []
            with httpx.Client(timeout=30) as anonymous:  # one connection, no key: as a browser would
                for url in (signed_url, f"{base}/static/style.css"):
                    assert anonymous.get(url).status_code == 200  # warm both paths
                for _ in range(args.fetches):
                    for url, times in ((signed_url, signed), (f"{base}/static/style.css", static)):
                        started = time.perf_counter()
                        response = anonymous.get(url)
                        times.append(time.perf_counter() - started)
                        assert response.status_code == 200
            s, p = statistics.median(signed) * 1000, statistics.median(static) * 1000
            print(f"signed image fetch: {s:.2f} ms median; static file: {p:.2f} ms; added {s - p:.2f} ms; ratio {s / p:.2f}")

            photo = photo_bytes()
            Photos.files = {f"/{n}.jpg": photo for n in range(3)}
            photos = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Photos)
            threading.Thread(target=photos.serve_forever, daemon=True).start()
            urls = [f"http://127.0.0.1:{photos.server_address[1]}/{n}.jpg" for n in range(3)]
            uploads, by_url = [], []
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120) as api:
                for i in range(args.tunes + 1):  # the first round warms the face models
                    started = time.perf_counter()
                    made = api.post(
                        "/tunes",
                        data={"tune[title]": f"upload {i}", "tune[name]": "woman"},
                        files=[("tune[images][]", (f"{n}.jpg", photo, "image/jpeg")) for n in range(3)],
                    )
                    upload_s = time.perf_counter() - started
                    started = time.perf_counter()
                    fetched = api.post("/tunes", json={"tune": {"title": f"url {i}", "name": "woman", "image_urls": urls}})
                    url_s = time.perf_counter() - started
                    assert made.status_code == fetched.status_code == 201, (made.text, fetched.text)
                    if i:
                        uploads.append(upload_s)
                        by_url.append(url_s)
            photos.shutdown()
            u, r = statistics.median(uploads), statistics.median(by_url)
            print(f"3-photo tune: uploaded {u:.3f} s median; by image_urls {r:.3f} s; added {(r - u) * 1000:.1f} ms; ratio {r / u:.2f}")
        finally:
            server.terminate()
            server.wait(20)


if __name__ == "__main__":
    main()
