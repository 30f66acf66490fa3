"""A LoRA tune through a real `lookalike serve`: POST /tunes to trained_at, and what a kill -9 mid-training costs.

    python benchmarks/train_service.py                     # tiny model, CPU, 3 photos, the `fast` preset
    python benchmarks/train_service.py --preset portrait   # the default preset (50 class images, 400 steps)

1. Uninterrupted: a 3-photo LoRA tune on the tiny model; the server's own
   clock gives created_at -> trained_at (and started_training_at, so the
   wait in line and the training itself are told apart).
2. Killed: the same tune again on a fresh server; once its progress passes
   the middle, the server is killed with SIGKILL and started again on the
   same data; the training resumes from its last checkpoint. Resume
   overhead = (POST to trained_at, killed) - (POST to trained_at,
   uninterrupted), which holds the restart (process start, warm-up), the
   model load again and the steps lost since the checkpoint; the time from
   the restart's readiness to the first resumed step is shown apart.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import header  # noqa: E402
from benchmarks.service import free_port, make_key, parse_time, start_server  # noqa: E402


def photos() -> list[tuple[str, bytes]]:
    """Three photos of one person (the astronaut, public domain), each cropped a little differently."""
    import io

    import numpy as np
    from PIL import Image
    from skimage import data

    image = data.astronaut()
    out = []
    for index, (top, left) in enumerate(((0, 0), (0, 40), (20, 20))):
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image[top : top + 470, left : left + 470])).save(buffer, "JPEG", quality=92)
        out.append((f"{index}.jpg", buffer.getvalue()))
    return out


class Run:
    def __init__(self, root: Path, preset: str, threads: str | None) -> None:
        self.data_dir = root / "data"
        self.data_dir.mkdir(parents=True)
        self.port = free_port()
        self.env = {"LOOKALIKE_DATA_DIR": str(self.data_dir), "LOOKALIKE_DEVICE": "cpu",
                    "LOOKALIKE_TRAINING_DEFAULT_PRESET": preset, "LOOKALIKE_JOB_LEASE_S": "5"}
        if threads:
            self.env["OMP_NUM_THREADS"] = threads
        self.proc: subprocess.Popen | None = None
        self.key = make_key(self.data_dir)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> float:
        started = time.perf_counter()
        self.proc = start_server(self.data_dir, self.port, self.env)
        return time.perf_counter() - started

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=60)


def create(client: httpx.Client) -> dict:
    made = client.post(
        "/tunes",
        data={"tune[title]": "bench", "tune[name]": "woman", "tune[model_type]": "lora", "tune[base_tune_id]": "999"},
        files=[("tune[images][]", (name, data, "image/jpeg")) for name, data in photos()],
    )
    made.raise_for_status()
    return made.json()


def follow(client: httpx.Client, tune_id: int, until, timeout: float = 3600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tune = client.get(f"/tunes/{tune_id}").json()
        if until(tune):
            return tune
        time.sleep(0.2)
    raise SystemExit(f"tune {tune_id} not done in {timeout} s")


def done(tune: dict) -> bool:
    if tune["status"] == "failed":
        raise SystemExit(f"training failed: {tune['error']}")
    return tune["status"] == "trained"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--threads", default=None, help="OMP_NUM_THREADS for the server (default: torch's own)")
    args = parser.parse_args()
    header(f"python benchmarks/train_service.py --preset {args.preset}" + (f" --threads {args.threads}" if args.threads else ""))
    scratch = Path(tempfile.mkdtemp(prefix="lookalike-train-service-"))

    plain = Run(scratch / "plain", args.preset, args.threads)
    plain.start()
    try:
        with plain.client() as client:
            tune = create(client)
            final = follow(client, tune["id"], done)
    finally:
        plain.stop()
    created, started, trained = (parse_time(final[k]) for k in ("created_at", "started_training_at", "trained_at"))
    print(f"uninterrupted: {final['steps']} steps; POST -> trained_at {trained - created:.1f} s "
          f"(in line {started - created:.1f} s, training {trained - started:.1f} s)")

    killed = Run(scratch / "killed", args.preset, args.threads)
    killed.start()
    try:
        with killed.client() as client:
            tune = create(client)
            half = max(1, tune["steps"] // 2)
            follow(client, tune["id"], lambda t: ((t.get("progress") or {}).get("step") or 0) >= half or done(t))
            killed.kill()
            restart = killed.start()
            ready = time.perf_counter()
            resumed = follow(
                client, tune["id"], lambda t: (t.get("progress") or {}).get("attempt") == 2 and (t["progress"].get("step") or 0) > 0 or done(t)
            )
            first_step = time.perf_counter() - ready
            final_killed = follow(client, tune["id"], done)
    finally:
        killed.stop()
    k_created, k_trained = parse_time(final_killed["created_at"]), parse_time(final_killed["trained_at"])
    progress = resumed.get("progress") or {}
    print(f"killed at step >= {half}: POST -> trained_at {k_trained - k_created:.1f} s; resumed from step "
          f"{progress.get('resumed_from')} (attempt {progress.get('attempt')}); restart to ready {restart:.1f} s, "
          f"ready to first resumed step {first_step:.1f} s")
    print(f"resume overhead: {(k_trained - k_created) - (trained - created):.1f} s "
          f"({((k_trained - k_created) / (trained - created)):.2f} x the uninterrupted time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
