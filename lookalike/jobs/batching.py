"""The in-process worker's batches: queued prompts that can share one generation call.

A GPU makes 8 images in one call for little more than the price of one, so
when the worker takes a prompt it also takes queued prompts that would run
with the same settings (base model, size, steps, scheduler, guidance and
the other resolved options; seed, image count, text and identity may
differ), up to the engine's ``batch_limit`` images. The engine still checks
compatibility itself and splits what does not fit one call, so this key
only has to be a good guess.

Order: compatible prompts from a little further down the queue (at most
``WINDOW`` rows) are taken ahead of incompatible ones in between. That
delays those by at most one batch, and only while the batch runs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from lookalike.jobs.prompts import QUEUED
from lookalike.jobs.queue import JobQueue
from lookalike.store.tables import PromptRow

WINDOW = 64  # queued rows looked at for companions of the first one
_PER_IMAGE = ("seed", "num_images")  # resolved options that may differ inside one call


def batch_key(row: PromptRow) -> tuple[Any, ...]:
    resolved = dict((row.options or {}).get("resolved", {}))
    shared = tuple(sorted((k, repr(v)) for k, v in resolved.items() if k not in _PER_IMAGE))
    return (row.base_model_id, shared)


def image_count(row: PromptRow) -> int:
    return int(dict((row.options or {}).get("resolved", {})).get("num_images", 1) or 1)


def claim_compatible(queue: JobQueue, first: PromptRow, limit_images: int) -> list[PromptRow]:
    """Claim queued prompts compatible with ``first`` (already claimed), up to ``limit_images`` with its own.

    Each claim is ``JobQueue.take_queued``, the one ``claim_next`` makes, so
    a prompt another worker took meanwhile is skipped, never run twice.
    """
    room = limit_images - image_count(first)
    if room <= 0:
        return []
    key = batch_key(first)
    taken: list[int] = []
    with queue.sessions() as session:
        candidates = session.scalars(
            select(PromptRow).where(PromptRow.status == QUEUED, PromptRow.id > first.id).order_by(PromptRow.id).limit(WINDOW)
        ).all()
        for row in candidates:
            count = image_count(row)
            if count > room or batch_key(row) != key:
                continue
            if queue.take_queued(session, row.id):
                taken.append(row.id)
                room -= count
            if room <= 0:
                break
        return [session.get(PromptRow, prompt_id, populate_existing=True) for prompt_id in taken]


def engine_batch_limit(engine) -> int:
    """Images per call the engine takes; 1 (no batching) for engines that cannot batch."""
    if not hasattr(engine, "run_many") or not hasattr(engine, "batch_limit"):
        return 1
    return max(1, int(engine.batch_limit()))
