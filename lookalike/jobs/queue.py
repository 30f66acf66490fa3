"""The job queue is the prompts table: claim the oldest queued row, finish it, requeue after a crash.

Claiming is a conditional UPDATE (queued -> processing), so two workers on
one database never take the same prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from lookalike.jobs.engine import OutputImage, PromptSpec
from lookalike.jobs.prompts import FAILED, PROCESSING, QUEUED, SUCCEEDED, blob_prefix, image_row
from lookalike.store.blobs import LocalBlobStore
from lookalike.store.tables import PromptRow, utcnow


def spec_of(row: PromptRow) -> PromptSpec:
    options = row.options or {}
    on_tune = options.get("target") == "tune"
    return PromptSpec(
        account_id=row.account_id,
        tune_id=row.tune_id if on_tune else None,
        base_model=None if on_tune else row.base_model_id,
        text=row.text,
        negative_prompt=row.negative_prompt,
        options=dict(options.get("resolved", {})),
    )


@dataclass
class JobQueue:
    sessions: sessionmaker[Session]
    blobs: LocalBlobStore

    def claim_next(self) -> PromptRow | None:
        with self.sessions() as session:
            while True:
                prompt_id = session.scalar(
                    select(PromptRow.id).where(PromptRow.status == QUEUED).order_by(PromptRow.id).limit(1)
                )
                if prompt_id is None:
                    return None
                now = utcnow()
                claimed = session.execute(
                    update(PromptRow)
                    .where(PromptRow.id == prompt_id, PromptRow.status == QUEUED)
                    .values(status=PROCESSING, started_at=now, updated_at=now, attempts=PromptRow.attempts + 1)
                    .execution_options(synchronize_session=False)
                )
                session.commit()
                if claimed.rowcount == 1:
                    return session.get(PromptRow, prompt_id, populate_existing=True)

    def requeue_interrupted(self) -> int:
        """Prompts left 'processing' by a process that died go back in line (at start-up only)."""
        with self.sessions() as session:
            result = session.execute(
                update(PromptRow)
                .where(PromptRow.status == PROCESSING)
                .values(status=QUEUED, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            session.commit()
            return int(result.rowcount or 0)

    def depth(self) -> int:
        with self.sessions() as session:
            return int(session.scalar(select(func.count()).where(PromptRow.status == QUEUED)) or 0)

    def complete(self, prompt_id: int, images: list[OutputImage]) -> PromptRow | None:
        """Store the images and mark the prompt succeeded; None if it was deleted meanwhile."""
        rows = []
        for position, image in enumerate(images):
            row = image_row(
                prompt_id, position, seed=image.seed, width=image.width, height=image.height, score=image.identity_score
            )
            self.blobs.put(row.blob_key, image.png)
            rows.append(row)
        with self.sessions() as session:
            prompt = session.get(PromptRow, prompt_id, options=[selectinload(PromptRow.images)])
            if prompt is None:
                self.blobs.delete_prefix(blob_prefix(prompt_id))
                return None
            now = utcnow()
            prompt.images = rows
            prompt.status, prompt.error, prompt.trained_at, prompt.updated_at = SUCCEEDED, None, now, now
            session.commit()
            return prompt

    def fail(self, prompt_id: int, error: dict[str, Any]) -> PromptRow | None:
        with self.sessions() as session:
            prompt = session.get(PromptRow, prompt_id, options=[selectinload(PromptRow.images)])
            if prompt is None:
                return None
            now = utcnow()
            prompt.status, prompt.error, prompt.trained_at, prompt.updated_at = FAILED, error, now, now
            session.commit()
            return prompt
