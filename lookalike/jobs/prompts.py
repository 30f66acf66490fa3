"""Prompt rows and their images, per account: the only writer of prompt rows outside the queue."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, selectinload, sessionmaker

from lookalike.errors import PromptNotFoundError
from lookalike.store.blobs import BlobStore
from lookalike.store.tables import PromptImageRow, PromptRow, utcnow

QUEUED, PROCESSING, SUCCEEDED, FAILED = "queued", "processing", "succeeded", "failed"
# Names a LoRA tune still training: queued once it is trained (jobs/trainings.py), failed if its training fails.
WAITING = "waiting"
STATUSES = (WAITING, QUEUED, PROCESSING, SUCCEEDED, FAILED)


@dataclass(frozen=True)
class NewPrompt:
    account_id: int
    tune_id: int
    base_model_id: str | None
    text: str
    negative_prompt: str
    options: dict[str, Any]
    callback: str | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    # img2img / ControlNet: the input image's bytes as received and its file extension.
    input_image: tuple[bytes, str] | None = None
    # QUEUED, or WAITING for the LoRA tunes it names to finish training.
    status: str = QUEUED


def blob_prefix(prompt_id: int) -> str:
    return f"prompts/{prompt_id}"


def input_image_key(prompt_id: int, extension: str) -> str:
    """Beside the prompt's images, so it goes with them (delete, orphan sweep); not an ``a{n}`` attempt folder."""
    return f"{blob_prefix(prompt_id)}/input.{extension}"


@dataclass
class PromptStore:
    sessions: sessionmaker[Session]
    blobs: BlobStore

    def create(self, new: NewPrompt) -> tuple[PromptRow, bool]:
        """Persist a queued prompt; returns (row, created). A reused Idempotency-Key returns the first row."""
        now = utcnow()
        row = PromptRow(
            account_id=new.account_id,
            tune_id=new.tune_id,
            base_model_id=new.base_model_id,
            text=new.text,
            negative_prompt=new.negative_prompt,
            options=new.options,
            status=new.status,
            callback=new.callback,
            idempotency_key=new.idempotency_key,
            request_hash=new.request_hash,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        with self.sessions() as session:
            session.add(row)
            written: list[int] = []
            try:
                if new.input_image is not None:
                    written.append(self._store_input(session, row, *new.input_image))
                session.commit()
            except IntegrityError:
                # Two requests with one Idempotency-Key raced; the first one won.
                session.rollback()
                for prompt_id in written:
                    self.blobs.delete_prefix(blob_prefix(prompt_id))
                existing = self.find_by_idempotency_key(new.account_id, new.idempotency_key or "")
                if existing is None:
                    raise
                return existing, False
            except BaseException:
                session.rollback()
                for prompt_id in written:
                    self.blobs.delete_prefix(blob_prefix(prompt_id))
                raise
            row.images = []
            return row, True

    def _store_input(self, session: Session, row: PromptRow, data: bytes, extension: str) -> int:
        """Write the input image under the row's id before the commit that makes the row visible to workers.

        The flush takes the id (a duplicate Idempotency-Key fails here, before
        any file is written). A process killed between the file and the commit
        leaves a folder no row claims, which the orphan sweep removes.
        """
        session.flush()
        prompt_id = row.id
        # Only a create that never committed can have left files here (SQLite
        # hands out a rolled-back insert's id again): start from a clean folder.
        self.blobs.delete_prefix(blob_prefix(prompt_id))
        key = input_image_key(prompt_id, extension)
        self.blobs.put(key, data)
        row.options = {**row.options, "input_image": {**row.options.get("input_image", {}), "key": key}}
        return prompt_id

    def find_by_idempotency_key(self, account_id: int, key: str) -> PromptRow | None:
        with self.sessions() as session:
            return session.scalar(
                _with_images(select(PromptRow)).where(
                    PromptRow.account_id == account_id, PromptRow.idempotency_key == key
                )
            )

    def get(self, prompt_id: int, *, account_id: int, tune_id: int | None = None) -> PromptRow:
        with self.sessions() as session:
            row = session.get(PromptRow, prompt_id, options=[selectinload(PromptRow.images)])
            # Another account's prompt reads exactly like a missing one.
            if row is None or row.account_id != account_id or (tune_id is not None and row.tune_id != tune_id):
                raise PromptNotFoundError(f"There is no prompt {prompt_id}.", details={"prompt_id": prompt_id})
            return row

    def find(self, prompt_id: int) -> PromptRow | None:
        """The prompt with its images, whoever owns it: for callers already checked (a signed link, an open stream)."""
        with self.sessions() as session:
            return session.get(PromptRow, prompt_id, options=[selectinload(PromptRow.images)])

    def watch(self, prompt_id: int) -> tuple[PromptRow | None, int | None]:
        """The prompt without its images, and its place in line while queued: one cheap read for an events stream."""
        with self.sessions() as session:
            row = session.get(PromptRow, prompt_id)
            if row is None or row.status != QUEUED:
                return row, None
            ahead = session.scalar(
                select(func.count()).where(PromptRow.status == QUEUED, PromptRow.id < prompt_id)
            )
            return row, int(ahead or 0) + 1

    def queue_positions(self, rows: Iterable[PromptRow]) -> dict[int, int]:
        """Each queued row's place in line (1: next), computed now: queued prompts with a smaller id, plus one.

        One query for the page, whatever its length; rows not queued (as read) are left out. A row
        a worker takes meanwhile still gets its place (the prompts ahead of it), so a prompt shown
        as queued always shows one.
        """
        ids = [row.id for row in rows if row.status == QUEUED]
        if not ids:
            return {}
        ahead = aliased(PromptRow)
        count = (
            select(func.count())
            .where(ahead.status == QUEUED, ahead.id < PromptRow.id)
            .correlate(PromptRow)
            .scalar_subquery()
        )
        with self.sessions() as session:
            found = session.execute(select(PromptRow.id, count).where(PromptRow.id.in_(ids)))
            return {prompt_id: int(before) + 1 for prompt_id, before in found}

    def list(
        self,
        *,
        account_id: int,
        tune_id: int | None = None,
        limit: int = 20,
        offset: int = 0,
        before_id: int | None = None,
    ) -> list[PromptRow]:
        query = _with_images(select(PromptRow)).where(PromptRow.account_id == account_id)
        if tune_id is not None:
            query = query.where(PromptRow.tune_id == tune_id)
        if before_id is not None:
            query = query.where(PromptRow.id < before_id)
        query = query.order_by(PromptRow.id.desc()).limit(limit).offset(offset)
        with self.sessions() as session:
            return list(session.scalars(query))

    def delete(self, prompt_id: int, *, account_id: int) -> None:
        with self.sessions() as session:
            row = session.get(PromptRow, prompt_id)
            if row is None or row.account_id != account_id:
                raise PromptNotFoundError(f"There is no prompt {prompt_id}.", details={"prompt_id": prompt_id})
            session.delete(row)
            session.commit()
        # Rows first: a crash between the two leaves orphan files, never rows
        # pointing at missing files. A prompt deleted while it runs is
        # cleaned up by the queue when the run ends.
        self.blobs.delete_prefix(blob_prefix(prompt_id))

    def image(self, prompt_id: int, position: int, *, account_id: int | None) -> bytes:
        """One image's PNG; ``account_id=None`` only for a link the server signed (no owner check)."""
        if account_id is None:
            with self.sessions() as session:
                row = session.get(PromptRow, prompt_id, options=[selectinload(PromptRow.images)])
            if row is None:
                raise PromptNotFoundError(f"There is no prompt {prompt_id}.", details={"prompt_id": prompt_id})
        else:
            row = self.get(prompt_id, account_id=account_id)
        for image in row.images:
            if image.position == position:
                return self.blobs.get(image.blob_key)
        raise PromptNotFoundError(
            f"Prompt {prompt_id} has no image {position}.", details={"prompt_id": prompt_id, "image": position}
        )


def _with_images(query):
    return query.options(selectinload(PromptRow.images))


def image_row(
    prompt_id: int,
    position: int,
    *,
    seed: int,
    width: int,
    height: int,
    score: float | None,
    postprocess: str | None = None,
    identity_scores: list[dict] | None = None,
) -> PromptImageRow:
    return PromptImageRow(
        postprocess=postprocess,
        identity_scores=identity_scores,
        position=position,
        blob_key=f"{blob_prefix(prompt_id)}/{position}.png",
        seed=seed,
        width=width,
        height=height,
        identity_score=score,
    )
