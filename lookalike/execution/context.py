"""What running a prompt may use: the runner's whole view of the service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lookalike.config import Settings
from lookalike.tunes.service import TuneService

if TYPE_CHECKING:
    from lookalike.faces.analyzer import FaceAnalyzer
    from lookalike.faces.backends.base import FaceEncoder
    from lookalike.generation.engine import Engine


@dataclass(frozen=True)
class RunContext:
    """Built once by the composition root (``lookalike.services``).

    The heavy parts are callables so that checking a prompt (the API's
    path) never loads the face models or torch; running one loads them on
    first use.
    """

    settings: Settings
    tunes: TuneService
    analyzer: Callable[[], FaceAnalyzer]
    # The face encoder called by name: the analyzer's own, or the adapter's (buffalo_l).
    face_encoder: Callable[[str], FaceEncoder]
    generator: Callable[[], Engine]
    # A stored blob by key (a prompt's input image); None where nothing is stored (a bare local run).
    read_blob: Callable[[str], bytes] | None = None
