"""Do all photos show one person? And what is that person's identity vector?"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lookalike.errors import IdentityMismatchError
from lookalike.faces.compare import SAME_PERSON_THRESHOLDS, mean_identity


@dataclass(frozen=True)
class Identity:
    encoder: str
    vector: np.ndarray
    min_similarity: float


def build_identity(encoder: str, vectors: list[np.ndarray]) -> Identity:
    """Check the photos agree, then average them.

    With two photos that disagree the second is reported, since it is the one
    added to the first. With more, the odd one out is the photo least like the
    others on average; it is reported when it falls below the threshold with
    any other photo.
    """
    threshold = SAME_PERSON_THRESHOLDS[encoder]
    stacked = np.stack(vectors).astype(np.float64)
    sims = stacked @ stacked.T
    n = len(vectors)
    if n > 1:
        off_diagonal = sims[~np.eye(n, dtype=bool)].reshape(n, n - 1)
        worst_pair = off_diagonal.min()
        if worst_pair < threshold:
            mean_to_others = off_diagonal.mean(axis=1)
            odd = int(np.argmin(mean_to_others)) if n > 2 else 1
            others = [i for i in range(n) if i != odd]
            raise IdentityMismatchError(
                f"Photo {odd} does not look like the same person as photo"
                f"{'s' if len(others) > 1 else ''} {', '.join(map(str, others))} "
                f"(similarity {mean_to_others[odd]:.3f}; the same person scores at least {threshold}).",
                image_index=odd,
                details={"similarity": round(float(mean_to_others[odd]), 4), "threshold": threshold},
            )
    mean = mean_identity(vectors)
    min_sim = float(min(np.dot(v, mean) for v in stacked)) if n else 1.0
    return Identity(encoder, mean, min_sim)
