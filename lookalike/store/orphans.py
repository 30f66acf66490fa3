"""Blob folders that no row points at, left by a process killed at the wrong moment, and their removal.

Rows are the truth and files follow them: a tune's crops and a prompt's
images are written before the commit that adds their rows, and deleted
after the commit that removes them. A process killed between the two
(``kill -9``, a crash, a power cut) leaves files that no row names, and as
ids are not handed out again, nothing would ever remove them. The owners
(``TuneService``, ``JobQueue``) say which folders no row claims; this module
lists folders and removes the unclaimed ones that nobody is still writing.

"Nobody is still writing" is judged by time: a folder whose newest file is
younger than the grace period (``LOOKALIKE_BLOB_SWEEP_GRACE_S``) may belong to
a create in progress in another process, whose rows are not committed yet,
and is kept. Blobs are written only in the last moments before the commit,
so an hour is far more than any create needs, and more than the clock skew
between an S3 server and its clients.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence

from lookalike.store.blobs import BlobStore

# Ids per ``IN (...)`` query: under SQLite's oldest limit of 999 parameters.
CHUNK = 500


def numbered_folders(blobs: BlobStore, parent: str) -> dict[int, str]:
    """The folders ``parent/{id}`` by id; names that are not plain numbers are not ours and are left out."""
    return {int(name): f"{parent}/{name}" for name in blobs.list_prefixes(parent) if name.isascii() and name.isdigit()}


def chunks(ids: Sequence[int], size: int = CHUNK) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def remove_stale(blobs: BlobStore, folders: Iterable[str], *, grace_s: float, now: float | None = None) -> list[str]:
    """Delete each folder (no row claims it) whose newest file is older than ``grace_s``; the ones removed."""
    now = time.time() if now is None else now
    removed = []
    for folder in folders:
        changed = blobs.last_modified(folder)
        if changed is not None and changed > now - grace_s:
            continue  # perhaps a create in progress elsewhere: its rows may not be committed yet
        blobs.delete_prefix(folder)
        removed.append(folder)
    return removed
