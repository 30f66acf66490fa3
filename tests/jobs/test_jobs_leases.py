"""Claims by id with leases, first-wins finishing, and the publisher's sweep (SQLite, no services needed)."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
from PIL import Image

from lookalike.jobs.engine import OutputImage
from lookalike.jobs.prompts import NewPrompt, PromptStore
from lookalike.jobs.publisher import Publisher
from lookalike.jobs.queue import BUSY, CLAIMED, FINISHED, GONE, JobQueue
from lookalike.jobs.remote_worker import LeaseKeeper
from lookalike.store.tables import utcnow


class FakeClock:
    """The queue's clock, moved by the test: leases lapse without anyone sleeping."""

    def __init__(self) -> None:
        self.now = utcnow()
        self._lock = threading.Lock()

    def __call__(self):
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += timedelta(seconds=seconds)


def _png(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def jobs(services, clock):
    queue = JobQueue(services.sessions, services.blobs, clock=clock)
    return PromptStore(services.sessions, services.blobs), queue, services.blobs


def _queued(store: PromptStore, text: str = "p") -> int:
    row, _ = store.create(
        NewPrompt(account_id=1, tune_id=999, base_model_id="tiny", text=text, negative_prompt="",
                  options={"target": "gallery", "resolved": {"num_images": 1, "seed": 7}})
    )
    return row.id


def test_a_lapsed_lease_is_taken_over_and_the_first_to_finish_wins(jobs, clock):
    store, queue, blobs = jobs
    prompt_id = _queued(store)
    slow = queue.claim(prompt_id, worker="slow", lease_s=0.2)
    assert slow.outcome == CLAIMED and slow.attempt == 1
    assert queue.claim(prompt_id, worker="other", lease_s=0.2).outcome == BUSY  # lease still held
    clock.advance(0.19)
    assert queue.claim(prompt_id, worker="other", lease_s=0.2).outcome == BUSY  # not yet lapsed
    clock.advance(0.11)
    assert not queue.renew(prompt_id, attempt=2, lease_s=5)  # nobody holds attempt 2 yet
    fast = queue.claim(prompt_id, worker="fast", lease_s=5)
    assert fast.outcome == CLAIMED and fast.attempt == 2
    assert not queue.renew(prompt_id, attempt=1, lease_s=5)  # the slow one lost its claim

    won = queue.complete(prompt_id, [OutputImage(_png((0, 255, 0)), seed=7, width=8, height=8)], attempt=2)
    assert won is not None and won.status == "succeeded"
    # The slow attempt finishes later: nothing changes and its files are gone.
    assert queue.complete(prompt_id, [OutputImage(_png((255, 0, 0)), seed=7, width=8, height=8)], attempt=1) is None
    assert queue.fail(prompt_id, {"code": "generation_failed", "message": "late"}) is None
    row = store.get(prompt_id, account_id=1)
    assert row.status == "succeeded" and [i.blob_key for i in row.images] == [f"prompts/{prompt_id}/a2/0.png"]
    assert store.image(prompt_id, 0, account_id=1) == _png((0, 255, 0))
    assert not blobs.exists(f"prompts/{prompt_id}/a1/0.png")
    assert queue.claim(prompt_id, worker="late", lease_s=5).outcome == FINISHED


def test_deleted_prompt_claims_as_gone_and_its_files_are_removed(jobs):
    store, queue, blobs = jobs
    prompt_id = _queued(store)
    claim = queue.claim(prompt_id, worker="w", lease_s=5)
    store.delete(prompt_id, account_id=1)
    assert queue.complete(prompt_id, [OutputImage(_png((1, 2, 3)), seed=7, width=8, height=8)], attempt=claim.attempt) is None
    assert not blobs.exists(f"prompts/{prompt_id}/a1/0.png")
    assert queue.claim(prompt_id, worker="w", lease_s=5).outcome == GONE


def test_sweep_publishes_once_and_keeps_refused_prompts_for_the_next_sweep(jobs, clock):
    store, queue, _ = jobs
    ids = [_queued(store, f"p{i}") for i in range(3)]
    sent: list[int] = []
    broker_up = False

    def publish(prompt_id: int) -> None:
        if not broker_up:
            raise ConnectionRefusedError("redis is down")
        sent.append(prompt_id)

    publisher = Publisher(queue=queue, publish=publish, warmup=lambda: None, republish_after_s=60)
    assert publisher.sweep() == 0
    assert publisher.state.broker == "unavailable"
    assert publisher.state.broker_error["code"] == "broker_unavailable"
    broker_up = True
    assert publisher.sweep() == 3 and sent == ids
    assert publisher.sweep() == 0  # published: not again until republish_after_s
    assert publisher.state.broker == "ok"

    # A worker dies holding a prompt: once its lease lapses the prompt is published again, once.
    queue.claim(ids[0], worker="dead", lease_s=0.1)
    clock.advance(0.05)
    assert publisher.sweep() == 0  # its lease still runs
    clock.advance(0.15)
    assert publisher.sweep() == 1 and sent[-1] == ids[0]
    assert publisher.sweep() == 0

    # Published long ago and still queued (the broker lost it): published again, once.
    clock.advance(61)
    assert publisher.sweep() == 2 and sent[-2:] == ids[1:]
    assert publisher.sweep() == 0


def test_a_prompt_left_processing_by_an_in_process_worker_is_taken_after_switching_to_celery(jobs):
    store, queue, _ = jobs
    prompt_id = _queued(store)
    assert queue.claim_next().id == prompt_id  # the in-process worker had it, then died
    publisher = Publisher(queue=queue, publish=lambda _id: None, warmup=lambda: None)
    assert publisher.sweep() == 1
    claim = queue.claim(prompt_id, worker="celery", lease_s=5)
    assert claim.outcome == CLAIMED and claim.attempt == 2


def test_the_lease_keeper_renews_on_each_beat_and_stops_with_the_run(jobs, clock):
    store, queue, _ = jobs
    prompt_id = _queued(store)
    claim = queue.claim(prompt_id, worker="w", lease_s=3)
    beats: list[float] = []
    done = threading.Event()

    def beat(seconds: float) -> bool:
        # Each beat moves time on by the keeper's own interval, then lets it renew.
        if len(beats) == 5:
            done.set()
            return True
        beats.append(seconds)
        clock.advance(seconds)
        return False

    with LeaseKeeper(queue, prompt_id, claim.attempt, lease_s=3, wait=beat):
        assert done.wait(10)
    assert beats == [1.0] * 5  # a third of the lease each
    # 5 s have passed on a 3 s lease: only the renewals keep it held.
    assert queue.claim(prompt_id, worker="other", lease_s=3).outcome == BUSY
    clock.advance(3.01)  # no keeper any more: it lapses
    taken = queue.claim(prompt_id, worker="other", lease_s=3)
    assert taken.outcome == CLAIMED and taken.attempt == 2


def test_the_lease_keeper_gives_up_once_another_attempt_holds_the_prompt(jobs, clock):
    store, queue, _ = jobs
    prompt_id = _queued(store)
    first = queue.claim(prompt_id, worker="slow", lease_s=3)
    clock.advance(4)
    assert queue.claim(prompt_id, worker="fast", lease_s=3).outcome == CLAIMED
    calls: list[float] = []

    def beat(seconds: float) -> bool:
        calls.append(seconds)
        return len(calls) > 3  # would beat three times; one renewal attempt must end it

    keeper = LeaseKeeper(queue, prompt_id, first.attempt, lease_s=3, wait=beat)
    keeper._loop()  # in this thread: it returns as soon as the renewal is refused
    assert calls == [1.0]
    assert not queue.renew(prompt_id, attempt=first.attempt, lease_s=3)
