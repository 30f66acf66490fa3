"""Build the analyzer the settings ask for."""

from __future__ import annotations

from typing import get_args

from lookalike.config import FaceBackend, Settings
from lookalike.errors import InvalidFieldError
from lookalike.faces.analyzer import FaceAnalyzer
from lookalike.faces.quality import QualityThresholds

BACKENDS = get_args(FaceBackend)


def build_analyzer(settings: Settings) -> FaceAnalyzer:
    limits = QualityThresholds(
        min_face_px=settings.min_face_px,
        min_sharpness=settings.min_sharpness,
        max_yaw=settings.max_yaw,
        min_detector_score=settings.detection_threshold,
    )
    if settings.face_backend == "offline":
        from lookalike.faces.backends.offline import DlibResNetEncoder, RetinaFaceDetector

        detector, encoder = RetinaFaceDetector(settings.detection_max_side), DlibResNetEncoder(settings.models_dir)
    elif settings.face_backend == "insightface":
        from lookalike.faces.backends.insightface import load_buffalo_l

        detector, encoder = load_buffalo_l(settings.models_dir)
    else:
        raise InvalidFieldError(
            f"Unknown face backend {settings.face_backend!r}.",
            field="face_backend",
            hint=f"Set LOOKALIKE_FACE_BACKEND to one of: {', '.join(BACKENDS)}.",
        )
    return FaceAnalyzer(detector, encoder, limits, settings.detection_threshold)


_analyzers: dict[tuple, FaceAnalyzer] = {}


def cached_analyzer(settings: Settings) -> FaceAnalyzer:
    """One analyzer per distinct configuration, so models load once per process."""
    key = (
        settings.face_backend,
        str(settings.models_dir),
        settings.detection_max_side,
        settings.detection_threshold,
        settings.min_face_px,
        settings.min_sharpness,
        settings.max_yaw,
    )
    if key not in _analyzers:
        _analyzers[key] = build_analyzer(settings)
    return _analyzers[key]
