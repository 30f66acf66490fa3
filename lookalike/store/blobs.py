"""Blob storage for crops and images: the interface, the local directory, and the choice by settings.

Keys are relative POSIX paths (``tunes/3/0/crop_112.png``). Every backend
writes a key whole or not at all, so a reader never sees half a file, and
``get`` of a missing key raises ``FileNotFoundError`` in every backend.
"""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol

from lookalike.fileio import atomic_write_bytes

if TYPE_CHECKING:
    from lookalike.config import Settings


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete_prefix(self, prefix: str) -> None:
        """Delete the key ``prefix`` and every key under ``prefix/``."""
        ...

    def list_prefixes(self, prefix: str) -> list[str]:
        """The names of the folders directly under ``prefix/``, sorted (``tunes`` -> ``["10000001", ...]``).

        A folder is any name with a key under it; keys directly under
        ``prefix/`` are not folders and are not listed.
        """
        ...

    def last_modified(self, prefix: str) -> float | None:
        """When the folder ``prefix`` last changed (Unix seconds): its newest key's modification time.

        None when there is no such folder. The orphan sweep (store/orphans.py)
        uses it to leave alone what a create in progress is writing.
        """
        ...


def check_key(key: str) -> PurePosixPath:
    pure = PurePosixPath(key)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or str(pure) != key.rstrip("/"):
        raise ValueError(f"Bad blob key {key!r}")
    return pure


class LocalBlobStore:
    """Files under one root directory: the default, for one machine."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).parts)

    def put(self, key: str, data: bytes) -> None:
        atomic_write_bytes(self._path(key), data)

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def local_path(self, key: str) -> Path:
        return self._path(key)

    def delete_prefix(self, prefix: str) -> None:
        path = self._path(prefix)
        if path.is_dir():
            # Another thread may be removing part of the same folder at once (a worker
            # dropping its attempt's files as the prompt is deleted): gone is what we want.
            shutil.rmtree(path, onerror=_ignore_missing)
        elif path.exists():
            path.unlink(missing_ok=True)

    def list_prefixes(self, prefix: str) -> list[str]:
        path = self._path(prefix)
        try:
            return sorted(entry.name for entry in path.iterdir() if entry.is_dir())
        except (FileNotFoundError, NotADirectoryError):
            return []

    def last_modified(self, prefix: str) -> float | None:
        path = self._path(prefix)
        if not path.is_dir():
            return None
        # Folders count too: a folder just made for a write in progress is new
        # before its first file is; so do temporary files of atomic writes.
        newest = None
        for entry in (path, *path.rglob("*")):
            try:
                mtime = entry.stat().st_mtime
            except FileNotFoundError:  # removed while we looked
                continue
            newest = mtime if newest is None else max(newest, mtime)
        return newest


def open_blob_store(settings: Settings) -> BlobStore:
    """The backend the settings name; boto3 is imported only for ``s3``."""
    if settings.blob_backend == "s3":
        from lookalike.store.blobs_s3 import S3BlobStore

        return S3BlobStore.from_settings(settings)
    return LocalBlobStore(settings.blob_dir)


def _ignore_missing(function, path, exc_info) -> None:
    # rmtree's onerror (onexc only exists from Python 3.12 on; we support 3.11).
    if not issubclass(exc_info[0], FileNotFoundError):
        raise exc_info[1]
