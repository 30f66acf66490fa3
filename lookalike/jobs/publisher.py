"""The API side of Celery mode: hand queued prompts to the broker, and hand them again when needed.

The prompt row is committed as ``queued`` before the 201, exactly as in the
in-process mode; only then is it published. So the broker being down never
loses a prompt or fails a POST: the row waits with ``published_at`` unset and
a sweep (every ``LOOKALIKE_SWEEP_INTERVAL_S``, and at once after each POST)
publishes it when the broker is back. The same sweep re-publishes prompts
whose worker died (lapsed lease) and queued prompts published so long ago
that the broker may have lost them. Any repeat is harmless: the claim in
jobs/queue.py lets one delivery run a prompt and the others do nothing.

It stands where the in-process ``Worker`` stands in the API context (start,
wake, stop, state, ready), so the routes do not know which mode runs. LoRA
trainings go out the same way, to the broker's train queue.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lookalike.errors import BrokerUnavailableError
from lookalike.jobs.queue import JobQueue
from lookalike.jobs.worker import READY, STOPPED, WorkerState, warm_up

if TYPE_CHECKING:
    from lookalike.jobs.trainings import TrainingQueue

log = logging.getLogger(__name__)


@dataclass
class PublisherState(WorkerState):
    broker: str = "unknown"  # "ok" or "unavailable"
    broker_error: dict | None = None  # a broker_unavailable error body while it is down
    published: int = 0


@dataclass
class Publisher:
    queue: JobQueue
    # Hands one prompt id to the broker; raises when the broker refuses it.
    publish: Callable[[int], None]
    # The API's own warm-up (face models for tunes); prompts run elsewhere.
    warmup: Callable[[], None]
    sweep_interval_s: float = 5.0
    republish_after_s: float = 900.0
    state: PublisherState = field(default_factory=PublisherState)
    # LoRA trainings and how to hand one to the train queue; None: trainings are not published.
    trainings: TrainingQueue | None = None
    publish_training: Callable[[int], None] | None = None

    def __post_init__(self) -> None:
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def ready(self) -> bool:
        return self.state.phase == READY

    def start(self) -> None:
        for target, name in ((self._sweep_loop, "lookalike-publisher"), (self._warm, "lookalike-warmup")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self.state.phase = STOPPED

    def sweep(self) -> int:
        """Publish what is due (prompts, then trainings); returns how many went out. Stops at the first refusal."""
        due = [
            (self.queue, self.publish, prompt_id)
            for prompt_id in self.queue.due_for_publishing(republish_after_s=self.republish_after_s)
        ]
        if self.trainings is not None and self.publish_training is not None:
            due += [
                (self.trainings, self.publish_training, tune_id)
                for tune_id in self.trainings.due_for_publishing(republish_after_s=self.republish_after_s)
            ]
        sent = 0
        for index, (_table, publish, prompt_id) in enumerate(due):
            try:
                publish(prompt_id)
            except Exception as exc:
                # Broker down (kombu/redis raise their own types): every
                # prompt not sent yet is marked unpublished, for the next sweep.
                for unsent_table, _, unsent in due[index:]:
                    unsent_table.mark_published(unsent, None)
                if self.state.broker != "unavailable":
                    log.warning("broker unavailable, %d prompt(s) wait in the database: %s", len(due) - index, exc)
                error = BrokerUnavailableError(f"The broker did not take prompt {prompt_id}: {type(exc).__name__}: {exc}")
                self.state.broker, self.state.broker_error = "unavailable", error.to_dict()
                return sent
            sent += 1
        if self.state.broker == "unavailable":
            log.info("broker back; published %d waiting prompt(s)", sent)
        self.state.broker, self.state.broker_error = "ok", None
        self.state.published += sent
        return sent

    def _sweep_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep()
            except Exception:
                # The database failed under us: the thread must outlive it.
                log.exception("publisher sweep failed; retrying in %.1fs", self.sweep_interval_s)
            self._wake.wait(self.sweep_interval_s)
            self._wake.clear()

    def _warm(self) -> None:
        warm_up(self.state, self.warmup)


def celery_publisher(
    settings, queue: JobQueue, *, warmup: Callable[[], None], trainings: TrainingQueue | None = None
) -> Publisher:
    """The Publisher wired to a Celery app on the settings' broker (celery imported here, not before)."""
    from lookalike.jobs.celery_app import make_celery, publish, publish_training

    app = make_celery(settings)
    return Publisher(
        queue=queue,
        publish=lambda prompt_id: publish(app, prompt_id),
        warmup=warmup,
        sweep_interval_s=settings.sweep_interval_s,
        republish_after_s=settings.republish_after_s,
        trainings=trainings,
        publish_training=lambda tune_id: publish_training(app, tune_id),
    )
