"""Tune reads for the routes, straight from the rows, without building TuneService.

Why not TuneService: building it loads the face analyzer, so a GET during
warm-up would wait seconds for models it does not use. Proposed to the tunes
owner: a lazy analyzer in TuneService, ``TuneService.find_by_title`` and a
``before_id`` argument to ``TuneService.list``; then these move there.
Read-only, and shaped by the same ``tune_to_dict``.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from lookalike.store.tables import TuneRow
from lookalike.tunes.views import tune_to_dict

_FULL = (selectinload(TuneRow.photos), selectinload(TuneRow.identities))


def find_by_title(sessions: sessionmaker[Session], *, account_id: int, title: str) -> dict | None:
    with sessions() as session:
        row = session.scalar(
            select(TuneRow)
            .where(TuneRow.account_id == account_id, TuneRow.title == title.strip())
            .options(*_FULL)
            .order_by(TuneRow.id)
            .limit(1)
        )
        return None if row is None else tune_to_dict(row)


def list_page(
    sessions: sessionmaker[Session], *, account_id: int, limit: int, offset: int, before_id: int | None
) -> list[dict]:
    query = select(TuneRow).where(TuneRow.account_id == account_id)
    if before_id is not None:
        query = query.where(TuneRow.id < before_id)
    query = query.options(*_FULL).order_by(TuneRow.id.desc()).limit(limit).offset(offset)
    with sessions() as session:
        return [tune_to_dict(t) for t in session.scalars(query)]


def get_own(sessions: sessionmaker[Session], *, account_id: int, tune_id: int) -> dict | None:
    """The caller's tune as a dict, or None when it is missing or another account's."""
    with sessions() as session:
        row = session.get(TuneRow, tune_id, options=list(_FULL))
        if row is None or row.account_id != account_id:
            return None
        return tune_to_dict(row)
