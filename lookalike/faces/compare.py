"""Similarity between faces and a same-person verdict."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Cosine similarity at or above which two faces are the same person, per
# encoder. dlib_resnet_v1: calibrated on ../shared/data/faces (see
# docs/ARCHITECTURE.md, "Calibrating the same-person threshold"); buffalo_l:
# the value commonly used with insightface's w600k_r50 (not calibrated here,
# its weights are not obtainable on our machines).
SAME_PERSON_THRESHOLDS: dict[str, float] = {
    "dlib_resnet_v1": 0.91,
    "buffalo_l": 0.40,
}


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denom) if denom else 0.0


def mean_identity(vectors: list[np.ndarray]) -> np.ndarray:
    """L2-normalised mean of L2-normalised embeddings: the tune's identity."""
    stacked = np.stack([v / np.linalg.norm(v) for v in vectors])
    mean = stacked.mean(axis=0)
    return (mean / np.linalg.norm(mean)).astype(np.float32)


@dataclass(frozen=True)
class Comparison:
    similarity: float
    threshold: float
    encoder: str

    @property
    def same_person(self) -> bool:
        return self.similarity >= self.threshold

    def to_dict(self) -> dict[str, object]:
        return {
            "similarity": round(self.similarity, 4),
            "same_person": self.same_person,
            "threshold": self.threshold,
            "encoder": self.encoder,
        }


def compare(a: np.ndarray, b: np.ndarray, encoder: str) -> Comparison:
    return Comparison(cosine_similarity(a, b), SAME_PERSON_THRESHOLDS[encoder], encoder)
