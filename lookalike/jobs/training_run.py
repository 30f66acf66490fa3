"""The one execution path for a claimed LoRA training: load its pictures, train, record, finish, notify.

The in-process worker (between prompts), Celery's train queue and the local
CLI (``lookalike tunes create --model-type lora --wait``) all end here; they
differ only in how they claim (jobs/trainings.py) and in what they do
between two training steps (the in-process worker runs the prompts queued
meanwhile, so a long training never holds a prompt back).

The trainer's hooks (training/loop.py) are this module's ``QueueHooks``:
progress goes to the row (throttled, conditional on this attempt), and the
first write that finds nothing to update (the tune was deleted, or a worker
that outlived our lease took it) stops the loop; so does the process
stopping, which hands the training back to resume from its last checkpoint.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from lookalike.config import Settings
from lookalike.errors import LookalikeError, TrainingFailedError, TrainingInterruptedError
from lookalike.jobs.trainings import CLAIMED, FinishedTraining, TrainingClaim, TrainingQueue
from lookalike.store.tables import utcnow
from lookalike.tunes.service import TuneService
from lookalike.tunes.views import iso_timestamp

log = logging.getLogger(__name__)

# Stopped because the tune is gone or another attempt holds it / because this process stops.
CANCELLED, STOPPING = "cancelled", "stopping"


@dataclass
class QueueHooks:
    """``TrainingHooks`` for one claimed attempt: writes to the training queue, stops when told to."""

    trainings: TrainingQueue
    tune_id: int
    attempt: int
    class_images: int
    min_interval_s: float = 0.5
    stop: threading.Event | None = None
    run_between: Callable[[], None] = field(default=lambda: None)
    # Hears every progress dict (the local CLI's bar), written or not.
    listener: Callable[[dict[str, Any]], None] | None = None
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._started = self.clock()
        self._last_write: float | None = None
        self._last_phase: str | None = None

    def _check(self) -> None:
        from lookalike.training.loop import TrainingStopped

        if self.stop is not None and self.stop.is_set():
            raise TrainingStopped(STOPPING)

    def load_checkpoint(self) -> bytes | None:
        return self.trainings.load_checkpoint(self.tune_id)

    def save_checkpoint(self, step: int, data: bytes) -> None:
        from lookalike.training.loop import TrainingStopped

        if not self.trainings.save_checkpoint(self.tune_id, attempt=self.attempt, step=step, data=data):
            raise TrainingStopped(CANCELLED)

    def load_class_images(self) -> list[bytes] | None:
        return self.trainings.load_class_images(self.tune_id, self.class_images) or None

    def save_class_images(self, images: list[bytes]) -> None:
        self.trainings.save_class_images(self.tune_id, images)

    def report(self, progress) -> None:
        from lookalike.training.loop import TRAINING, TrainingStopped

        self._check()
        now = self.clock()
        state = self.state_of(progress, now)
        if self.listener is not None:
            self.listener(state)
        last_step = progress.phase == TRAINING and progress.step == progress.steps
        due = (
            self._last_write is None
            or progress.phase != self._last_phase
            or last_step
            or now - self._last_write >= self.min_interval_s
        )
        if not due:
            return
        self._last_write, self._last_phase = now, progress.phase
        if not self.trainings.write_progress(self.tune_id, state, attempt=self.attempt):
            raise TrainingStopped(CANCELLED)

    def between_steps(self) -> None:
        self._check()
        self.run_between()
        self._check()

    def state_of(self, progress, now: float) -> dict[str, Any]:
        """The stored and shown shape (schemas.tunes.TuneProgress)."""
        eta = None
        if progress.seconds_per_step is not None and progress.step is not None and progress.steps:
            remaining = max(0, progress.steps - progress.step) * progress.seconds_per_step
            eta = iso_timestamp(utcnow() + timedelta(seconds=remaining))
        return {
            "phase": progress.phase,
            "step": progress.step,
            "steps": progress.steps,
            "loss": None if progress.loss is None else round(float(progress.loss), 5),
            "class_image": progress.class_image,
            "class_images": progress.class_images,
            "eta": eta,
            "elapsed_s": round(now - self._started, 3),
            "resumed_from": progress.resumed_from,
            "attempt": self.attempt,
            "updated_at": iso_timestamp(utcnow()),
        }


@dataclass
class TrainingExecutor:
    trainings: TrainingQueue
    tunes: TuneService
    settings: Settings
    # Called with each training this run finished (either way): its callback, waking the prompt loop.
    on_done: Callable[[FinishedTraining], None] = field(default=lambda _done: None)

    def execute(
        self,
        claim: TrainingClaim,
        *,
        stop: threading.Event | None = None,
        run_between: Callable[[], None] = lambda: None,
        listener: Callable[[dict[str, Any]], None] | None = None,
    ) -> str:
        """Train one claimed tune; what happened: succeeded, failed, cancelled, stopping or superseded."""
        from lookalike.training.loop import TrainingStopped

        tune_id, attempt = claim.tune_id, claim.attempt
        if attempt > self.settings.training_max_attempts:
            error = TrainingInterruptedError(
                f"Training of tune {tune_id} was interrupted {attempt - 1} times (workers lost); it is not tried again.",
                details={"tune_id": tune_id, "attempts": attempt - 1},
            )
            return self._fail(tune_id, attempt, error.to_dict())
        hooks = QueueHooks(
            self.trainings,
            tune_id,
            attempt,
            class_images=int(claim.plan.get("class_images") or 0),
            min_interval_s=self.settings.training_progress_interval_s,
            stop=stop,
            run_between=run_between,
            listener=listener,
        )
        try:
            result = self._train(claim, hooks)
        except TrainingStopped as stopped:
            if stopped.reason == STOPPING:
                self.trainings.release(tune_id, attempt=attempt)
                log.info("tune %s: training handed back at stop; it resumes from its last checkpoint", tune_id)
            else:
                log.info("tune %s: training cancelled (deleted, or taken over by another worker)", tune_id)
            return stopped.reason
        except LookalikeError as exc:
            log.warning("tune %s: training failed: %s", tune_id, exc.message)
            return self._fail(tune_id, attempt, exc.to_dict())
        except Exception as exc:  # noqa: BLE001 - any crash of the trainer fails this tune, never the worker
            log.exception("tune %s: training failed", tune_id)
            error = TrainingFailedError(f"Training stopped on an error: {type(exc).__name__}: {exc}")
            return self._fail(tune_id, attempt, error.to_dict())
        done = self.trainings.complete(
            tune_id, attempt=attempt, lora=result.data, digest=result.digest, keep_photos=self.settings.keep_originals
        )
        if done is None:
            return "superseded"
        log.info("tune %s: trained in %.1f s (%d steps, resumed from %s)", tune_id, result.seconds, result.steps, result.resumed_from)
        self.on_done(done)
        return "succeeded"

    def _train(self, claim: TrainingClaim, hooks: QueueHooks):
        from lookalike.catalog.base_models import get_base_model
        from lookalike.training.data import TrainingImages
        from lookalike.training.loop import train_lora, training_device
        from lookalike.training.plan import TrainingPlan

        plan = TrainingPlan.from_dict(claim.plan)
        squares, crops = self.tunes.training_pictures(claim.tune_id)
        device, dtype = training_device(self.settings)
        return train_lora(
            plan,
            TrainingImages(tuple(squares), tuple(crops)),
            hooks,
            spec=get_base_model(plan.base_model),
            models_dir=self.settings.models_dir,
            device=device,
            dtype=dtype,
        )

    def _fail(self, tune_id: int, attempt: int, error: dict[str, Any]) -> str:
        done = self.trainings.fail(tune_id, attempt=attempt, error=error)
        if done is None:
            return "superseded"
        self.on_done(done)
        return "failed"


def send_tune_callback(callbacks, tunes: TuneService, done: FinishedTraining, *, public_url: str, link) -> None:
    """Queue the tune's callback (its JSON, as GET /tunes/{id} shows it) now that its training ended."""
    from lookalike.schemas.tunes import TunePublic

    tune = tunes.find(done.tune_id, account_id=done.account_id)
    if tune is None:
        return  # deleted just now: nobody to tell about it
    callbacks.enqueue(
        account_id=done.account_id,
        url=done.callback,
        event="tune",
        object_id=done.tune_id,
        payload={"tune": TunePublic.from_tune(tune, public_url, link).model_dump(mode="json")},
    )


@dataclass
class TrainingRunner:
    """Claims trainings with a lease and runs them through the executor, renewing the lease from a side thread."""

    trainings: TrainingQueue
    executor: TrainingExecutor
    lease_s: float
    name: str

    def run_next(self, *, stop: threading.Event | None = None, run_between: Callable[[], None] = lambda: None) -> bool:
        """Train the oldest waiting tune, if any; whether there was one."""
        claim = self.trainings.claim_next(worker=self.name, lease_s=self.lease_s)
        if claim is None:
            return False
        self.run_claim(claim, stop=stop, run_between=run_between)
        return True

    def run(
        self,
        tune_id: int,
        *,
        stop: threading.Event | None = None,
        run_between: Callable[[], None] = lambda: None,
        listener: Callable[[dict[str, Any]], None] | None = None,
    ) -> str:
        """Train this tune if it can be taken (a broker delivery, or the CLI); what happened."""
        claim = self.trainings.claim(tune_id, worker=self.name, lease_s=self.lease_s)
        if claim.outcome != CLAIMED:
            log.info("tune %s: training %s, nothing to do", tune_id, claim.outcome)
            return claim.outcome
        return self.run_claim(claim, stop=stop, run_between=run_between, listener=listener)

    def run_claim(self, claim: TrainingClaim, **kwargs: Any) -> str:
        from lookalike.jobs.remote_worker import LeaseKeeper

        with LeaseKeeper(self.trainings, claim.tune_id, claim.attempt, self.lease_s, what="tune"):
            return self.executor.execute(claim, **kwargs)
