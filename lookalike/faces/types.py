"""Plain data passed between the face analysis steps."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Detection:
    """One face found by a detector, in the coordinates of the full image.

    ``landmarks`` is 5x2 float32 in the order the ArcFace template uses:
    left eye, right eye, nose tip, left mouth corner, right mouth corner
    (left/right as seen in the image).
    """

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float
    landmarks: np.ndarray

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def size(self) -> float:
        """Side of the face in pixels: the smaller side of the box."""
        return min(self.width, self.height)

    def box_dict(self) -> dict[str, float]:
        x1, y1, x2, y2 = self.box
        return {"x": round(x1, 1), "y": round(y1, 1), "width": round(x2 - x1, 1), "height": round(y2 - y1, 1)}


@dataclass(frozen=True)
class Quality:
    size_px: float
    detector_score: float
    sharpness: float
    yaw: float
    roll_degrees: float
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, object]:
        return {
            "size_px": round(self.size_px, 1),
            "detector_score": round(self.detector_score, 4),
            "sharpness": round(self.sharpness, 1),
            "yaw": round(self.yaw, 3),
            "roll_degrees": round(self.roll_degrees, 1),
            "ok": self.ok,
            "problems": list(self.problems),
        }


@dataclass
class AnalysedFace:
    """A detected face with its aligned crops, quality and embeddings."""

    detection: Detection
    quality: Quality
    crop_112: np.ndarray  # RGB uint8, ArcFace template alignment
    crop_large: np.ndarray  # RGB uint8, same alignment with margin, for later encoders
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)  # encoder name -> L2-normalised
