"""The queue and the worker in-process, with a fake engine: order, failures, restart."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from lookalike.errors import InvalidFieldError
from lookalike.jobs.engine import OutputImage
from lookalike.jobs.prompts import NewPrompt, PromptStore
from lookalike.jobs.queue import JobQueue
from lookalike.jobs.execute import PromptExecutor
from lookalike.jobs.worker import Worker


def _png(size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


class FakeEngine:
    def __init__(self) -> None:
        self.ran: list[str] = []

    def check(self, spec):
        if "reject" in spec.text:
            raise InvalidFieldError("rejected at run time", field="text")
        return spec

    def run(self, spec):
        self.ran.append(spec.text)
        if "crash" in spec.text:
            raise RuntimeError("CUDA out of memory")
        return [OutputImage(_png(), seed=spec.options["seed"] + i, width=8, height=8) for i in range(spec.options["num_images"])]

    def warmup(self, base_models):
        pass


@pytest.fixture
def jobs(services):
    return PromptStore(services.sessions, services.blobs), JobQueue(services.sessions, services.blobs)


def _new(text: str, account_id: int = 1, **kwargs) -> NewPrompt:
    return NewPrompt(
        account_id=account_id,
        tune_id=999,
        base_model_id="tiny",
        text=text,
        negative_prompt="",
        options={"target": "gallery", "resolved": {"num_images": 2, "seed": 7}},
        **kwargs,
    )


def _run_until_idle(worker: Worker, queue: JobQueue, timeout: float = 10.0) -> None:
    worker.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if queue.depth() == 0 and worker.state.current_prompt is None and worker.ready:
            break
        time.sleep(0.02)
    worker.stop()


def test_worker_runs_in_order_and_records_failures(jobs):
    store, queue = jobs
    ids = [store.create(_new(text))[0].id for text in ("first", "reject me", "crash me", "last")]
    engine, done = FakeEngine(), []
    worker = Worker(queue=queue, executor=PromptExecutor(queue, engine, on_done=done.append), warmup=lambda: None, poll_s=0.05)
    _run_until_idle(worker, queue)
    assert engine.ran == ["first", "crash me", "last"]
    assert [row.id for row in done] == ids
    rows = {row.id: row for row in (store.get(i, account_id=1) for i in ids)}
    assert rows[ids[0]].status == "succeeded" and [im.seed for im in rows[ids[0]].images] == [7, 8]
    assert store.image(ids[0], 1, account_id=1).startswith(b"\x89PNG")
    assert rows[ids[1]].status == "failed" and rows[ids[1]].error["code"] == "invalid_field"
    assert rows[ids[2]].status == "failed" and "CUDA out of memory" in rows[ids[2]].error["message"]
    assert rows[ids[3]].status == "succeeded" and rows[ids[3]].trained_at is not None


def test_interrupted_prompts_run_after_a_restart(jobs):
    store, queue = jobs
    first = store.create(_new("was running"))[0]
    second = store.create(_new("was queued"))[0]
    assert queue.claim_next().id == first.id  # a worker took it, then the process died
    engine = FakeEngine()
    worker = Worker(queue=queue, executor=PromptExecutor(queue, engine, on_done=lambda row: None), warmup=lambda: None, poll_s=0.05)
    _run_until_idle(worker, queue)
    assert worker.state.requeued_at_start == 1
    assert engine.ran == ["was running", "was queued"]
    assert store.get(first.id, account_id=1).attempts == 2
    assert store.get(second.id, account_id=1).status == "succeeded"


def test_warmup_failure_is_reported_and_prompts_still_run(jobs):
    store, queue = jobs
    store.create(_new("after a bad warm-up"))

    def broken():
        raise OSError("models dir unreadable")

    worker = Worker(queue=queue, executor=PromptExecutor(queue, FakeEngine(), on_done=lambda row: None), warmup=broken, poll_s=0.05)
    worker.start()
    deadline = time.monotonic() + 5
    while queue.depth() and time.monotonic() < deadline:
        time.sleep(0.02)
    worker.stop()
    assert worker.state.warmup_error["code"] == "warmup_failed"
    assert "unreadable" in worker.state.warmup_error["message"]


def test_prompts_are_per_account_and_idempotency_keys_dedupe(jobs):
    store, _queue = jobs
    row, created = store.create(_new("one", idempotency_key="k1"))
    again, created_again = store.create(_new("one", idempotency_key="k1"))
    assert created and not created_again and again.id == row.id
    other, _ = store.create(_new("one", account_id=2, idempotency_key="k1"))
    assert other.id != row.id
    with pytest.raises(Exception) as info:
        store.get(row.id, account_id=2)
    assert info.value.code == "prompt_not_found"
    assert [r.id for r in store.list(account_id=1)] == [row.id]


def test_a_prompt_deleted_while_running_leaves_nothing(jobs, services):
    store, queue = jobs
    row = store.create(_new("deleted midway"))[0]
    claimed = queue.claim_next()
    store.delete(row.id, account_id=1)
    assert queue.complete(claimed.id, [OutputImage(_png(), seed=1, width=8, height=8)]) is None
    assert not (services.blobs.root / "prompts" / str(row.id)).exists()
