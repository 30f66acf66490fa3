"""The operator's own checkpoints: base models added from a ``.safetensors`` file, kept in ``<data dir>/models.json``.

``lookalike models add NAME PATH --family sd15`` checks the file (its header:
layout and family, ``catalog.checkpoints``), gives it a slug (NAME) and a
gallery id of ours, and writes the entry; ``lookalike models remove NAME``
takes it out. Every catalog look-up (``get_base_model``, the gallery,
``GET /models``, ``lookalike models list``) sees the entries beside the
built-in models; the file is read again when it changes, so a running
server sees a new model without a restart. An entry becomes a
``BaseModelSpec`` with a ``single_file`` source: the engine loads it offline
with the family's bundled config (``catalog.single_file_configs``), or with
a diffusers config folder given with ``--config`` for a checkpoint of
another shape (an inpainting UNet, a resized model). The FaceID adapter,
its PlusV2 option and the LCM/TCD LoRAs are the family's own (SD1.5's);
``lookalike models pull NAME`` fetches them.

The file, hand-edited or written by an older version, is checked as a
whole: a bad entry is a ``model_unavailable`` error naming the file and
the entry, never a model silently dropped. A removed model's gallery id is
kept in the file as retired and never given again (tunes, prompts and
users' code may hold it, as they hold Astria's ids); its slug may be
reused, which is how an operator replaces a checkpoint file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from lookalike.catalog.base_models import BASE_MODELS, SD15, BaseModelSpec, ModelSource
from lookalike.config import Settings, get_settings
from lookalike.errors import InvalidFieldError, ModelUnavailableError, NotFoundError
from lookalike.fileio import atomic_write_bytes

MODELS_FILENAME = "models.json"
# Gallery ids of ours for users' checkpoints: above the built-in ones of ours
# (2, 999), far below Astria's own (6 and 7 digits) and user tune ids.
FIRST_GALLERY_ID = 1001
LAST_GALLERY_ID = 9999
# family -> the built-in model whose adapter, options and LoRAs an added checkpoint shares.
FAMILIES: dict[str, BaseModelSpec] = {"sd15": SD15}
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


@dataclass(frozen=True)
class UserCheckpoint:
    id: str
    gallery_id: int
    name: str
    family: str
    path: str
    config: str | None = None
    added_at: str | None = None

    def spec(self) -> BaseModelSpec:
        sibling = FAMILIES[self.family]
        return BaseModelSpec(
            id=self.id,
            gallery_id=self.gallery_id,
            name=self.name,
            family=sibling.family,
            source=ModelSource(kind="single_file", path=self.path, config=self.config),
            adapter=sibling.adapter,
            adapter_options=sibling.adapter_options,
            scheduler_loras=sibling.scheduler_loras,
            license="the checkpoint author's (added by this server's operator)",
            native_size=sibling.native_size,
            # The file's name only: GET /models shows descriptions to API users, not the server's paths.
            description=f"Added by the operator: {Path(self.path).name} ({self.family}).",
            tags=("user",),
        )

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "gallery_id": self.gallery_id,
            "name": self.name,
            "family": self.family,
            "path": self.path,
            "config": self.config,
            "added_at": self.added_at,
        }


def models_file(settings: Settings) -> Path:
    return settings.data_dir / MODELS_FILENAME


def user_models(settings: Settings | None = None) -> tuple[BaseModelSpec, ...]:
    """The operator's checkpoints as base models (none when the file does not exist)."""
    return tuple(entry.spec() for entry in user_checkpoints(settings))


def user_checkpoints(settings: Settings | None = None) -> tuple[UserCheckpoint, ...]:
    return _load(settings or get_settings())[0]


def _load(settings: Settings) -> tuple[tuple[UserCheckpoint, ...], tuple[int, ...]]:
    """(entries, retired gallery ids) of the models file."""
    path = models_file(settings)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return (), ()
    # Keyed by what changes when add/remove replace the file, so a changed file is read again.
    return _read(str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _read(path: str, _inode: int, _mtime_ns: int, _size: int) -> tuple[tuple[UserCheckpoint, ...], tuple[int, ...]]:
    def bad(what: str) -> ModelUnavailableError:
        return ModelUnavailableError(
            f"{path} (the operator's own base models) is not valid: {what}.",
            hint="Fix or delete the file; `lookalike models add` and `lookalike models remove` rewrite it.",
            details={"models_file": path},
        )

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise bad(f"unreadable JSON ({exc})") from exc
    rows = data.get("base_models") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise bad('no "base_models" list')
    retired = data.get("retired_gallery_ids", [])
    if not isinstance(retired, list) or not all(isinstance(g, int) for g in retired):
        raise bad('"retired_gallery_ids" must be a list of integers')
    entries: list[UserCheckpoint] = []
    for index, row in enumerate(rows):
        try:
            entry = UserCheckpoint(**row)
        except TypeError as exc:
            raise bad(f"entry {index}: {exc}") from exc
        problem = _problem(entry, entries)
        if problem:
            raise bad(f"entry {index} ({row.get('id')!r}): {problem}")
        if entry.gallery_id in retired:
            raise bad(f"entry {index} ({row.get('id')!r}): gallery_id {entry.gallery_id} is retired")
        entries.append(entry)
    return tuple(entries), tuple(retired)


def _problem(entry: UserCheckpoint, others: list[UserCheckpoint]) -> str | None:
    if not isinstance(entry.id, str) or not _SLUG.match(entry.id) or entry.id.isdigit():
        return "the id must be lower-case letters, digits and dashes, not only digits"
    if any(entry.id == s.id for s in BASE_MODELS) or any(entry.id == o.id for o in others):
        return f"the id {entry.id} is taken"
    if not isinstance(entry.gallery_id, int) or not FIRST_GALLERY_ID <= entry.gallery_id <= LAST_GALLERY_ID:
        return f"gallery_id must be an integer from {FIRST_GALLERY_ID} to {LAST_GALLERY_ID}"
    if any(entry.gallery_id == o.gallery_id for o in others):
        return f"gallery_id {entry.gallery_id} is taken"
    if entry.family not in FAMILIES:
        return f"family {entry.family!r} is not one of {sorted(FAMILIES)}"
    if not isinstance(entry.path, str) or not Path(entry.path).is_absolute():
        return "path must be an absolute path"
    if entry.config is not None and (not isinstance(entry.config, str) or not Path(entry.config).is_absolute()):
        return "config must be an absolute path or null"
    if not isinstance(entry.name, str) or not entry.name.strip():
        return "name must be a non-empty string"
    return None


def _write(settings: Settings, entries: list[UserCheckpoint], retired: tuple[int, ...]) -> None:
    body = json.dumps(
        {"base_models": [e.as_json() for e in entries], "retired_gallery_ids": sorted(retired)}, indent=2
    ) + "\n"
    models_file(settings).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(models_file(settings), body.encode("utf-8"))


def add_user_model(
    settings: Settings,
    model_id: str,
    path: Path | str,
    *,
    family: str = "sd15",
    name: str | None = None,
    config: Path | str | None = None,
) -> BaseModelSpec:
    """Check ``path`` and add it as base model ``model_id``; returns the new entry's spec."""
    from lookalike.catalog.checkpoints import inspect_checkpoint

    slug = model_id.strip().lower()
    if not _SLUG.match(slug) or slug.isdigit():
        raise InvalidFieldError(
            f"{model_id!r} cannot be a model id: use lower-case letters, digits and dashes (up to 64), not only digits.",
            field="name",
            hint="For example `my-portraits-v2`.",
        )
    loaded, retired = _load(settings)
    existing = list(loaded)
    if any(slug == s.id for s in BASE_MODELS) or any(slug == e.id for e in existing):
        raise InvalidFieldError(
            f"A base model called {slug!r} already exists.",
            field="name",
            hint=f"Choose another name, or `lookalike models remove {slug}` first (built-in models cannot be removed).",
        )
    if family not in FAMILIES:
        raise InvalidFieldError(
            f"Family {family!r} is not supported for your own checkpoints; supported: {', '.join(sorted(FAMILIES))}.",
            field="family",
            hint="SDXL checkpoints need a bundled SDXL config, which this version does not ship yet.",
        )
    checkpoint = Path(path).expanduser().resolve()
    if not checkpoint.is_file():
        raise InvalidFieldError(f"{checkpoint} is not a file.", field="path", hint="Give the checkpoint's path.")
    if checkpoint.suffix.lower() != ".safetensors":
        raise InvalidFieldError(
            f"{checkpoint.name} is not a .safetensors file.",
            field="path",
            hint="A .ckpt is a pickle that can run code when loaded; convert it to .safetensors first.",
        )
    info = inspect_checkpoint(checkpoint)
    if info.family != family:
        raise InvalidFieldError(
            f"{checkpoint.name} is an {info.family} checkpoint, not {family}.",
            field="family",
            hint=f"Add it with `--family {info.family}` if that family is supported.",
        )
    config_dir = None
    if config is not None:
        config_dir = Path(config).expanduser().resolve()
        if not (config_dir / "model_index.json").is_file() or not (config_dir / "unet" / "config.json").is_file():
            raise InvalidFieldError(
                f"{config_dir} is not a diffusers config folder (model_index.json, unet/config.json, ...).",
                field="config",
                hint="Give the folder of a diffusers model with the same architecture as the checkpoint.",
            )
    elif not info.standard_sd15:
        raise InvalidFieldError(
            f"{checkpoint.name} is SD1.x but not SD1.5's own shape (UNet input {list(info.unet_in_shape)}, "
            f"expected {list((320, 4, 3, 3))}): an inpainting or resized model.",
            field="config",
            hint="Give `--config` a diffusers folder with that model's architecture.",
        )
    taken = {e.gallery_id for e in existing} | set(retired)
    gallery_id = next((g for g in range(FIRST_GALLERY_ID, LAST_GALLERY_ID + 1) if g not in taken), None)
    if gallery_id is None:
        raise InvalidFieldError("Every gallery id for your own models is taken.", field="name",
                                hint="Remove models you no longer use.")
    entry = UserCheckpoint(
        id=slug,
        gallery_id=gallery_id,
        name=(name or slug).strip() or slug,
        family=family,
        path=str(checkpoint),
        config=str(config_dir) if config_dir else None,
        added_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    _write(settings, [*existing, entry], retired)
    return entry.spec()


def remove_user_model(settings: Settings, ref: str) -> BaseModelSpec:
    """Take the entry with this id or gallery id out of the file (the checkpoint itself is left alone)."""
    key = ref.strip().lower()
    loaded, retired = _load(settings)
    existing = list(loaded)
    for entry in existing:
        if entry.id == key or (key.isascii() and key.isdigit() and entry.gallery_id == int(key)):
            _write(settings, [e for e in existing if e is not entry], (*retired, entry.gallery_id))
            return entry.spec()
    if any(key == s.id or key == str(s.gallery_id) for s in BASE_MODELS):
        raise InvalidFieldError(f"{ref!r} is a built-in model and cannot be removed.", field="name")
    raise NotFoundError(
        f"No model of yours is called {ref!r}.",
        hint="`lookalike models list` shows them (source single_file).",
    )
