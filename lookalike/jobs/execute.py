"""The one execution path for claimed prompts: check, run, map errors, finish, notify.

The in-process worker, the Celery worker and batching all end here; they
differ only in how they claim (jobs/queue.py) and in the loop around it.
Several prompts are run as one engine call where the engine can batch
(``run_many``); each still fails or succeeds on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from lookalike.errors import LookalikeError
from lookalike.jobs.callbacks import CallbackDispatcher
from lookalike.jobs.engine import OnProgress, OutputImage, PromptEngine, takes_progress
from lookalike.jobs.mock import is_mock, mock_images
from lookalike.jobs.progress import MIN_INTERVAL_S, ProgressWriter
from lookalike.jobs.queue import JobQueue, spec_of
from lookalike.schemas.prompts import PromptPublic
from lookalike.store.tables import PromptRow

log = logging.getLogger(__name__)

Outcome = list[OutputImage] | Exception


@dataclass(frozen=True)
class Claimed:
    """A prompt this worker holds. ``attempt`` is set by lease holders: only that attempt may finish it."""

    row: PromptRow
    attempt: int | None = None


@dataclass
class PromptExecutor:
    queue: JobQueue
    engine: PromptEngine
    # Called with each prompt this run finished (succeeded or failed): sends its callback.
    on_done: Callable[[PromptRow], None]
    # Least time between two progress writes of one prompt (jobs/progress.py).
    progress_interval_s: float = MIN_INTERVAL_S

    def execute(self, claimed: list[Claimed]) -> list[PromptRow | None]:
        """Run the claimed prompts and record each outcome; None where another attempt won or it was deleted.

        Each prompt gets its own progress writer: started now, fed by the
        engine's steps, "saving" while its images are stored, and closed
        before the prompt is finished (which clears its progress).
        """
        writers = {item.row.id: self._progress_writer(item) for item in claimed if not is_mock(spec_of(item.row).options)}
        try:
            for writer in writers.values():
                writer.started()
            outcomes = self.run([c.row for c in claimed], progress=writers)
            finished = []
            for item in claimed:
                outcome = outcomes[item.row.id]
                writer = writers.pop(item.row.id, None)
                if isinstance(outcome, Exception):
                    if writer is not None:
                        writer.close()
                    done = self.queue.fail(item.row.id, error_of(outcome))
                else:
                    if writer is not None:
                        writer.saving()
                        writer.close()  # "saving" is written before the images are
                    done = self.queue.complete(item.row.id, outcome, attempt=item.attempt)
                if done is not None:
                    self.on_done(done)
                finished.append(done)
            return finished
        finally:
            for writer in writers.values():
                writer.close()

    def _progress_writer(self, item: Claimed) -> ProgressWriter:
        images = spec_of(item.row).options.get("num_images")
        return ProgressWriter(
            partial(self.queue.write_progress, item.row.id, attempt=item.attempt),
            images=int(images) if images else None,
            min_interval_s=self.progress_interval_s,
            name=str(item.row.id),
        )

    def run(self, rows: list[PromptRow], progress: dict[int, OnProgress] | None = None) -> dict[int, Outcome]:
        """Each row's images, or the exception that failed it; one engine call for all that pass their check.

        ``progress``: per prompt id, the ``on_progress`` its engine call reports to.
        """
        progress = progress or {}
        outcomes: dict[int, Outcome] = {}
        checked = []
        for row in rows:
            if is_mock(spec_of(row).options):
                # Astria's mock mode: the engine is never called, nor a model loaded.
                outcomes[row.id] = mock_images(spec_of(row).options)
                continue
            try:
                checked.append((row, self.engine.check(spec_of(row))))
            except Exception as exc:  # noqa: BLE001 - this prompt's outcome; the others go on
                _log_unexpected(exc, f"prompt {row.id} failed its check")
                outcomes[row.id] = exc
        if len(checked) == 1:
            row, resolved = checked[0]
            try:
                if row.id in progress and takes_progress(self.engine.run):
                    outcomes[row.id] = self.engine.run(resolved, on_progress=progress[row.id])
                else:
                    outcomes[row.id] = self.engine.run(resolved)
            except Exception as exc:  # noqa: BLE001 - an engine crash fails this prompt; the worker goes on
                _log_unexpected(exc, f"prompt {row.id} failed")
                outcomes[row.id] = exc
        elif checked:
            try:
                batch = [resolved for _, resolved in checked]
                if progress and takes_progress(self.engine.run_many):
                    reporters = [progress.get(row.id) for row, _ in checked]
                    results: list[Any] = self.engine.run_many(batch, on_progress=reporters)
                else:
                    results = self.engine.run_many(batch)
            except Exception as exc:  # noqa: BLE001 - the engine failed as a whole: every prompt in it fails
                log.exception("batch of %d prompts failed", len(checked))
                results = [exc] * len(checked)
            for (row, _), result in zip(checked, results, strict=True):
                outcomes[row.id] = result
        return outcomes


def error_of(exc: Exception) -> dict[str, Any]:
    """The stored error of a failed prompt: ours as it is, anything else as ``generation_failed``."""
    if isinstance(exc, LookalikeError):
        return exc.to_dict()
    return {"code": "generation_failed", "message": f"{type(exc).__name__}: {exc}"}


def _log_unexpected(exc: Exception, what: str) -> None:
    if not isinstance(exc, LookalikeError):
        log.error("%s", what, exc_info=exc)


def callback_sender(
    callbacks: CallbackDispatcher, public_url: str, link: Callable[[str], str]
) -> Callable[[PromptRow], None]:
    """``on_done`` for an executor: queue the prompt's callback, if it asked for one (image links signed)."""

    def send(row: PromptRow) -> None:
        if row.callback:
            callbacks.enqueue(
                account_id=row.account_id,
                url=row.callback,
                event="prompt",
                object_id=row.id,
                payload={"prompt": PromptPublic.from_row(row, public_url, link).model_dump(mode="json")},
            )

    return send
