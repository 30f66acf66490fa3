"""Small helpers shared by the commands."""

from __future__ import annotations

from pathlib import Path

from lookalike.errors import FileUnreadableError


def read_file(path: Path, *, image_index: int | None = None) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise FileUnreadableError(f"No such file: {path}", image_index=image_index) from exc
    except IsADirectoryError as exc:
        raise FileUnreadableError(f"{path} is a directory, not a photo.", image_index=image_index) from exc
    except PermissionError as exc:
        raise FileUnreadableError(f"Permission denied reading {path}.", image_index=image_index) from exc


def services():
    """Build the service graph for this process (imported late to keep --help fast)."""
    from lookalike.config import get_settings
    from lookalike.services import Services

    return Services(get_settings())
