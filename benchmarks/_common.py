"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import platform
import statistics
import subprocess
import sys
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_FACES = REPO.parent / "shared" / "data" / "faces"


def require_shared_faces() -> Path:
    if not SHARED_FACES.is_dir():
        print(f"skipped: {SHARED_FACES} is absent (benchmarks use the shared real photos)")
        sys.exit(0)
    return SHARED_FACES


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def header(command: str) -> None:
    print(f"command: {command}")
    print(f"machine: {machine()}")
    print(f"date:    {date.today().isoformat()}")


def median(values: list[float]) -> float:
    return statistics.median(values)


def run_child(args: list[str]) -> str:
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]
