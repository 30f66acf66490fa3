"""The training queue: one attempt holds a training, a lost one stops at its next write, waiting prompts move on.

SQLite on a temporary data directory and a fake clock; no model is loaded
(the executor's own path runs in tests/api/test_api_lora.py).
"""

from __future__ import annotations

import threading

import pytest

from lookalike.errors import TrainingInterruptedError
from lookalike.jobs.prompts import FAILED, QUEUED, WAITING, NewPrompt
from lookalike.jobs.publisher import Publisher
from lookalike.jobs.training_run import CANCELLED, QueueHooks, TrainingExecutor
from lookalike.jobs.trainings import BUSY, CLAIMED, FINISHED, GONE, TrainingQueue
from lookalike.store.tables import TrainingRow, TuneRow
from lookalike.training.loop import TRAINING, TrainingProgress, TrainingStopped
from tests.jobs.test_jobs_leases import FakeClock

ACCOUNT = 7


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def queue(services, clock) -> TrainingQueue:
    return TrainingQueue(services.sessions, services.blobs, clock=clock)


def lora_tune(services, *, status: str = "queued", account_id: int = ACCOUNT) -> int:
    """A LoRA tune row with its training, as TuneService.create writes one (no photos: the queue needs none)."""
    with services.sessions() as session:
        tune = TuneRow(account_id=account_id, title="t", name="woman", token="sks", model_type="lora", base_model_id="tiny")
        tune.training = TrainingRow(status=status, plan={"steps": 10, "class_images": 0}, attempts=0, callback=None)
        session.add(tune)
        session.commit()
        return tune.id


def waiting_prompt(services, waits: list[int]) -> int:
    row, _ = services.prompt_store.create(
        NewPrompt(
            account_id=ACCOUNT,
            tune_id=999,
            base_model_id="tiny",
            text="p",
            negative_prompt="",
            options={"target": "gallery", "resolved": {"num_images": 1, "seed": 1}, "waits_for": waits},
            status=WAITING,
        )
    )
    return row.id


def status_of(services, prompt_id: int) -> str:
    return services.prompt_store.get(prompt_id, account_id=ACCOUNT).status


def test_one_attempt_holds_a_training_and_a_lost_one_learns_it_at_its_next_write(services, queue, clock):
    tune = lora_tune(services)
    first = queue.claim(tune, worker="a", lease_s=10)
    assert first.outcome == CLAIMED and first.attempt == 1 and first.plan["steps"] == 10
    assert queue.claim(tune, worker="b", lease_s=10).outcome == BUSY  # a live lease
    assert queue.claim_next(worker="b", lease_s=10) is None
    clock.advance(11)  # worker a was lost (killed): its lease lapsed
    second = queue.claim_next(worker="b", lease_s=10)
    assert second is not None and second.attempt == 2
    assert not queue.write_progress(tune, {"phase": "training"}, attempt=1)
    assert not queue.save_checkpoint(tune, attempt=1, step=4, data=b"old")
    assert not services.blobs.exists(f"tunes/{tune}/training/a1-step4.pt")  # the loser's blob is removed
    assert queue.save_checkpoint(tune, attempt=2, step=4, data=b"ckpt-4")
    assert queue.save_checkpoint(tune, attempt=2, step=8, data=b"ckpt-8")
    assert queue.load_checkpoint(tune) == b"ckpt-8"
    assert not services.blobs.exists(f"tunes/{tune}/training/a2-step4.pt")  # the superseded one too
    assert queue.complete(tune, attempt=1, lora=b"lost", digest="0" * 64) is None
    done = queue.complete(tune, attempt=2, lora=b"won", digest="1" * 64)
    assert done is not None and done.succeeded
    assert queue.claim(tune, worker="c", lease_s=10).outcome == FINISHED
    shown = services.tunes.get(tune, account_id=ACCOUNT)
    assert shown["trained_at"] is not None and shown["training"]["status"] == "succeeded"
    assert services.tunes.lora_bytes(tune, account_id=ACCOUNT) == b"won"
    assert not services.blobs.exists(f"tunes/{tune}/training/a2-step8.pt")  # checkpoints go once trained


def test_deleting_the_tune_is_the_cancel_the_trainer_hears(services, queue):
    tune = lora_tune(services)
    claim = queue.claim(tune, worker="a", lease_s=10)
    hooks = QueueHooks(queue, tune, claim.attempt, class_images=0, min_interval_s=0)
    hooks.report(TrainingProgress(TRAINING, step=1, steps=10, loss=0.5))
    assert services.tunes.get(tune, account_id=ACCOUNT)["training"]["progress"]["step"] == 1
    services.delete_tune(tune, account_id=ACCOUNT)
    with pytest.raises(TrainingStopped) as stopped:
        hooks.report(TrainingProgress(TRAINING, step=2, steps=10, loss=0.5))
    assert stopped.value.reason == CANCELLED
    assert queue.claim(tune, worker="b", lease_s=10).outcome == GONE


def test_a_stopping_process_hands_the_training_back(services, queue):
    tune = lora_tune(services)
    claim = queue.claim(tune, worker="a", lease_s=10)
    stop = threading.Event()
    hooks = QueueHooks(queue, tune, claim.attempt, class_images=0, stop=stop)
    stop.set()
    with pytest.raises(TrainingStopped):
        hooks.between_steps()
    assert queue.release(tune, attempt=claim.attempt)
    assert queue.claim(tune, worker="b", lease_s=10).attempt == 2  # at once, no lease to wait out


def test_waiting_prompts_move_on_when_their_tunes_end(services, queue):
    trained, failed, deleted = lora_tune(services), lora_tune(services), lora_tune(services)
    both = waiting_prompt(services, [trained, failed])
    only_trained = waiting_prompt(services, [trained])
    on_deleted = waiting_prompt(services, [deleted])
    for tune in (trained, failed):
        queue.claim(tune, worker="w", lease_s=10)
    done = queue.complete(trained, attempt=1, lora=b"x", digest="2" * 64)
    assert done.released == [only_trained]
    assert status_of(services, only_trained) == QUEUED and status_of(services, both) == WAITING
    queue.fail(failed, attempt=1, error={"code": "training_failed", "message": "boom"})
    row = services.prompt_store.get(both, account_id=ACCOUNT)
    assert row.status == FAILED and row.error["code"] == "tune_training_failed"
    services.delete_tune(deleted, account_id=ACCOUNT)
    row = services.prompt_store.get(on_deleted, account_id=ACCOUNT)
    assert row.status == FAILED and row.error["code"] == "tune_not_found"


def test_a_training_lost_too_often_fails_for_good(services, queue):
    tune = lora_tune(services)
    with services.sessions() as session:
        session.get(TrainingRow, tune).attempts = services.settings.training_max_attempts
        session.commit()
    claim = queue.claim(tune, worker="w", lease_s=10)
    executor = TrainingExecutor(queue, services.tunes, services.settings)
    assert executor.execute(claim) == "failed"
    error = services.tunes.get(tune, account_id=ACCOUNT)["training"]["error"]
    assert error["code"] == TrainingInterruptedError.code


def test_the_publisher_hands_trainings_to_the_train_queue_once(services, queue, clock):
    tune = lora_tune(services)
    sent: list[tuple[str, int]] = []
    publisher = Publisher(
        queue=services.queue,
        publish=lambda prompt_id: sent.append(("prompt", prompt_id)),
        warmup=lambda: None,
        trainings=queue,
        publish_training=lambda tune_id: sent.append(("train", tune_id)),
    )
    assert publisher.sweep() == 1 and sent == [("train", tune)]
    assert publisher.sweep() == 0  # published: not again until it is due
    queue.claim(tune, worker="w", lease_s=5)
    clock.advance(6)  # its worker died: the lapsed lease is published again
    assert publisher.sweep() == 1 and sent[-1] == ("train", tune)
