"""Files written whole or not at all, and the sha256 of a file: one way for the whole package."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20


def sha256_file(path: Path | str, chunk: int = CHUNK) -> str:
    """Hex sha256 of a file, read in chunks (model files are gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def atomic_writer(path: Path | str, *, fsync: bool = False) -> Iterator[BinaryIO]:
    """A binary file that appears at ``path`` only if the block finishes.

    Writes go to a temporary file beside ``path`` (same filesystem, so the
    final rename is atomic); an exception inside the block, a failed check
    included, removes it and leaves ``path`` as it was. A reader therefore
    never sees half a file. ``fsync`` also survives a power cut, at a cost
    worth paying only for files that are expensive to make again.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path | str, data: bytes, *, fsync: bool = False) -> None:
    with atomic_writer(path, fsync=fsync) as fh:
        fh.write(data)


def write_folder_once(root: Path | str, is_current, write) -> Path:
    """``root``, written by ``write(staging_folder)`` unless ``is_current(root)`` already holds.

    Processes sharing the parent folder take turns under a lock file beside
    ``root`` (an API server and a worker starting together must not remove
    each other's fresh copy), and the folder is written aside and swapped in
    whole, so a process that dies half-way never leaves half a folder.
    """
    import fcntl
    import shutil

    root = Path(root)
    if is_current(root):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_current(root):
            return root
        staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
        try:
            write(staging)
            if root.exists():
                shutil.rmtree(root, ignore_errors=True)
            os.replace(staging, root)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return root
