"""Blob storage for crops and images: the interface, the local directory, and the choice by settings.

Keys are relative POSIX paths (``tunes/3/0/crop_112.png``). Every backend
writes a key whole or not at all, so a reader never sees half a file, and
``get`` of a missing key raises ``FileNotFoundError`` in every backend.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from lookalike.config import Settings


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete_prefix(self, prefix: str) -> None:
        """Delete the key ``prefix`` and every key under ``prefix/``."""
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
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def local_path(self, key: str) -> Path:
        return self._path(key)

    def delete_prefix(self, prefix: str) -> None:
        path = self._path(prefix)
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def open_blob_store(settings: Settings) -> BlobStore:
    """The backend the settings name; boto3 is imported only for ``s3``."""
    if settings.blob_backend == "s3":
        from lookalike.store.blobs_s3 import S3BlobStore

        return S3BlobStore.from_settings(settings)
    return LocalBlobStore(settings.blob_dir)
