"""The training queue is the ``tune_trainings`` table: claim a LoRA tune's training, keep its lease, finish it once.

As the prompt queue (jobs/queue.py), every change is a conditional UPDATE:
a claim moves a row from ``queued`` (or from ``training`` under a lapsed
lease, its worker lost) to ``training`` with ``attempts + 1``; everything
the holder writes after (progress, checkpoints, the result) is conditional
on ``training`` and that attempt, so a worker that lost its lease, or whose
tune was deleted, learns it at its next write and stops. That is how
``DELETE /tunes/{id}`` cancels a running training: the row goes with the
tune, and the trainer's next progress write (a few times a second) finds
nothing to update.

A tune is therefore trained by one attempt at a time and finished by exactly
one. Checkpoints are blobs under the tune's folder, one per attempt and step;
the row names the latest, and a superseded one is deleted once the new one is
named. Prompts waiting for a tune (status ``waiting``) are released here when
its training ends: queued when every LoRA they name is trained, failed when
one failed or was deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from lookalike.errors import TuneNotFoundError, TuneTrainingFailedError
from lookalike.jobs.prompts import FAILED as PROMPT_FAILED
from lookalike.jobs.prompts import QUEUED as PROMPT_QUEUED
from lookalike.jobs.prompts import WAITING
from lookalike.store.blobs import BlobStore
from lookalike.store.tables import PromptRow, TrainingRow, TuneRow, utcnow
from lookalike.tunes.service import TRAINING_FAILED, TRAINING_QUEUED, TRAINING_RUNNING, TRAINING_SUCCEEDED

log = logging.getLogger(__name__)

# What a claim found: the worker trains it, or there is nothing to do.
CLAIMED, FINISHED, GONE, BUSY = "claimed", "finished", "gone", "busy"


def training_prefix(tune_id: int) -> str:
    """Checkpoints and class images: removed when the training ends."""
    return f"tunes/{tune_id}/training"


def train_photos_prefix(tune_id: int) -> str:
    return f"tunes/{tune_id}/train"


def class_image_key(tune_id: int, index: int) -> str:
    return f"{training_prefix(tune_id)}/class-{index}.png"


@dataclass(frozen=True)
class TrainingClaim:
    outcome: str  # CLAIMED, FINISHED, GONE or BUSY
    tune_id: int
    attempt: int = 0
    plan: dict[str, Any] = field(default_factory=dict)
    account_id: int | None = None


@dataclass(frozen=True)
class FinishedTraining:
    """A training that ended (either way): whom to tell, and the prompts it released."""

    tune_id: int
    account_id: int | None
    callback: str | None
    succeeded: bool
    released: list[int]


def _lapsed(now: datetime):
    return or_(TrainingRow.lease_until.is_(None), TrainingRow.lease_until < now)


@dataclass
class TrainingQueue:
    sessions: sessionmaker[Session]
    blobs: BlobStore
    clock: Callable[[], datetime] = utcnow

    # -- claiming ---------------------------------------------------------------------------

    def claim_next(self, *, worker: str, lease_s: float) -> TrainingClaim | None:
        """The oldest training that is queued (or whose worker was lost), taken with a lease; None when none."""
        now = self.clock()
        with self.sessions() as session:
            candidates = list(
                session.scalars(
                    select(TrainingRow.tune_id)
                    .where(self._takeable(now))
                    .order_by(TrainingRow.status.desc(), TrainingRow.tune_id)  # "training" (lost) before "queued"
                    .limit(10)
                )
            )
        for tune_id in candidates:
            claim = self.claim(tune_id, worker=worker, lease_s=lease_s)
            if claim.outcome == CLAIMED:
                return claim
        return None

    def claim(self, tune_id: int, *, worker: str, lease_s: float) -> TrainingClaim:
        """Take the training if it is queued, or if the worker that had it let its lease lapse."""
        now = self.clock()
        with self.sessions() as session:
            taken = session.execute(
                update(TrainingRow)
                .where(TrainingRow.tune_id == tune_id, self._takeable(now))
                .values(
                    status=TRAINING_RUNNING,
                    attempts=TrainingRow.attempts + 1,
                    lease_until=now + timedelta(seconds=lease_s),
                    claimed_by=worker[:255],
                    started_at=func.coalesce(TrainingRow.started_at, now),
                    updated_at=now,
                    progress=None,
                )
                .execution_options(synchronize_session=False)
            )
            session.commit()
            row = session.get(TrainingRow, tune_id, populate_existing=True)
            if row is None:
                return TrainingClaim(GONE, tune_id)
            account_id = session.scalar(select(TuneRow.account_id).where(TuneRow.id == tune_id))
            outcome = CLAIMED if taken.rowcount == 1 else (
                FINISHED if row.status in (TRAINING_SUCCEEDED, TRAINING_FAILED) else BUSY
            )
            return TrainingClaim(outcome, tune_id, row.attempts, dict(row.plan or {}), account_id)

    def _takeable(self, now: datetime):
        return or_(
            TrainingRow.status == TRAINING_QUEUED,
            and_(TrainingRow.status == TRAINING_RUNNING, _lapsed(now)),
        )

    def renew(self, tune_id: int, *, attempt: int, lease_s: float) -> bool:
        """Extend this attempt's lease; False when another attempt took it, it ended, or the tune is gone."""
        return self._update_held(tune_id, attempt, lease_until=self.clock() + timedelta(seconds=lease_s))

    def release(self, tune_id: int, *, attempt: int) -> bool:
        """Give the training back (this process is stopping): queued again, to resume from its last checkpoint."""
        return self._update_held(tune_id, attempt, status=TRAINING_QUEUED, lease_until=None, progress=None)

    def requeue_interrupted(self) -> int:
        """Trainings left ``training`` by a process that died go back in line (in-process mode, at start only)."""
        with self.sessions() as session:
            result = session.execute(
                update(TrainingRow)
                .where(TrainingRow.status == TRAINING_RUNNING)
                .values(status=TRAINING_QUEUED, lease_until=None, progress=None, updated_at=self.clock())
                .execution_options(synchronize_session=False)
            )
            session.commit()
            return int(result.rowcount or 0)

    def depth(self) -> int:
        with self.sessions() as session:
            return int(session.scalar(select(func.count()).where(TrainingRow.status == TRAINING_QUEUED)) or 0)

    def _update_held(self, tune_id: int, attempt: int, **values: Any) -> bool:
        with self.sessions() as session:
            result = session.execute(
                update(TrainingRow)
                .where(
                    TrainingRow.tune_id == tune_id,
                    TrainingRow.status == TRAINING_RUNNING,
                    TrainingRow.attempts == attempt,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            session.commit()
            return result.rowcount == 1

    # -- while it trains -------------------------------------------------------------------------

    def write_progress(self, tune_id: int, progress: dict[str, Any], *, attempt: int) -> bool:
        """Store this attempt's progress; False when it no longer holds the training (cancelled or superseded)."""
        return self._update_held(tune_id, attempt, progress=progress)

    def load_checkpoint(self, tune_id: int) -> bytes | None:
        with self.sessions() as session:
            key = session.scalar(select(TrainingRow.checkpoint_key).where(TrainingRow.tune_id == tune_id))
        if not key:
            return None
        try:
            return self.blobs.get(key)
        except FileNotFoundError:
            log.warning("tune %s: its checkpoint %s is missing; training starts over", tune_id, key)
            return None

    def save_checkpoint(self, tune_id: int, *, attempt: int, step: int, data: bytes) -> bool:
        """Store a checkpoint and name it on the row; False (and the blob removed) when this attempt lost the training."""
        key = f"{training_prefix(tune_id)}/a{attempt}-step{step}.pt"
        self.blobs.put(key, data)
        with self.sessions() as session:
            previous = session.scalar(select(TrainingRow.checkpoint_key).where(TrainingRow.tune_id == tune_id))
        if not self._update_held(tune_id, attempt, checkpoint_key=key, checkpoint_step=step):
            self.blobs.delete_prefix(key)
            return False
        if previous and previous != key:
            self.blobs.delete_prefix(previous)
        return True

    def load_class_images(self, tune_id: int, count: int) -> list[bytes]:
        images = []
        for index in range(count):
            try:
                images.append(self.blobs.get(class_image_key(tune_id, index)))
            except FileNotFoundError:
                break
        return images

    def save_class_images(self, tune_id: int, images: list[bytes]) -> None:
        for index, data in enumerate(images):
            self.blobs.put(class_image_key(tune_id, index), data)

    # -- the end -------------------------------------------------------------------------------

    def complete(
        self, tune_id: int, *, attempt: int, lora: bytes, digest: str, keep_photos: bool = False
    ) -> FinishedTraining | None:
        """Store the LoRA and mark the tune trained; None (this attempt's file removed) when it lost the training."""
        key = f"tunes/{tune_id}/lora/{digest[:16]}.safetensors"
        self.blobs.put(key, lora)
        with self.sessions() as session:
            now = self.clock()
            won = session.execute(
                update(TrainingRow)
                .where(
                    TrainingRow.tune_id == tune_id,
                    TrainingRow.status == TRAINING_RUNNING,
                    TrainingRow.attempts == attempt,
                )
                .values(
                    status=TRAINING_SUCCEEDED,
                    lora_key=key,
                    lora_digest=digest,
                    finished_at=now,
                    updated_at=now,
                    lease_until=None,
                    progress=None,
                    error=None,
                    checkpoint_key=None,
                )
                .execution_options(synchronize_session=False)
            )
            if won.rowcount != 1:
                session.rollback()
                exists = session.get(TuneRow, tune_id) is not None
                # Deleted meanwhile: its folder goes (the orphan sweep would too); superseded: only our file.
                self.blobs.delete_prefix(key if exists else f"tunes/{tune_id}")
                return None
            session.execute(
                update(TuneRow).where(TuneRow.id == tune_id).values(trained_at=now, updated_at=now)
            )
            session.commit()
            finished = self._finished(session, tune_id, succeeded=True)
        self.blobs.delete_prefix(training_prefix(tune_id))
        if not keep_photos:
            self.blobs.delete_prefix(train_photos_prefix(tune_id))
        return finished

    def fail(self, tune_id: int, *, attempt: int, error: dict[str, Any]) -> FinishedTraining | None:
        """Mark the training failed (the tune stays, with the error); None when this attempt no longer held it."""
        now = self.clock()
        if not self._update_held(
            tune_id, attempt, status=TRAINING_FAILED, error=error, finished_at=now, updated_at=now, lease_until=None, progress=None
        ):
            return None
        with self.sessions() as session:
            finished = self._finished(session, tune_id, succeeded=False)
        self.blobs.delete_prefix(training_prefix(tune_id))
        return finished

    def _finished(self, session: Session, tune_id: int, *, succeeded: bool) -> FinishedTraining:
        account_id, callback = session.execute(
            select(TuneRow.account_id, TrainingRow.callback)
            .join(TrainingRow, TrainingRow.tune_id == TuneRow.id)
            .where(TuneRow.id == tune_id)
        ).one()
        released = self.release_waiting(account_id) if account_id is not None else []
        return FinishedTraining(tune_id, account_id, callback, succeeded, released)

    def release_waiting(self, account_id: int) -> list[int]:
        """Move the account's waiting prompts on: queued once every LoRA tune they name is trained; failed
        (with the reason) once one failed or is gone. The ids that moved to queued."""
        now = self.clock()
        queued: list[int] = []
        with self.sessions() as session:
            rows = list(
                session.execute(
                    select(PromptRow.id, PromptRow.options).where(
                        PromptRow.status == WAITING, PromptRow.account_id == account_id
                    )
                )
            )
            for prompt_id, options in rows:
                waits = [int(t) for t in (options or {}).get("waits_for", [])]
                found = dict(
                    session.execute(
                        select(TrainingRow.tune_id, TrainingRow.status).where(TrainingRow.tune_id.in_(waits))
                    ).all()
                ) if waits else {}
                gone = [t for t in waits if t not in found]
                failed = [t for t in waits if found.get(t) == TRAINING_FAILED]
                if gone or failed:
                    tune = (gone or failed)[0]
                    error = (
                        TuneNotFoundError(
                            f"Tune {tune} was deleted before its training finished.", details={"tune_id": tune}
                        )
                        if gone
                        else TuneTrainingFailedError(
                            f"Tune {tune}'s training failed, so its LoRA cannot be loaded.", details={"tune_id": tune}
                        )
                    ).to_dict()
                    values: dict[str, Any] = {"status": PROMPT_FAILED, "error": error, "trained_at": now, "updated_at": now}
                elif all(found.get(t) == TRAINING_SUCCEEDED for t in waits):
                    values = {"status": PROMPT_QUEUED, "updated_at": now}
                else:
                    continue
                moved = session.execute(
                    update(PromptRow)
                    .where(PromptRow.id == prompt_id, PromptRow.status == WAITING)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
                if moved.rowcount == 1 and values["status"] == PROMPT_QUEUED:
                    queued.append(prompt_id)
            session.commit()
        return queued

    # -- Celery mode: hand trainings to the broker's train queue ------------------------------------

    def due_for_publishing(self, *, republish_after_s: float, limit: int = 100) -> list[int]:
        """Trainings to hand to the broker now, each marked published so other API servers skip it.

        As prompts: queued and never published, queued and published long
        ago, or training under a lapsed lease not published since (its worker died).
        """
        now = self.clock()
        due = or_(
            and_(
                TrainingRow.status == TRAINING_QUEUED,
                or_(
                    TrainingRow.published_at.is_(None),
                    TrainingRow.published_at < now - timedelta(seconds=republish_after_s),
                ),
            ),
            and_(
                TrainingRow.status == TRAINING_RUNNING,
                _lapsed(now),
                or_(
                    TrainingRow.published_at.is_(None),
                    TrainingRow.lease_until.is_(None),
                    TrainingRow.published_at < TrainingRow.lease_until,
                ),
            ),
        )
        taken: list[int] = []
        with self.sessions() as session:
            ids = list(session.scalars(select(TrainingRow.tune_id).where(due).order_by(TrainingRow.tune_id).limit(limit)))
            for tune_id in ids:
                result = session.execute(
                    update(TrainingRow)
                    .where(TrainingRow.tune_id == tune_id, due)
                    .values(published_at=now)
                    .execution_options(synchronize_session=False)
                )
                session.commit()
                if result.rowcount == 1:
                    taken.append(tune_id)
        return taken

    def mark_published(self, tune_id: int, when: datetime | None) -> None:
        with self.sessions() as session:
            session.execute(
                update(TrainingRow)
                .where(TrainingRow.tune_id == tune_id)
                .values(published_at=when)
                .execution_options(synchronize_session=False)
            )
            session.commit()
