"""The two contracts every face backend implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from lookalike.faces.types import Detection


@runtime_checkable
class FaceDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray, threshold: float) -> list[Detection]:
        """Faces in an RGB uint8 HxWx3 image, best score first."""
        ...


@runtime_checkable
class FaceEncoder(Protocol):
    """Turns one face into an identity vector.

    Encoders receive the full image and the face's 5 landmarks, so each can
    align the face the way it was trained (dlib chips, ArcFace 112x112).
    The stored large aligned crop is also a valid ``image`` with known
    landmarks, which is how a tune gets a new encoder's embedding later.
    """

    name: str
    dim: int

    def embed(self, image: np.ndarray, landmarks: list[np.ndarray]) -> np.ndarray:
        """Return an (N, dim) float32 array, L2-normalised rows."""
        ...
