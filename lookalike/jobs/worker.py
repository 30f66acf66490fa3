"""The in-process worker: one thread that warms the models, then runs prompts oldest first.

One thread because one accelerator runs one pipeline at a time; more
throughput comes from more worker processes (later: Celery), not threads.
When no prompt is queued it trains the oldest queued LoRA tune, one at a
time, and between two training steps it runs every prompt queued meanwhile:
prompts first, so a training of minutes never holds a prompt back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lookalike.errors import LookalikeError
from lookalike.jobs.execute import Claimed, PromptExecutor
from lookalike.jobs.queue import JobQueue
from lookalike.store.tables import PromptRow

if TYPE_CHECKING:
    from lookalike.jobs.training_run import TrainingRunner

log = logging.getLogger(__name__)

STARTING, WARMING, READY, WARMUP_FAILED, STOPPED = "starting", "warming", "ready", "warmup_failed", "stopped"


@dataclass
class WorkerState:
    phase: str = STARTING
    warmup_error: dict | None = None
    warmup_seconds: float | None = None
    current_prompt: int | None = None
    processed: int = 0
    requeued_at_start: int = 0
    current_training: int | None = None
    trainings: int = 0


@dataclass
class Worker:
    queue: JobQueue
    executor: PromptExecutor
    warmup: Callable[[], None]
    poll_s: float = 2.0
    state: WorkerState = field(default_factory=WorkerState)
    # LoRA trainings (jobs/training_run.py), run when no prompt waits; None: this worker trains nothing.
    training: TrainingRunner | None = None

    def __post_init__(self) -> None:
        self._batch_limit: int | None = None  # asked of the engine once, after warm-up
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ready(self) -> bool:
        return self.state.phase == READY

    def start(self) -> None:
        # A daemon thread: a generation cannot be interrupted, so a stopping
        # server does not wait for it; its prompt is requeued at the next start.
        self._thread = threading.Thread(target=self._main, name="lookalike-worker", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.state.phase = STOPPED

    def _main(self) -> None:
        self.state.requeued_at_start = self.queue.requeue_interrupted()
        if self.state.requeued_at_start:
            log.info("requeued %d prompt(s) interrupted by the last stop", self.state.requeued_at_start)
        if self.training is not None:
            interrupted = self.training.trainings.requeue_interrupted()
            if interrupted:
                log.info("requeued %d training(s) interrupted by the last stop; they resume from checkpoints", interrupted)
        self._warm()
        while not self._stop.is_set():
            try:
                row = self.queue.claim_next()
                if row is None:
                    if self._train_one():
                        continue
                    self._wake.wait(self.poll_s)
                    self._wake.clear()
                    continue
                self._process(self._companions(row))
            except Exception:
                # The database or the disk failed under us (locked, full):
                # the thread must outlive it, so back off and try again.
                log.exception("worker loop error; retrying in %.1fs", self.poll_s)
                self._stop.wait(self.poll_s)

    def _warm(self) -> None:
        warm_up(self.state, self.warmup)

    def _train_one(self) -> bool:
        """Train the oldest queued LoRA tune, running queued prompts between its steps; whether there was one."""
        if self.training is None:
            return False
        claim = self.training.trainings.claim_next(worker=self.training.name, lease_s=self.training.lease_s)
        if claim is None:
            return False
        self.state.current_training = claim.tune_id
        try:
            self.training.run_claim(claim, stop=self._stop, run_between=self._run_queued_prompts)
        finally:
            self.state.current_training = None
            self.state.trainings += 1
        return True

    def _run_queued_prompts(self) -> None:
        """Every prompt queued now, oldest first (called between two training steps)."""
        while not self._stop.is_set():
            row = self.queue.claim_next()
            if row is None:
                return
            self._process(self._companions(row))

    def _companions(self, row: PromptRow) -> list[PromptRow]:
        """``row`` plus queued prompts that can share its generation call (jobs/batching.py)."""
        from lookalike.jobs.batching import claim_compatible, engine_batch_limit

        if self._batch_limit is None:
            self._batch_limit = engine_batch_limit(self.executor.engine)
        if self._batch_limit <= 1:
            return [row]
        return [row, *claim_compatible(self.queue, row, self._batch_limit)]

    def _process(self, rows: list[PromptRow]) -> None:
        self.state.current_prompt = rows[0].id
        try:
            self.executor.execute([Claimed(row) for row in rows])
        finally:
            self.state.current_prompt = None
            self.state.processed += len(rows)


def warm_up(state: WorkerState, warmup: Callable[[], None]) -> None:
    """Run ``warmup``, recording its phase, time and any error in ``state`` for /readyz.

    A broken model must not take the API down: the error is kept, not raised.
    """
    state.phase = WARMING
    started = time.perf_counter()
    try:
        warmup()
    except LookalikeError as exc:
        state.warmup_error, state.phase = exc.to_dict(), WARMUP_FAILED
        log.error("warm-up failed: %s", exc.message)
        return
    except Exception as exc:
        state.warmup_error = {"code": "warmup_failed", "message": f"{type(exc).__name__}: {exc}"}
        state.phase = WARMUP_FAILED
        log.exception("warm-up failed")
        return
    finally:
        state.warmup_seconds = round(time.perf_counter() - started, 3)
    state.phase = READY
