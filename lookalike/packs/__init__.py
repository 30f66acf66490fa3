"""Packs (Astria's ``/packs``, ``/p/{id}``): prompt collections as data, and making tunes from them.

``definitions.py``: the pydantic models of a pack file; ``loader.py``: the
built-in packs (``builtin/*.json``, shipped in the package) and the
operator's ``LOOKALIKE_PACKS_DIR``, checked at start; ``service.py``:
``POST /p/{id}/tunes`` through the same ``TuneIntake`` as ``POST /tunes``.
"""

from lookalike.packs.definitions import Pack, PackPrompt
from lookalike.packs.loader import (
    PackCatalog,
    PackDefinitionError,
    PackNotFoundError,
    load_catalog,
)
from lookalike.packs.service import PackService, PackTunes

__all__ = [
    "Pack",
    "PackCatalog",
    "PackDefinitionError",
    "PackNotFoundError",
    "PackPrompt",
    "PackService",
    "PackTunes",
    "load_catalog",
]
