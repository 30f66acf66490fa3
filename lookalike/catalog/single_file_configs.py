"""The diffusers config folder a single-file checkpoint is loaded with, shipped in the package.

diffusers' ``from_single_file(path, config=folder)`` reads the components'
configs from a folder in the diffusers layout (``model_index.json``,
``scheduler/``, ``unet/``, ``vae/``, ``text_encoder/``, ``tokenizer/``) and
converts the checkpoint's original (A1111/CompVis) keys onto them. Without
``config`` it fetches that folder from the Hub, which fails offline; so the
folder ships here (``configs/<family>/``: the published architecture of
SD1.5, its numbers as facts) and only the tokenizer's vocabulary, which is
data, is written at first use from CLIP's merges (``clip_vocab``).

The assembled folder lives under ``<models dir>/single_file_configs/``,
named by a digest of everything in it, so a changed bundle or vocabulary
gives a new folder and an interrupted build never leaves a half folder
under the final name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from importlib.resources import files
from pathlib import Path

from lookalike.catalog.clip_vocab import find_bpe, write_vocab_files

CONFIGS_DIRNAME = "single_file_configs"
# The families with a bundled config folder. SDXL's needs a second tokenizer
# and text encoder; it is not bundled yet.
BUNDLED_FAMILIES = ("sd15",)
_COMPONENTS = ("model_index.json", "scheduler", "text_encoder", "tokenizer", "unet", "vae")


def bundled_dir(family: str):
    """The package's own config folder for ``family`` (an importlib.resources Traversable)."""
    if family not in BUNDLED_FAMILIES:
        raise ValueError(f"no bundled single-file config for family {family!r}; bundled: {BUNDLED_FAMILIES}")
    return files("lookalike.catalog").joinpath("configs", family)


def _bundled_files(family: str) -> list[tuple[str, bytes]]:
    root = bundled_dir(family)
    found: list[tuple[str, bytes]] = []

    def walk(node, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            name = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, name + "/")
            elif child.name.endswith(".json"):
                found.append((name, child.read_bytes()))

    walk(root, "")
    return found


def config_dir(family: str, models_dir: Path) -> Path:
    """The complete config folder for ``family`` (bundled configs plus the tokenizer's vocabulary), built once."""
    bpe = find_bpe(models_dir)
    bundled = _bundled_files(family)
    digest = hashlib.sha256()
    for name, data in bundled:
        digest.update(name.encode() + b"\0" + data + b"\0")
    digest.update(bpe.read_bytes())
    target = Path(models_dir) / CONFIGS_DIRNAME / f"{family}-{digest.hexdigest()[:12]}"
    if all((target / part).exists() for part in _COMPONENTS):
        return target
    staging = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    try:
        for name, data in bundled:
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        write_vocab_files(bpe, staging / "tokenizer")
        try:
            os.replace(staging, target)
        except OSError:
            # Another process built the same folder first; its copy is identical.
            if not all((target / part).exists() for part in _COMPONENTS):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
