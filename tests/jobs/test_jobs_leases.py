"""Claims by id with leases, first-wins finishing, and the publisher's sweep (SQLite, no services needed)."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from lookalike.jobs.engine import OutputImage
from lookalike.jobs.prompts import NewPrompt, PromptStore
from lookalike.jobs.publisher import Publisher
from lookalike.jobs.queue import BUSY, CLAIMED, FINISHED, GONE, JobQueue


def _png(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def jobs(services):
    return PromptStore(services.sessions, services.blobs), JobQueue(services.sessions, services.blobs), services.blobs


def _queued(store: PromptStore, text: str = "p") -> int:
    row, _ = store.create(
        NewPrompt(account_id=1, tune_id=999, base_model_id="tiny", text=text, negative_prompt="",
                  options={"target": "gallery", "resolved": {"num_images": 1, "seed": 7}})
    )
    return row.id


def test_a_lapsed_lease_is_taken_over_and_the_first_to_finish_wins(jobs):
    store, queue, blobs = jobs
    prompt_id = _queued(store)
    slow = queue.claim(prompt_id, worker="slow", lease_s=0.2)
    assert slow.outcome == CLAIMED and slow.attempt == 1
    assert queue.claim(prompt_id, worker="other", lease_s=0.2).outcome == BUSY  # lease still held
    time.sleep(0.3)
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


def test_sweep_publishes_once_and_keeps_refused_prompts_for_the_next_sweep(jobs):
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
    time.sleep(0.2)
    assert publisher.sweep() == 1 and sent[-1] == ids[0]
    assert publisher.sweep() == 0


def test_a_prompt_left_processing_by_an_in_process_worker_is_taken_after_switching_to_celery(jobs):
    store, queue, _ = jobs
    prompt_id = _queued(store)
    assert queue.claim_next().id == prompt_id  # the in-process worker had it, then died
    publisher = Publisher(queue=queue, publish=lambda _id: None, warmup=lambda: None)
    assert publisher.sweep() == 1
    claim = queue.claim(prompt_id, worker="celery", lease_s=5)
    assert claim.outcome == CLAIMED and claim.attempt == 2
