"""Helpers for the post-processing tests."""

from __future__ import annotations

import numpy as np

from lookalike.catalog.files import ModelPack, RemoteFile


def as_generated(image: np.ndarray, max_side: int = 768) -> np.ndarray:
    """A photo at the size a generated image has (SD1.5 makes 512 to 768 px)."""
    import cv2

    scale = max_side / max(image.shape[:2])
    if scale >= 1:
        return image
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def main_face(analyzer, image: np.ndarray):
    faces = analyzer.analyse(image)
    return max(faces, key=lambda f: f.detection.size) if faces else None


def tune_from_photos(analyzer, photos: list[np.ndarray], faces=None):
    """A TuneFaces as the tune service would keep it: aligned 256 crops and the mean identity."""
    from lookalike.faces.compare import mean_identity
    from lookalike.postprocess.base import TuneFaces

    if faces is None:
        faces = [main_face(analyzer, p) for p in photos]
    identity = mean_identity([f.embeddings[analyzer.encoder.name] for f in faces])
    return TuneFaces(crops=[f.crop_large for f in faces], identity=lambda encoder: identity), identity


def context_for(settings, analyzer, tune=None, seed=0):
    from lookalike.postprocess.base import PostprocessContext

    return PostprocessContext(settings=settings, analyzer=lambda: analyzer, tune=tune, seed=seed)


def standin_pack(pack_id: str, filename: str) -> ModelPack:
    """A pack laid out like a real one, without a published digest (tests make their own files)."""
    return ModelPack(id=pack_id, title="test stand-in", license="test", files=(RemoteFile(url="file:///nowhere", path=filename),))
