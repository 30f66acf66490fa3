"""A worker in its own process (``lookalike worker``): loads the models once, then runs prompts by id.

Each delivery claims its prompt with a lease (jobs/queue.py) and renews it
while the prompt runs. A delivery for a prompt that is finished, deleted, or
held by a live worker does nothing, so the broker may deliver a message as
often as it likes: the prompt still runs to one visible result. LoRA
trainings arrive the same way on the train queue (jobs/training_run.py); a
worker that also takes the prompt queue runs the prompts queued meanwhile
between two training steps, claimed by id exactly as their own delivery
would (which then finds them finished and does nothing).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lookalike.jobs.execute import Claimed, PromptExecutor
from lookalike.jobs.queue import CLAIMED, JobQueue

if TYPE_CHECKING:
    from lookalike.jobs.training_run import TrainingRunner

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews a claim every third of the lease while the prompt runs, from a side thread."""

    def __init__(
        self,
        queue: JobQueue,
        prompt_id: int,
        attempt: int,
        lease_s: float,
        *,
        wait: Callable[[float], bool] | None = None,
        what: str = "prompt",
    ) -> None:
        # ``queue``: anything with renew(id, attempt=, lease_s=): the prompt queue, or the training queue (what="tune").
        self.queue, self.prompt_id, self.attempt, self.lease_s = queue, prompt_id, attempt, lease_s
        self.what = what
        self._stop = threading.Event()
        # The beat: wait(seconds) -> True once the keeper should stop. Tests
        # pass one that moves the queue's fake clock instead of sleeping.
        self._wait = wait or self._stop.wait
        self._thread = threading.Thread(target=self._loop, name=f"lease-{prompt_id}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(self.lease_s)

    def _loop(self) -> None:
        while not self._wait(self.lease_s / 3) and not self._stop.is_set():
            try:
                if not self.queue.renew(self.prompt_id, attempt=self.attempt, lease_s=self.lease_s):
                    if not self._stop.is_set():  # not merely finished as the beat came
                        log.warning("%s %s: another attempt holds it now; first to finish wins", self.what, self.prompt_id)
                    return
            except Exception:
                # A database hiccup: try again at the next beat; if the lease
                # lapses meanwhile, another worker may run the prompt too.
                log.exception("%s %s: lease renewal failed", self.what, self.prompt_id)


@dataclass
class RemoteWorker:
    """Claims by id with a lease, then hands the prompt to the shared execution path."""

    queue: JobQueue
    executor: PromptExecutor
    lease_s: float
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    processed: int = 0
    # LoRA trainings (the train queue); None: this process trains nothing.
    training: TrainingRunner | None = None
    # Whether this worker takes the prompt queue too (then it runs prompts between training steps).
    runs_prompts: bool = True

    def run(self, prompt_id: int) -> str:
        """Run one delivery of a prompt; returns what happened (for the Celery log)."""
        claim = self.queue.claim(prompt_id, worker=self.name, lease_s=self.lease_s)
        if claim.outcome != CLAIMED:
            log.info("prompt %s: %s, nothing to do", prompt_id, claim.outcome)
            return claim.outcome
        with LeaseKeeper(self.queue, prompt_id, claim.attempt, self.lease_s):
            (done,) = self.executor.execute([Claimed(claim.row, claim.attempt)])
        self.processed += 1
        return "superseded" if done is None else done.status

    def train(self, tune_id: int) -> str:
        """Run one delivery of a LoRA training; what happened (for the Celery log)."""
        if self.training is None:
            raise RuntimeError("this worker was built without a training runner")
        between = self.run_queued_prompts if self.runs_prompts else (lambda: None)
        return self.training.run(tune_id, run_between=between)

    def run_queued_prompts(self) -> None:
        """Every prompt queued now, oldest first, each claimed by id with a lease (between training steps)."""
        for prompt_id in self.queue.queued_ids():
            self.run(prompt_id)
