"""The one small contract every finishing step implements, and what a step is given.

A step is built from the settings, asked whether it can run (``check``) before
any image is made, so a missing model fails the job at once rather than after
the GPU time is spent, then run on each generated image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from lookalike.config import Settings
from lookalike.faces.analyzer import FaceAnalyzer
from lookalike.faces.backends.base import FaceEncoder


@dataclass(frozen=True)
class TuneFaces:
    """What a face swap needs from a tune, without the database.

    ``crops`` are the tune's stored 256x256 aligned crops (``LARGE_TEMPLATE``
    alignment, RGB uint8). ``identity(encoder)`` returns the tune's identity
    vector for that encoder; the runner passes
    ``lambda enc: tune_service.identity(tune_id, enc)``, which computes and
    keeps it from the crops when the encoder is new (inswapper needs buffalo_l).
    """

    crops: Sequence[np.ndarray]
    identity: Callable[[FaceEncoder], np.ndarray]
    tune_id: int | None = None


@dataclass
class PostprocessContext:
    """A step's narrow view of the job.

    ``analyzer`` is a callable so that a job whose steps never look for faces
    (super resolution alone) never loads the detector.
    """

    settings: Settings
    analyzer: Callable[[], FaceAnalyzer]
    tune: TuneFaces | None = None
    seed: int = 0
    # (width, height) the generator will make, when known: lets ``check``
    # refuse a size a step cannot finish before anything is generated.
    size: tuple[int, int] | None = None

    def face_analyzer(self) -> FaceAnalyzer:
        return self.analyzer()


@dataclass
class StepResult:
    image: Image.Image
    skipped_reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class PostProcessor(Protocol):
    name: str

    def check(self, context: PostprocessContext) -> None:
        """Raise a LookalikeError (ModelUnavailableError naming the pull command, ...) if this step cannot run."""
        ...

    def run(self, image: Image.Image, context: PostprocessContext) -> StepResult: ...


def to_rgb_array(image: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
