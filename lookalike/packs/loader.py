"""Reading pack files: the built-in packs shipped in the package, then the operator's directory.

Every ``*.json`` file is one pack (``definitions.Pack``). A file that is not
valid JSON, breaks a rule or reuses another pack's id or slug stops the load
with ``PackDefinitionError`` naming the file and the field, so a server with
a bad pack file does not start rather than serve without it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from pydantic import ValidationError

from lookalike.errors import LookalikeError, NotFoundError
from lookalike.packs.definitions import Pack, PackFieldError

BUILTIN_PACKAGE = "lookalike.packs"
BUILTIN_FOLDER = "builtin"
# Built-in files carry their own dates; this only fills a missing one.
_BUILTIN_TIME = datetime(2025, 1, 1, tzinfo=UTC)


class PackDefinitionError(LookalikeError):
    """A pack file that cannot be used; ``field`` names what is wrong, ``details.file`` where."""

    code = "invalid_pack"
    default_hint = "Fix the pack file (docs/API.md, Packs, shows the format) and start the server again."


class PackNotFoundError(NotFoundError):
    code = "pack_not_found"


@dataclass(frozen=True)
class PackCatalog:
    """The server's packs, by id; read once at start."""

    packs: tuple[Pack, ...]

    def list(self, *, public: bool = False, listed: bool = False) -> list[Pack]:
        """Every pack, by id; ``public``/``listed`` keep only those (Astria's ``public=true``, ``listed=true``)."""
        return [
            pack for pack in self.packs if (pack.public or not public) and (pack.listed or not listed)
        ]

    def get(self, pack_id: int) -> Pack:
        for pack in self.packs:
            if pack.id == pack_id:
                return pack
        raise PackNotFoundError(f"There is no pack {pack_id}.", hint="GET /packs lists them.", details={"pack_id": pack_id})


def load_catalog(packs_dir: Path | None, *, required: bool = False) -> PackCatalog:
    """The built-in packs, then every ``*.json`` in ``packs_dir`` (sorted by name).

    A missing ``packs_dir`` adds nothing, unless ``required`` (the operator
    named it) makes that an error too.
    """
    packs = [load_pack(entry, f"{BUILTIN_FOLDER}/{entry.name}", _BUILTIN_TIME) for entry in builtin_files()]
    if packs_dir is not None:
        if packs_dir.is_dir():
            for path in sorted(packs_dir.glob("*.json")):
                packs.append(load_pack(path, str(path), datetime.fromtimestamp(path.stat().st_mtime, UTC)))
        elif required or packs_dir.exists():
            raise PackDefinitionError(
                f"LOOKALIKE_PACKS_DIR {packs_dir} is not a directory.",
                field="LOOKALIKE_PACKS_DIR",
                hint="Create it, or unset LOOKALIKE_PACKS_DIR to use <data dir>/packs.",
                details={"file": str(packs_dir)},
            )
    _check_unique(packs)
    return PackCatalog(tuple(sorted(packs, key=lambda pack: pack.id)))


def builtin_files() -> list[Traversable]:
    folder = resources.files(BUILTIN_PACKAGE) / BUILTIN_FOLDER
    return sorted((entry for entry in folder.iterdir() if entry.name.endswith(".json")), key=lambda entry: entry.name)


def load_pack(file: Traversable | Path, source: str, modified: datetime) -> Pack:
    """One pack file, checked; ``source`` names it in errors."""
    try:
        raw = file.read_bytes()
        data = json.loads(raw.decode("utf-8"))
    except OSError as exc:
        raise _error(source, None, f"cannot be read: {exc}") from None
    except UnicodeDecodeError as exc:
        raise _error(source, None, f"not UTF-8 text: {exc}") from None
    except json.JSONDecodeError as exc:
        raise _error(source, None, f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    if not isinstance(data, dict):
        raise _error(source, None, "a pack file holds one JSON object")
    try:
        pack = Pack.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _field_path(first)
        inner = (first.get("ctx") or {}).get("error")
        message = first["msg"].removeprefix("Value error, ")
        if isinstance(inner, PackFieldError):
            message = inner.message
        elif first["type"] == "missing":
            message = "this field is required"
        elif first["type"] == "extra_forbidden":
            message = "not a field of a pack"
        raise _error(source, field, message) from None
    return pack.with_source(source, modified)


def _check_unique(packs: list[Pack]) -> None:
    by_id: dict[int, Pack] = {}
    by_slug: dict[str, Pack] = {}
    for pack in packs:
        for key, seen, field in ((pack.id, by_id, "id"), (pack.slug, by_slug, "slug")):
            other = seen.get(key)  # type: ignore[call-overload]
            if other is not None:
                raise _error(
                    pack.source,
                    field,
                    f"{key!r} is already the {field} of {other.source}"
                    + (" (a built-in pack)" if other.source.startswith(f"{BUILTIN_FOLDER}/") else "")
                    + f"; each pack needs its own {field}",
                )
            seen[key] = pack  # type: ignore[index]


def _field_path(error: dict) -> str | None:
    """pydantic's location as a path a person reads: ``prompts.man[0].cfg_scale``."""
    path = ""
    for part in error.get("loc", ()):
        if isinstance(part, int):
            path += f"[{part}]"
        elif not isinstance(part, str) or part.startswith("function-"):
            continue
        else:
            path += f".{part}" if path else part
    inner = (error.get("ctx") or {}).get("error")
    if isinstance(inner, PackFieldError):
        path = f"{path}.{inner.field}" if path else inner.field
    return path or None


def _error(source: str, field: str | None, message: str) -> PackDefinitionError:
    where = f"{source}, field {field}" if field else source
    return PackDefinitionError(f"Pack file {where}: {message.rstrip('.')}.", field=field, details={"file": source})
