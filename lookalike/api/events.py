"""A prompt's progress as Server-Sent Events (``GET /prompts/{id}/events``), read from its row.

    event: progress
    data: {"phase": "denoising", "step": 3, "steps": 20, ...}

    event: done
    data: {the whole prompt, as GET /prompts/{id} shows it}

The stream polls the prompt's row (every ``LOOKALIKE_EVENTS_POLL_S``; every
50 ms once the last denoising step is done, as ``done`` is then near) and
sends ``progress`` each time it changed, a ``: keep-alive`` comment when
nothing was sent for ``LOOKALIKE_EVENTS_KEEPALIVE_S``, then one ``done``
once the prompt succeeded or failed, and ends. A finished prompt answers
``done`` at once. Nothing is kept per connection: a client that reconnects
(a reloaded page) simply gets the current state first. The worker writes
the row (jobs/progress.py), so this works alike whether it runs in this
process or in a Celery worker elsewhere.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from lookalike.jobs.prompts import FAILED, SUCCEEDED, PromptStore
from lookalike.schemas import PromptProgress, PromptPublic

KEEPALIVE = b": keep-alive\n\n"
HEADERS = {
    "Cache-Control": "no-cache",
    # nginx and similar proxies would otherwise buffer the stream.
    "X-Accel-Buffering": "no",
}


# Once the images are being finished or saved, done is a moment away: read more often.
END_POLL_S = 0.05


def _near_the_end(progress: PromptProgress | None) -> bool:
    if progress is None:
        return False
    last_step = progress.phase == "denoising" and progress.step is not None and progress.step == progress.steps
    return progress.phase in ("finishing", "saving") or last_step


def sse(event: str, data: str) -> bytes:
    """One event; ``data`` is one line of JSON."""
    return f"event: {event}\ndata: {data}\n\n".encode()


def event_stream(
    store: PromptStore,
    prompt_id: int,
    *,
    public: Callable[[Any], PromptPublic],
    poll_s: float,
    keepalive_s: float,
) -> StreamingResponse:
    """The response for one prompt whose existence and ownership the route already checked."""

    async def events() -> AsyncIterator[bytes]:
        last: PromptProgress | None = None
        sent_at = time.monotonic()
        while True:
            row, position = await run_in_threadpool(store.watch, prompt_id)
            if row is not None and row.status in (SUCCEEDED, FAILED):
                row = await run_in_threadpool(store.find, prompt_id)  # with its images
            if row is None:
                return  # deleted meanwhile: the stream ends without done (a reconnect answers 404)
            if row.status in (SUCCEEDED, FAILED):
                yield sse("done", public(row).model_dump_json())
                return
            progress = PromptProgress.of_row(row, position)
            if progress is not None and progress != last:
                yield sse("progress", progress.model_dump_json())
                last, sent_at = progress, time.monotonic()
            elif time.monotonic() - sent_at >= keepalive_s:
                yield KEEPALIVE
                sent_at = time.monotonic()
            await asyncio.sleep(min(poll_s, END_POLL_S) if _near_the_end(progress) else poll_s)

    return StreamingResponse(events(), media_type="text/event-stream", headers=HEADERS)
