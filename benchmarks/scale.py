"""Scale-out: prompts per second with 1, 2 and 4 Celery workers, and the latency the Celery path adds.

    eval "$(.ci/services.sh)"    # PostgreSQL and Redis on loopback
    python benchmarks/scale.py   # tiny model on the CPU

Every run uses real processes started as a user would: `lookalike serve`
(LOOKALIKE_QUEUE=celery, PostgreSQL, Redis) and M `lookalike worker`
processes, each warmed on the tiny model (base model 999), local blobs.

1. Throughput: in each of R rounds over the setups, after a warm-up, N prompts (text only, 2 steps,
   64x64, one image) are POSTed at once; prompts per second is N over the
   server's own clock, from the first prompt's created_at to the last
   trained_at; the median over the rounds is reported. The same load on
   the in-process worker (`lookalike serve` alone, on the same PostgreSQL)
   is the reference.
2. Added latency: single prompts, one at a time, alternating between an
   in-process server and a Celery cluster with one worker (both up at once,
   interleaved so machine noise hits both alike), each timed from the POST
   to the first GET that reads `succeeded` (polled every 5 ms) and by the
   server's clock (created_at -> trained_at, and created_at -> started_at,
   the queue's part alone, free of the engine's noisy time). The difference
   of the medians is what the broker hop adds: publish, Redis, the claim.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import header  # noqa: E402

LOOKALIKE = str(Path(sys.executable).parent / "lookalike")
BODY = {"prompt": {"text": "a studio portrait of a woman, soft light", "steps": 2, "num_images": 1}}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def database(admin_url: str):
    import psycopg

    libpq = admin_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"lk_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_key(env: dict[str, str]) -> str:
    from lookalike.accounts.service import AccountService
    from lookalike.config import Settings
    from lookalike.services import Services

    services = Services(Settings(data_dir=env["LOOKALIKE_DATA_DIR"], database_url=env["LOOKALIKE_DATABASE_URL"]))
    try:
        return AccountService(services.sessions).create_key(name="bench").key
    finally:
        services.close()


def wait_for(check, what: str, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise SystemExit(f"{what} not ready in {timeout} s; see {log}")


@contextmanager
def cluster(workdir: Path, env: dict[str, str], workers: int):
    """`lookalike serve` plus `workers` x `lookalike worker` (0: the in-process worker); yields (url, key)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    procs: list[subprocess.Popen] = []
    try:
        logs = []
        for n in range(workers):
            log = workdir / f"worker-{n}.log"
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    [LOOKALIKE, "worker", "--name", f"bench{n}", "--log-level", "info"],
                    env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                )
            )
        server_log = workdir / "server.log"
        procs.append(
            subprocess.Popen(
                [LOOKALIKE, "serve", "--port", str(port), "--log-level", "warning"],
                env=env, stdout=server_log.open("wb"), stderr=subprocess.STDOUT,
            )
        )
        url = f"http://127.0.0.1:{port}"

        def server_ready() -> bool:
            try:
                return httpx.get(url + "/readyz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(server_ready, "server", server_log)
        for log in logs:
            wait_for(lambda log=log: " ready." in log.read_text(errors="replace"), "worker", log)
        yield url, make_key(env)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def stamp(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def finish(client: httpx.Client, ids: list[int], poll_s: float) -> list[dict]:
    pending, done = list(ids), {}
    while pending:
        for prompt_id in list(pending):
            prompt = client.get(f"/prompts/{prompt_id}").json()
            if prompt["status"] in ("succeeded", "failed"):
                if prompt["status"] != "succeeded":
                    raise SystemExit(f"prompt {prompt_id} failed: {prompt['error']}")
                done[prompt_id] = prompt
                pending.remove(prompt_id)
        if pending:
            time.sleep(poll_s)
    return [done[i] for i in ids]


def throughput(url: str, key: str, count: int, warmup: int) -> float:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        finish(client, [client.post("/tunes/999/prompts", json=BODY).json()["id"] for _ in range(warmup)], 0.1)
        ids = [client.post("/tunes/999/prompts", json=BODY).json()["id"] for _ in range(count)]
        done = finish(client, ids, 0.25)  # slow polling: the cores belong to the workers
    span = max(stamp(p["trained_at"]) for p in done) - min(stamp(p["created_at"]) for p in done)
    return count / span


def one_prompt(client: httpx.Client) -> tuple[float, float, float]:
    started = time.perf_counter()
    prompt_id = client.post("/tunes/999/prompts", json=BODY).json()["id"]
    while True:
        prompt = client.get(f"/prompts/{prompt_id}").json()
        if prompt["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.005)
    if prompt["status"] != "succeeded":
        raise SystemExit(f"prompt failed: {prompt['error']}")
    return (
        time.perf_counter() - started,
        stamp(prompt["trained_at"]) - stamp(prompt["created_at"]),
        # Committed -> claimed by a worker: the queue's own part, without the engine's time.
        stamp(prompt["started_at"]) - stamp(prompt["created_at"]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-url", default=os.environ.get("LOOKALIKE_TEST_POSTGRES_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("LOOKALIKE_TEST_REDIS_URL"))
    parser.add_argument("--prompts", type=int, default=24, help="prompts per throughput run")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts to measure")
    parser.add_argument("--latency-prompts", type=int, default=15, help="single prompts per path")
    parser.add_argument("--rounds", type=int, default=2, help="throughput rounds over all setups (0: latency only)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep data and logs here (default: a temp dir)")
    args = parser.parse_args()
    if not args.postgres_url or not args.redis_url:
        raise SystemExit("needs PostgreSQL and Redis: eval \"$(.ci/services.sh)\" or pass --postgres-url/--redis-url")
    header("python benchmarks/scale.py " + " ".join(sys.argv[1:]))

    with ExitStack() as keep:
        root = args.workdir or Path(keep.enter_context(tempfile.TemporaryDirectory(prefix="lookalike-scale-")))
        root.mkdir(parents=True, exist_ok=True)

        def env_for(database_url: str, queue: str, name: str) -> dict[str, str]:
            return {
                **os.environ,
                "LOOKALIKE_DATA_DIR": str(root / name),
                # One models directory: the tiny model is built once for all runs.
                "LOOKALIKE_MODELS_DIR": str(root / "models"),
                "LOOKALIKE_DATABASE_URL": database_url,
                "LOOKALIKE_QUEUE": queue,
                "LOOKALIKE_BROKER_URL": args.redis_url,
                "LOOKALIKE_CELERY_QUEUE": f"bench-{name}-{uuid.uuid4().hex[:6]}",
                "LOOKALIKE_WARMUP_MODELS": "999",
                "LOOKALIKE_RATE_LIMIT_PER_MINUTE": "100000",
                "LOOKALIKE_RATE_LIMIT_BURST": "10000",
                "LOOKALIKE_WORKER_POLL_S": "0.5",
            }

        # Rounds over all setups, so that a burst of load from elsewhere on a
        # shared machine does not land on one setup only; the median is reported.
        rates: dict[str, list[float]] = {}
        loads: list[float] = []
        setups = [(0, "in-process worker")] + [
            (int(n), f"{n} Celery worker{'s' if int(n) > 1 else ''}") for n in args.workers.split(",")
        ]
        for round_ in range(args.rounds):
            for count, label in setups:
                name = f"r{round_}-{'inprocess' if count == 0 else f'c{count}'}"
                env = env_for("", "inprocess" if count == 0 else "celery", name)
                with database(args.postgres_url) as db:
                    env["LOOKALIKE_DATABASE_URL"] = db
                    with cluster(root / name, env, count) as (url, key):
                        rate = throughput(url, key, args.prompts, warmup=max(2, 2 * count))
                        loads.append(os.getloadavg()[0])
                rates.setdefault(label, []).append(rate)
                print(f"round {round_ + 1}, {label}: {rate:.2f} prompts/s (load average {loads[-1]:.1f})", flush=True)

        samples: dict[str, list[tuple[float, float, float]]] = {"in-process": [], "celery": []}
        with ExitStack() as stack:
            db_a = stack.enter_context(database(args.postgres_url))
            db_b = stack.enter_context(database(args.postgres_url))
            inproc = stack.enter_context(cluster(root / "lat-a", env_for(db_a, "inprocess", "lat-a"), 0))
            celery = stack.enter_context(cluster(root / "lat-b", env_for(db_b, "celery", "lat-b"), 1))
            clients = {
                name: stack.enter_context(httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60))
                for name, (url, key) in (("in-process", inproc), ("celery", celery))
            }
            for name, client in clients.items():
                one_prompt(client)  # warm-up, dropped
            for _ in range(args.latency_prompts):
                for name, client in clients.items():
                    samples[name].append(one_prompt(client))

    if rates:
        print()
        print(f"| setup | prompts/s (median of {args.rounds}) | each round |")
        print("|---|---|---|")
        for label, values in rates.items():
            print(f"| {label} | {statistics.median(values):.2f} | {', '.join(f'{v:.2f}' for v in values)} |")
        print(f"\n1-minute load average after each throughput run: {min(loads):.1f} to {max(loads):.1f} ({os.cpu_count()} cores)")
    print()
    print(
        "| path (1 prompt at a time) | wall median (POST -> GET succeeded) | server median (created_at -> trained_at) "
        "| queue median (created_at -> started_at) |"
    )
    print("|---|---|---|---|")
    medians = {name: [statistics.median(v[i] for v in values) * 1000 for i in range(3)] for name, values in samples.items()}
    for name, (wall, server, queue) in medians.items():
        print(f"| {name} | {wall:.0f} ms | {server:.0f} ms | {queue:.0f} ms |")
    added = [c - i for c, i in zip(medians["celery"], medians["in-process"])]
    print(
        f"\nadded by the Celery path: {added[0]:.0f} ms wall, {added[1]:.0f} ms by the server's clock, "
        f"{added[2]:.0f} ms before a worker starts the prompt (load average now {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
