"""A running prompt's live progress: what its worker writes to the row, and its shape.

The engine reports through one narrow callable, given per prompt:

    on_progress(step, steps, image, images, finishing_step=None)

``step`` of ``steps`` while denoising (0 before the first step), or the
finishing step's name (``face_swap``, ``face_correct``, ``super_resolution``,
``identity_score``) with the image it works on (``image`` of ``images``,
from 1). ``image`` is None while all of a prompt's images denoise together
in one call, which is how the generation engine runs them.

``ProgressWriter`` is that callable for one claimed prompt. It never blocks
the denoising loop on the database and never raises into it: it keeps the
latest state and a side thread writes it, at most one write per
``min_interval_s`` (4 a second by default), so a fast model's steps are
coalesced while the last denoising step is always written. The write
itself is the queue's conditional UPDATE (``JobQueue.write_progress``),
which never touches a finished prompt, so a late write cannot bring a
finished prompt's progress back.

Progress travels through the database, so the API server shows it the same
whether the worker is its own thread or a Celery worker on another machine.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from lookalike.store.tables import utcnow
from lookalike.tunes.views import iso_timestamp

log = logging.getLogger(__name__)

QUEUED, DENOISING, FINISHING, SAVING = "queued", "denoising", "finishing", "saving"
PHASES = (QUEUED, DENOISING, FINISHING, SAVING)
FIELDS = ("phase", "queue_position", "step", "steps", "image", "images", "finishing_step", "elapsed_s", "updated_at")
MIN_INTERVAL_S = 0.25  # at most 4 writes a second per prompt


class OnProgress(Protocol):
    def __call__(
        self, step: int | None, steps: int | None, image: int | None, images: int | None, finishing_step: str | None = None
    ) -> None: ...


def progress_state(
    phase: str,
    *,
    queue_position: int | None = None,
    step: int | None = None,
    steps: int | None = None,
    image: int | None = None,
    images: int | None = None,
    finishing_step: str | None = None,
    elapsed_s: float | None = None,
    updated_at: str | None = None,
) -> dict[str, Any]:
    """The stored and shown shape: every field present, unknowns null."""
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}; got {phase!r}")
    return {
        "phase": phase,
        "queue_position": queue_position,
        "step": step,
        "steps": steps,
        "image": image,
        "images": images,
        "finishing_step": finishing_step,
        "elapsed_s": elapsed_s,
        "updated_at": updated_at if updated_at is not None else iso_timestamp(utcnow()),
    }


class ProgressWriter:
    """One running prompt's ``on_progress``: throttled, written from a side thread, never raising.

    ``write(state) -> anything`` stores one state (the queue's conditional
    UPDATE). ``elapsed_s`` counts from this writer's creation, on the
    worker's own clock, so API servers and workers need no common clock.
    """

    def __init__(
        self,
        write: Callable[[dict[str, Any]], Any],
        *,
        images: int | None = None,
        min_interval_s: float = MIN_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        name: str = "prompt",
    ) -> None:
        self._write = write
        self._images = images
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._started = clock()
        self._name = name
        self._cond = threading.Condition()
        # Pending states, oldest first. A new state replaces the newest
        # pending one unless that one must be kept (the last denoising step).
        self._pending: deque[tuple[dict[str, Any], bool]] = deque()
        self._closing = False
        self._thread: threading.Thread | None = None
        self.writes = 0  # states written (tests and measurements)

    # -- what the engine and the executor call -----------------------------------------

    def __call__(
        self, step: int | None, steps: int | None, image: int | None, images: int | None, finishing_step: str | None = None
    ) -> None:
        try:
            if images is not None:
                self._images = images
            if finishing_step is not None:
                state = self._state(FINISHING, image=image, finishing_step=finishing_step)
                keep = False
            else:
                state = self._state(DENOISING, step=step, steps=steps, image=image)
                keep = step is not None and steps is not None and step >= steps
            self._put(state, keep=keep)
        except Exception:  # progress must never fail a generation
            log.warning("prompt %s: progress not recorded", self._name, exc_info=True)

    def started(self) -> None:
        """The worker took the prompt: denoising, no step yet (loading the model, encoding the text)."""
        self._put(self._state(DENOISING), keep=True)

    def saving(self) -> None:
        """The images are made; they are being stored."""
        self._put(self._state(SAVING), keep=True)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is pending now (no throttle) and stop the side thread."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    # -- inside --------------------------------------------------------------------------

    def _state(self, phase: str, **fields: Any) -> dict[str, Any]:
        return progress_state(
            phase, images=self._images, elapsed_s=round(self._clock() - self._started, 3), **fields
        )

    def _put(self, state: dict[str, Any], *, keep: bool) -> None:
        with self._cond:
            if self._closing:
                return
            if self._pending and not self._pending[-1][1]:
                self._pending[-1] = (state, keep)
            else:
                self._pending.append((state, keep))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"progress-{self._name}", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        last_write: float | None = None
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    return  # closing, nothing left
                if last_write is not None and not self._closing:
                    # Throttle: wait out the interval (a close cuts it short).
                    wait = self._min_interval_s - (self._clock() - last_write)
                    if wait > 0:
                        self._cond.wait(wait)
                        continue
                state, _ = self._pending.popleft()
            try:
                self._write(state)
                self.writes += 1
            except Exception:  # the database hiccuped: the next state will try again
                log.warning("prompt %s: progress write failed", self._name, exc_info=True)
            last_write = self._clock()
