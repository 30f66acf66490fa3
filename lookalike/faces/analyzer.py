"""One face-analysis pipeline: detect, align, judge, embed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lookalike.faces.align import ARCFACE_TEMPLATE_112, align_112, align_large
from lookalike.faces.backends.base import FaceDetector, FaceEncoder
from lookalike.faces.quality import QualityThresholds, judge
from lookalike.faces.types import AnalysedFace, Detection


@dataclass
class FaceAnalyzer:
    detector: FaceDetector
    encoder: FaceEncoder
    limits: QualityThresholds
    detection_threshold: float

    def detect(self, image: np.ndarray) -> list[Detection]:
        return self.detector.detect(image, self.detection_threshold)

    def prepare(self, image: np.ndarray, detection: Detection) -> AnalysedFace:
        """Align and judge one face, without the (slower) embedding.

        The kept crop is insightface's (black outside the photo); the quality
        judge measures sharpness on the same crop with a reflected border, as
        its thresholds were calibrated, so a face at the photo's edge is not
        called sharp for the black edge alone.
        """
        crop = align_112(image, detection.landmarks)
        return AnalysedFace(
            detection=detection,
            quality=judge(detection, align_112(image, detection.landmarks, border="reflect"), self.limits),
            crop_112=crop,
            crop_large=align_large(image, detection.landmarks),
        )

    def embed(self, image: np.ndarray, faces: list[AnalysedFace]) -> None:
        """Fill in each face's embedding for this analyzer's encoder."""
        vectors = self.encoder.embed(image, [f.detection.landmarks for f in faces])
        for face, vector in zip(faces, vectors):
            face.embeddings[self.encoder.name] = vector

    def analyse(self, image: np.ndarray) -> list[AnalysedFace]:
        faces = [self.prepare(image, d) for d in self.detect(image)]
        if faces:
            self.embed(image, faces)
        return faces

    def warmup(self) -> None:
        # The first alignment imports scikit-image's transform module (~0.3 s); pay it here.
        align_112(np.zeros((8, 8, 3), dtype=np.uint8), ARCFACE_TEMPLATE_112)
        for part in (self.detector, self.encoder):
            warm = getattr(part, "warmup", None)
            if warm is not None:
                warm()
