"""The job queue is the prompts table: claim a row, finish it once, requeue after a crash.

Claiming is a conditional UPDATE (queued -> processing), so two workers on
one database never take the same prompt. Workers in other processes (Celery)
also hold a lease on their prompt: a worker that dies stops renewing it, and
once it lapses the prompt may be claimed again by the next delivery.

Finishing is first-wins: ``complete`` and ``fail`` change the row only while
it is still ``processing``, in the same transaction that adds its images.
Images of each attempt go under their own keys, so a slower duplicate run
(a lease taken over from a worker that was only slow) never overwrites the
winner's files, and its own are deleted. The visible result is therefore
exactly one run's, whatever the broker delivered twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from lookalike.execution.input_image import InputImageRef
from lookalike.jobs.engine import OutputImage, PromptSpec
from lookalike.jobs.prompts import FAILED, PROCESSING, QUEUED, SUCCEEDED, blob_prefix, image_row
from lookalike.store.blobs import BlobStore
from lookalike.store.orphans import chunks, numbered_folders, remove_stale
from lookalike.store.tables import PromptImageRow, PromptRow, utcnow

# What a claim by id found: the worker runs it, or there is nothing to do.
CLAIMED, FINISHED, GONE, BUSY = "claimed", "finished", "gone", "busy"


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
        # Read again from the blob store by whichever worker runs it (after a restart, on another machine).
        input_image=InputImageRef.from_record(options.get("input_image")),
    )


def _lapsed(now: datetime):
    """A claim nobody holds any more: its lease ran out, or it has none (left by
    an in-process worker that died before the switch to Celery mode)."""
    return or_(PromptRow.lease_until.is_(None), PromptRow.lease_until < now)


def attempt_prefix(prompt_id: int, attempt: int) -> str:
    return f"{blob_prefix(prompt_id)}/a{attempt}"


@dataclass(frozen=True)
class Claim:
    outcome: str  # CLAIMED, FINISHED, GONE or BUSY
    row: PromptRow | None = None
    attempt: int = 0


@dataclass
class JobQueue:
    sessions: sessionmaker[Session]
    blobs: BlobStore
    # Every "now" of the queue (claims, leases, sweeps, finishing) comes from
    # here, so lease tests move a fake clock instead of sleeping.
    clock: Callable[[], datetime] = utcnow

    # -- the in-process worker ----------------------------------------------------

    def claim_next(self) -> PromptRow | None:
        with self.sessions() as session:
            while True:
                prompt_id = session.scalar(
                    select(PromptRow.id).where(PromptRow.status == QUEUED).order_by(PromptRow.id).limit(1)
                )
                if prompt_id is None:
                    return None
                if self.take_queued(session, prompt_id):
                    return session.get(PromptRow, prompt_id, populate_existing=True)

    def take_queued(self, session: Session, prompt_id: int) -> bool:
        """Move one prompt from queued to processing, committed; False when another worker took it first.

        The in-process worker's only claim (the first prompt and its batch
        companions alike): conditional on the row still being queued, so two
        workers on one database never both take it.
        """
        now = self.clock()
        taken = session.execute(
            update(PromptRow)
            .where(PromptRow.id == prompt_id, PromptRow.status == QUEUED)
            .values(status=PROCESSING, started_at=now, updated_at=now, attempts=PromptRow.attempts + 1, progress=None)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        return taken.rowcount == 1

    def requeue_interrupted(self) -> int:
        """Prompts left 'processing' by a process that died go back in line (in-process mode, at start only)."""
        with self.sessions() as session:
            result = session.execute(
                update(PromptRow)
                .where(PromptRow.status == PROCESSING)
                .values(status=QUEUED, updated_at=self.clock(), progress=None)
                .execution_options(synchronize_session=False)
            )
            session.commit()
            return int(result.rowcount or 0)

    def depth(self) -> int:
        with self.sessions() as session:
            return int(session.scalar(select(func.count()).where(PromptRow.status == QUEUED)) or 0)

    def queued_ids(self, limit: int = 20) -> list[int]:
        """The oldest queued prompts' ids: what a Celery worker runs between two training steps (claimed by id)."""
        with self.sessions() as session:
            return list(
                session.scalars(select(PromptRow.id).where(PromptRow.status == QUEUED).order_by(PromptRow.id).limit(limit))
            )

    # -- workers in other processes (Celery): claim by id with a lease ------------

    def claim(self, prompt_id: int, *, worker: str, lease_s: float) -> Claim:
        """Take the prompt if it is queued, or if the worker that had it let its lease lapse."""
        now = self.clock()
        with self.sessions() as session:
            taken = session.execute(
                update(PromptRow)
                .where(
                    PromptRow.id == prompt_id,
                    or_(PromptRow.status == QUEUED, and_(PromptRow.status == PROCESSING, _lapsed(now))),
                )
                .values(
                    status=PROCESSING,
                    started_at=now,
                    updated_at=now,
                    attempts=PromptRow.attempts + 1,
                    lease_until=now + timedelta(seconds=lease_s),
                    claimed_by=worker[:255],
                    progress=None,
                )
                .execution_options(synchronize_session=False)
            )
            session.commit()
            row = session.get(PromptRow, prompt_id, populate_existing=True)
            if row is None:
                return Claim(GONE)
            if taken.rowcount == 1:
                return Claim(CLAIMED, row, row.attempts)
            return Claim(FINISHED if row.status in (SUCCEEDED, FAILED) else BUSY, row, row.attempts)

    def renew(self, prompt_id: int, *, attempt: int, lease_s: float) -> bool:
        """Extend this attempt's lease; False when another attempt took the prompt or it finished."""
        now = self.clock()
        with self.sessions() as session:
            result = session.execute(
                update(PromptRow)
                .where(PromptRow.id == prompt_id, PromptRow.status == PROCESSING, PromptRow.attempts == attempt)
                .values(lease_until=now + timedelta(seconds=lease_s))
                .execution_options(synchronize_session=False)
            )
            session.commit()
            return result.rowcount == 1

    def due_for_publishing(self, *, republish_after_s: float, limit: int = 500) -> list[int]:
        """Ids to hand to the broker now, each marked published so other API servers skip it.

        Due: queued and never published (the broker was down at POST);
        queued and published long ago (the broker may have lost it); and
        processing under a lapsed lease not published since (its worker died).
        """
        now = self.clock()
        due = or_(
            and_(
                PromptRow.status == QUEUED,
                or_(PromptRow.published_at.is_(None), PromptRow.published_at < now - timedelta(seconds=republish_after_s)),
            ),
            and_(
                PromptRow.status == PROCESSING,
                _lapsed(now),
                or_(
                    PromptRow.published_at.is_(None),
                    PromptRow.lease_until.is_(None),
                    PromptRow.published_at < PromptRow.lease_until,
                ),
            ),
        )
        taken: list[int] = []
        with self.sessions() as session:
            ids = list(session.scalars(select(PromptRow.id).where(due).order_by(PromptRow.id).limit(limit)))
            for prompt_id in ids:
                # Conditional, so two API servers sweeping at once publish it once.
                result = session.execute(
                    update(PromptRow)
                    .where(PromptRow.id == prompt_id, due)
                    .values(published_at=now)
                    .execution_options(synchronize_session=False)
                )
                session.commit()
                if result.rowcount == 1:
                    taken.append(prompt_id)
        return taken

    def mark_published(self, prompt_id: int, when: datetime | None) -> None:
        """Record a hand-over to the broker (None: it failed, publish again at the next sweep)."""
        with self.sessions() as session:
            session.execute(
                update(PromptRow)
                .where(PromptRow.id == prompt_id)
                .values(published_at=when)
                .execution_options(synchronize_session=False)
            )
            session.commit()

    # -- live progress (both modes; jobs/progress.py) ---------------------------------

    def write_progress(self, prompt_id: int, progress: dict[str, Any], *, attempt: int | None = None) -> bool:
        """Store a running prompt's progress; False when it is no longer running (finished, deleted, taken over).

        Conditional on ``processing`` (and on this attempt, for lease
        holders), so a late write never brings progress back to a finished
        prompt. ``updated_at`` is the prompt's, not the progress's: it stays.
        """
        conditions = [PromptRow.id == prompt_id, PromptRow.status == PROCESSING]
        if attempt is not None:
            conditions.append(PromptRow.attempts == attempt)
        with self.sessions() as session:
            result = session.execute(
                update(PromptRow)
                .where(*conditions)
                .values(progress=progress, updated_at=PromptRow.updated_at)
                .execution_options(synchronize_session=False)
            )
            session.commit()
            return result.rowcount == 1

    # -- finishing (both modes) -----------------------------------------------------

    def complete(self, prompt_id: int, images: list[OutputImage], *, attempt: int | None = None) -> PromptRow | None:
        """Store the images and mark the prompt succeeded.

        None when the prompt was deleted meanwhile or another attempt finished
        it first; this attempt's files are then removed.
        """
        if attempt is None:
            attempt = self._attempts(prompt_id)
        prefix = attempt_prefix(prompt_id, attempt)
        rows = []
        for position, image in enumerate(images):
            row = image_row(
                prompt_id,
                position,
                seed=image.seed,
                width=image.width,
                height=image.height,
                score=image.identity_score,
                postprocess=image.postprocess,
                identity_scores=getattr(image, "identity_scores", None),
            )
            row.blob_key = f"{prefix}/{position}.png"
            self.blobs.put(row.blob_key, image.png)
            rows.append(row)
        with self.sessions() as session:
            now = self.clock()
            won = session.execute(
                update(PromptRow)
                .where(PromptRow.id == prompt_id, PromptRow.status == PROCESSING)
                .values(status=SUCCEEDED, error=None, trained_at=now, updated_at=now, lease_until=None, progress=None)
                .execution_options(synchronize_session=False)
            )
            if won.rowcount != 1:
                session.rollback()
                exists = session.get(PromptRow, prompt_id) is not None
                # Deleted while it ran: all its files go; finished by another attempt: only ours.
                self.blobs.delete_prefix(prefix if exists else blob_prefix(prompt_id))
                return None
            for row in rows:
                row.prompt_id = prompt_id
                session.add(row)
            session.commit()
            return session.get(PromptRow, prompt_id, options=[selectinload(PromptRow.images)], populate_existing=True)

    def fail(self, prompt_id: int, error: dict[str, Any]) -> PromptRow | None:
        """Mark the prompt failed, unless it was deleted or another attempt finished it first."""
        with self.sessions() as session:
            now = self.clock()
            result = session.execute(
                update(PromptRow)
                .where(PromptRow.id == prompt_id, PromptRow.status == PROCESSING)
                .values(status=FAILED, error=error, trained_at=now, updated_at=now, lease_until=None, progress=None)
                .execution_options(synchronize_session=False)
            )
            session.commit()
            if result.rowcount != 1:
                return None
            return session.get(PromptRow, prompt_id, options=[selectinload(PromptRow.images)], populate_existing=True)

    # -- files a killed process left behind ---------------------------------------------

    def sweep_orphan_blobs(self, *, grace_s: float) -> list[str]:
        """Remove prompt image folders that no row claims; the folders removed.

        Two ways a killed process leaves them: ``prompts/{id}`` of a prompt
        whose row was deleted but not yet its files (PromptStore.delete), and
        ``prompts/{id}/a{n}`` of an attempt killed after writing its images
        but before ``complete`` committed; the prompt then runs again as
        attempt n+1, so no image row will ever name attempt n's folder. Only
        prompts that ran more than once can have the second kind. Kept:
        folders changed within ``grace_s`` (a run finishing elsewhere), the
        running attempt's folder, and prompt ids from the newest row's on (a
        database that never had them must not empty the store).
        """
        folders = numbered_folders(self.blobs, "prompts")
        if not folders:
            return []
        ids = sorted(folders)
        rows: dict[int, tuple[str, int]] = {}
        keys: dict[int, set[str]] = {}
        with self.sessions() as session:
            newest = session.scalar(select(func.max(PromptRow.id)))
            if newest is None:
                return []
            for chunk in chunks(ids):
                found = session.execute(
                    select(PromptRow.id, PromptRow.status, PromptRow.attempts).where(PromptRow.id.in_(chunk))
                )
                rows.update((prompt_id, (status, attempts)) for prompt_id, status, attempts in found)
            retried = sorted(prompt_id for prompt_id, (_, attempts) in rows.items() if attempts >= 2)
            for chunk in chunks(retried):
                found = session.execute(
                    select(PromptImageRow.prompt_id, PromptImageRow.blob_key).where(PromptImageRow.prompt_id.in_(chunk))
                )
                for prompt_id, key in found:
                    keys.setdefault(prompt_id, set()).add(key)
        unclaimed = [folders[i] for i in ids if i < newest and i not in rows]
        for prompt_id in retried:
            status, attempts = rows[prompt_id]
            kept = {key.split("/")[2] for key in keys.get(prompt_id, ()) if key.count("/") >= 3}
            if status == PROCESSING:
                kept.add(f"a{attempts}")  # the running attempt may be writing right now
            for name in self.blobs.list_prefixes(blob_prefix(prompt_id)):
                if name.startswith("a") and name[1:].isascii() and name[1:].isdigit() and name not in kept:
                    unclaimed.append(f"{blob_prefix(prompt_id)}/{name}")
        return remove_stale(self.blobs, unclaimed, grace_s=grace_s)

    def _attempts(self, prompt_id: int) -> int:
        with self.sessions() as session:
            return int(session.scalar(select(PromptRow.attempts).where(PromptRow.id == prompt_id)) or 0)
