"""What the HTTP service adds on top of the engine, and tune creations per second under load.

    python benchmarks/service.py                  # tiny model on the CPU, 10 prompts, 8 clients x 5 tunes
    python benchmarks/service.py --engine fake    # a model-free engine: the service's own overhead alone

1. Prompt overhead: a real `lookalike serve` (subprocess, worker warmed on
   the tiny model) runs N prompts one at a time; each is timed from the
   POST to the first GET that reads `succeeded` (polled every 2 ms), and by
   the server's own clock (created_at -> trained_at). The same prompts run
   through the engine alone (runner.check_prompt + run_prompt, in this
   process, same models directory), and the difference of the medians is
   what the service adds: HTTP, checks, the queue, PNG storage, polling.
2. Tune throughput: C concurrent clients each POST /tunes with one real
   photo (skimage's astronaut); tunes per second and errors.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import header  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LOOKALIKE = str(Path(sys.executable).parent / "lookalike")
TEXT = "a professional headshot of ohwx woman, studio light <faceid:{tune}:1.0>"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def photo_bytes() -> bytes:
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def make_key(data_dir: Path) -> str:
    from lookalike.accounts.service import AccountService
    from lookalike.config import Settings
    from lookalike.services import Services

    services = Services(Settings(data_dir=data_dir))
    try:
        return AccountService(services.sessions).create_key(name="bench").key
    finally:
        services.close()


def start_server(data_dir: Path, port: int, env: dict[str, str]) -> subprocess.Popen:
    proc = subprocess.Popen(
        [LOOKALIKE, "serve", "--port", str(port), "--log-level", "warning"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=(data_dir.parent / "server.log").open("wb"),
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"server did not get ready; see {data_dir.parent / 'server.log'}")


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def prompt_timings(client: httpx.Client, tune_id: int, count: int, steps: int, args_poll: float = 0.002) -> tuple[list[float], list[float], list[float]]:
    wall, server_side, post = [], [], []
    for i in range(count + 1):  # the first is a warm-up and is dropped
        body = {"prompt": {"text": TEXT.format(tune=tune_id), "seed": 1000 + i, "steps": steps, "num_images": 1}}
        started = time.perf_counter()
        created = client.post("/tunes/999/prompts", json=body)
        created.raise_for_status()
        posted = time.perf_counter() - started
        prompt_id = created.json()["id"]
        while True:
            prompt = client.get(f"/prompts/{prompt_id}").json()
            if prompt["status"] in ("succeeded", "failed"):
                break
            time.sleep(args_poll)
        elapsed = time.perf_counter() - started
        if prompt["status"] != "succeeded":
            raise SystemExit(f"prompt failed: {prompt['error']}")
        if i:
            wall.append(elapsed)
            server_side.append(parse_time(prompt["trained_at"]) - parse_time(prompt["created_at"]))
            post.append(posted)
    return wall, server_side, post


def engine_timings(data_dir: Path, account_id: int, tune_id: int, count: int, steps: int, engine_ref: str) -> list[float]:
    from lookalike.config import Settings
    from lookalike.jobs.engine import PromptSpec, RunnerEngine, load_engine
    from lookalike.services import Services

    services = Services(Settings(data_dir=data_dir))
    engine = load_engine(engine_ref, services) if engine_ref else RunnerEngine(services)
    out = []
    try:
        for i in range(count + 1):
            spec = PromptSpec(
                account_id=account_id,
                tune_id=None,
                base_model="tiny",
                text=TEXT.format(tune=tune_id),
                negative_prompt="",
                options={"num_images": 1, "seed": 1000 + i, "steps": steps, "w": 64, "h": 64},
            )
            started = time.perf_counter()
            images = engine.run(engine.check(spec))
            elapsed = time.perf_counter() - started
            assert images and images[0].png.startswith(b"\x89PNG")
            if i:
                out.append(elapsed)
    finally:
        services.close()
    return out


def tune_throughput(url: str, key: str, clients: int, per_client: int, photo: bytes) -> tuple[float, list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    run_id = time.time_ns()  # titles are idempotency keys: make each run's new

    def work(n: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
            barrier.wait()
            for j in range(per_client):
                started = time.perf_counter()
                try:
                    response = client.post(
                        "/tunes",
                        data={"tune[title]": f"load {run_id} {n}-{j}", "tune[name]": "woman", "tune[base_tune_id]": "999"},
                        files=[("tune[images][]", ("a.jpg", photo, "image/jpeg"))],
                    )
                    problem = None if response.status_code == 201 else f"{response.status_code} {response.text[:120]}"
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                with lock:
                    latencies.append(time.perf_counter() - started)
                    if problem:
                        errors.append(problem)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=10)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--tunes-per-client", type=int, default=5)
    parser.add_argument("--engine", choices=("runner", "fake"), default="runner")
    # Polling competes for the same 2 cores as the generation it waits for;
    # the server clock (created -> done) is the figure that polling cannot inflate.
    parser.add_argument("--poll-ms", type=float, default=2.0)
    args = parser.parse_args()
    header("python benchmarks/service.py " + " ".join(sys.argv[1:]))
    engine_ref = "tests.api.fake_engine:FakeEngine" if args.engine == "fake" else ""

    with tempfile.TemporaryDirectory(prefix="lookalike-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        key = make_key(data_dir)
        port = free_port()
        env = {
            "LOOKALIKE_DATA_DIR": str(data_dir),
            "LOOKALIKE_RATE_LIMIT_PER_MINUTE": "100000",
            "LOOKALIKE_RATE_LIMIT_BURST": "100000",
            "LOOKALIKE_WARMUP_MODELS": "tiny" if args.engine == "runner" else "",
            "LOOKALIKE_PROMPT_ENGINE": engine_ref,
            "PYTHONPATH": str(REPO),
        }
        server = start_server(data_dir, port, env)
        url = f"http://127.0.0.1:{port}"
        photo = photo_bytes()
        try:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
                tune = client.post(
                    "/tunes",
                    data={"tune[title]": "bench", "tune[name]": "woman", "tune[base_tune_id]": "999"},
                    files=[("tune[images][]", ("a.jpg", photo, "image/jpeg"))],
                )
                tune.raise_for_status()
                tune_id = tune.json()["id"]
                account_id = 1
                wall, server_side, post = prompt_timings(client, tune_id, args.prompts, args.steps, args.poll_ms / 1000)
            # The server is idle now, so the engine alone gets the same CPU.
            engine = engine_timings(data_dir, account_id, tune_id, args.prompts, args.steps, engine_ref)
            total, latencies, errors = tune_throughput(url, key, args.clients, args.tunes_per_client, photo)
        finally:
            server.terminate()
            server.wait(30)
            log = (data_dir.parent / "server.log").read_text(errors="replace")
            if "Traceback" in log:
                print("server log (tail):\n" + log[-4000:])

    ms = lambda seconds: f"{seconds * 1000:.1f} ms"  # noqa: E731
    engine_median = statistics.median(engine)
    print(f"engine: {args.engine}, tiny model, 64x64, {args.steps} steps, 1 image, {args.prompts} prompts (after 1 warm-up)")
    print(f"  engine alone (check + run), median:        {ms(engine_median)}")
    print(f"  service, POST -> GET succeeded, median:    {ms(statistics.median(wall))}  (min {ms(min(wall))}, max {ms(max(wall))})")
    print(f"  service, server clock created->done, med.: {ms(statistics.median(server_side))}")
    print(f"  of which the POST itself (check + queue):  {ms(statistics.median(post))}")
    print(f"  added by the service (client view):        {ms(statistics.median(wall) - engine_median)}")
    print(f"  added by the service (server clock):       {ms(statistics.median(server_side) - engine_median)}")
    count = len(latencies)
    latencies.sort()
    print(f"tune creation: {args.clients} concurrent clients x {args.tunes_per_client} tunes, 1 photo (512x512) each")
    print(f"  {count} tunes in {total:.2f} s = {count / total:.2f} tunes/s; errors: {len(errors)}")
    print(f"  latency p50 {ms(latencies[count // 2])}, p95 {ms(latencies[int(count * 0.95) - 1])}")
    for error in errors[:5]:
        print("  error:", error)


if __name__ == "__main__":
    main()
