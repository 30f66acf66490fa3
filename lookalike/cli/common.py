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


_services: dict[tuple, object] = {}


def services():
    """The service graph for the current settings, built once per process.

    Imported late to keep --help fast. Kept per settings so that commands run
    in one process (tests, the demo) share loaded models instead of reloading.
    """
    from lookalike.config import get_settings
    from lookalike.services import Services

    settings = get_settings()
    key = settings.model_dump_json()
    if key not in _services:
        _services[key] = Services(settings)
    return _services[key]
