"""Live progress, server side: how soon a client following a prompt's events hears of it, and of its end.

    python benchmarks/progress.py                 # tiny model on the CPU, 10 prompts of 20 steps
    python benchmarks/progress.py --steps 2

A real `lookalike serve` (subprocess, worker warmed on the tiny model, the
real engine) runs N FaceID prompts one at a time. For each, the benchmark
POSTs it, opens its `events_url` at once and times, on this machine's
clock:

1. POST -> first event (the stream's first `progress`: the queued state),
   and POST -> first denoising step heard (`phase: denoising`, `step >= 1`);
2. last denoising step -> `done` received: from the moment the engine
   reported step N of N to the `done` event arriving. The server runs the
   real engine (`RunnerEngine`) through a thin wrapper (`TimedEngine`,
   below, loaded by LOOKALIKE_PROMPT_ENGINE) that notes the wall time of
   each prompt's last step in a file before passing it on. (The stream
   itself may never carry step N of N: it reads the row every 0.25 s, and
   on the tiny model the image is saved a few ms after the last step.)

Both clocks are this machine's, so the figures need no clock agreement.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import header  # noqa: E402
from benchmarks.service import REPO, free_port, make_key, photo_bytes, start_server  # noqa: E402

TEXT = "a professional headshot of ohwx woman, studio light <faceid:{tune}:1.0>"


STEPS_FILE = "LOOKALIKE_BENCH_STEPS_FILE"


class TimedEngine:
    """The real engine; each prompt's last denoising step is noted (wall time) in $LOOKALIKE_BENCH_STEPS_FILE."""

    def __init__(self, context) -> None:
        from lookalike.jobs.engine import RunnerEngine

        self.inner = RunnerEngine(context)
        self.path = Path(os.environ[STEPS_FILE])

    def check(self, spec):
        return self.inner.check(spec)

    def warmup(self, base_models):
        self.inner.warmup(base_models)

    def batch_limit(self) -> int:
        return 1  # one prompt per call, as the benchmark posts them one at a time

    def run(self, resolved, on_progress=None):
        def noted(step, steps, image, images, finishing_step=None):
            if finishing_step is None and step and step == steps:
                with self.path.open("a") as out:
                    out.write(f"{time.time()}\n")
            if on_progress is not None:
                on_progress(step, steps, image, images, finishing_step=finishing_step)

        return self.inner.run(resolved, on_progress=noted)


def follow(client: httpx.Client, url: str, started: float) -> dict:
    """Timings of one stream: first event, first step, the last step if the stream saw it, done."""
    out: dict = {"first_event": None, "first_step": None, "stream_last_step": None, "done": None, "done_wall": None}
    with client.stream("GET", url, timeout=httpx.Timeout(30, read=60)) as response:
        response.raise_for_status()
        event = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: "):
                now = time.perf_counter() - started
                data = json.loads(line[len("data: "):])
                if out["first_event"] is None:
                    out["first_event"] = now
                if event == "progress":
                    if data["phase"] == "denoising" and data["step"] and out["first_step"] is None:
                        out["first_step"] = now
                    if data["phase"] == "denoising" and data["step"] and data["step"] == data["steps"]:
                        out["stream_last_step"] = data
                elif event == "done":
                    out["done"], out["done_wall"] = now, time.time()
                    if data["status"] != "succeeded":
                        raise SystemExit(f"prompt failed: {data['error']}")
                    return out
    raise SystemExit("the stream ended without done")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    header("python benchmarks/progress.py " + " ".join(sys.argv[1:]))
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="lookalike-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        key = make_key(data_dir)
        port = free_port()
        env = {
            "LOOKALIKE_DATA_DIR": str(data_dir),
            "LOOKALIKE_RATE_LIMIT_PER_MINUTE": "100000",
            "LOOKALIKE_RATE_LIMIT_BURST": "100000",
            "LOOKALIKE_WARMUP_MODELS": "tiny",
            "LOOKALIKE_PROMPT_ENGINE": "benchmarks.progress:TimedEngine",
            STEPS_FILE: str(Path(tmp) / "last_steps.txt"),
            "PYTHONPATH": str(REPO),
        }
        steps_file = Path(tmp) / "last_steps.txt"
        server = start_server(data_dir, port, env)
        url = f"http://127.0.0.1:{port}"
        results = []
        try:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
                tune = client.post(
                    "/tunes",
                    data={"tune[title]": "bench", "tune[name]": "woman", "tune[base_tune_id]": "999"},
                    files=[("tune[images][]", ("a.jpg", photo_bytes(), "image/jpeg"))],
                )
                tune.raise_for_status()
                tune_id = tune.json()["id"]
                for i in range(args.prompts + 1):  # the first is a warm-up and is dropped
                    body = {"prompt": {"text": TEXT.format(tune=tune_id), "seed": 1000 + i, "steps": args.steps,
                                       "num_images": 1, "scheduler": "euler"}}
                    started = time.perf_counter()
                    created = client.post("/tunes/999/prompts", json=body)
                    created.raise_for_status()
                    prompt = created.json()
                    with httpx.Client(timeout=60) as anonymous:  # the signed link, as a browser's EventSource
                        timing = follow(anonymous, prompt["events_url"], started)
                    last_step = float(steps_file.read_text().split()[-1])
                    timing["last_step_to_done"] = timing["done_wall"] - last_step
                    timing["stream_saw_last_step"] = timing["stream_last_step"] is not None
                    if i:
                        results.append(timing)
        finally:
            server.terminate()
            server.wait(30)
            log = (data_dir.parent / "server.log").read_text(errors="replace")
            if "Traceback" in log:
                print("server log (tail):\n" + log[-4000:])

    ms = lambda seconds: f"{seconds * 1000:.0f} ms"  # noqa: E731

    def line(name: str, values: list[float]) -> None:
        print(f"  {name:<42} median {ms(statistics.median(values))}  (min {ms(min(values))}, max {ms(max(values))})")

    print(f"load average (1 min): {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    print(f"tiny model, 64x64, {args.steps} steps euler, 1 image, FaceID tune; {len(results)} prompts (after 1 warm-up)")
    line("POST -> first event (queued)", [r["first_event"] for r in results])
    line("POST -> first denoising step heard", [r["first_step"] for r in results if r["first_step"] is not None])
    line("POST -> done", [r["done"] for r in results])
    line("last denoising step -> done received", [r["last_step_to_done"] for r in results])
    seen = sum(r["stream_saw_last_step"] for r in results)
    print(f"  the stream itself carried step {args.steps}/{args.steps} in {seen} of {len(results)} prompts")


if __name__ == "__main__":
    main()
