"""A worker in its own process (``lookalike worker``): loads the models once, then runs prompts by id.

Each delivery claims its prompt with a lease (jobs/queue.py) and renews it
while the prompt runs. A delivery for a prompt that is finished, deleted, or
held by a live worker does nothing, so the broker may deliver a message as
often as it likes: the prompt still runs to one visible result.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, field

from lookalike.config import Settings
from lookalike.errors import LookalikeError
from lookalike.jobs.callbacks import CallbackDispatcher, DeliveryPolicy
from lookalike.jobs.engine import PromptEngine, RunnerEngine, load_engine
from lookalike.jobs.queue import CLAIMED, JobQueue, spec_of
from lookalike.jobs.views import prompt_to_dict
from lookalike.services import Services
from lookalike.store.tables import PromptRow

log = logging.getLogger(__name__)

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


class LeaseKeeper:
    """Renews a claim every third of the lease while the prompt runs, from a side thread."""

    def __init__(self, queue: JobQueue, prompt_id: int, attempt: int, lease_s: float) -> None:
        self.queue, self.prompt_id, self.attempt, self.lease_s = queue, prompt_id, attempt, lease_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{prompt_id}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(self.lease_s)

    def _loop(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                if not self.queue.renew(self.prompt_id, attempt=self.attempt, lease_s=self.lease_s):
                    log.warning("prompt %s: another attempt holds it now; first to finish wins", self.prompt_id)
                    return
            except Exception:
                # A database hiccup: try again at the next beat; if the lease
                # lapses meanwhile, another worker may run the prompt too.
                log.exception("prompt %s: lease renewal failed", self.prompt_id)


@dataclass
class RemoteWorker:
    settings: Settings
    engine: PromptEngine | None = None
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    processed: int = 0

    def __post_init__(self) -> None:
        self.services = Services(self.settings)
        if self.engine is None:
            reference = self.settings.prompt_engine
            self.engine = load_engine(reference, self.services) if reference else RunnerEngine(self.services)
        self.queue = JobQueue(self.services.sessions, self.services.blobs)
        # Callbacks go out from the worker that finished the prompt (outbox
        # rows in the shared database; API servers resume any left pending).
        from lookalike.accounts.service import AccountService

        self.callbacks = CallbackDispatcher(
            self.services.sessions,
            AccountService(self.services.sessions).callback_secret,
            DeliveryPolicy.from_settings(self.settings),
        )

    def warm(self) -> None:
        """Load the face analyzer and the warm-up base models, once, before taking any job."""
        self.services.analyzer.warmup()
        models = [m.strip() for m in self.settings.warmup_models.split(",") if m.strip()]
        if models:
            self.engine.warmup(models)

    def run(self, prompt_id: int) -> str:
        """Run one delivery of a prompt; returns what happened (for the Celery log)."""
        claim = self.queue.claim(prompt_id, worker=self.name, lease_s=self.settings.job_lease_s)
        if claim.outcome != CLAIMED:
            log.info("prompt %s: %s, nothing to do", prompt_id, claim.outcome)
            return claim.outcome
        row = claim.row
        with LeaseKeeper(self.queue, prompt_id, claim.attempt, self.settings.job_lease_s):
            try:
                images = self.engine.run(self.engine.check(spec_of(row)))
            except LookalikeError as exc:
                done = self.queue.fail(prompt_id, exc.to_dict())
            except Exception as exc:
                # Any engine crash fails this prompt with its reason; the
                # worker goes on with the next message.
                log.exception("prompt %s failed", prompt_id)
                done = self.queue.fail(prompt_id, {"code": "generation_failed", "message": f"{type(exc).__name__}: {exc}"})
            else:
                done = self.queue.complete(prompt_id, images, attempt=claim.attempt)
        self.processed += 1
        if done is None:
            return "superseded"
        self._callback(done)
        return done.status

    def _callback(self, row: PromptRow) -> None:
        if row.callback:
            public_url = (self.settings.public_url or DEFAULT_PUBLIC_URL).rstrip("/")
            self.callbacks.enqueue(
                account_id=row.account_id,
                url=row.callback,
                event="prompt",
                object_id=row.id,
                payload={"prompt": prompt_to_dict(row, public_url)},
            )

    def close(self) -> None:
        self.callbacks.close()
        self.services.close()
