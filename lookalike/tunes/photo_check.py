"""Turn one uploaded photo into its one usable face, or a precise reason why not."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lookalike.errors import (
    FaceNotFrontalError,
    FaceTooBlurryError,
    FaceTooSmallError,
    MultipleFacesError,
    NoFaceError,
)
from lookalike.faces.analyzer import FaceAnalyzer
from lookalike.faces.decode import decode_image
from lookalike.faces.types import AnalysedFace


@dataclass
class PhotoInput:
    data: bytes
    filename: str | None = None


@dataclass
class CheckedPhoto:
    index: int
    filename: str | None
    image: np.ndarray
    face: AnalysedFace
    ignored_faces: int


@dataclass(frozen=True)
class PhotoLimits:
    max_pixels: int
    max_bytes: int
    background_face_ratio: float


def check_photo(index: int, photo: PhotoInput, analyzer: FaceAnalyzer, limits: PhotoLimits) -> CheckedPhoto:
    """Decode, find exactly one comparable face, judge it, embed it.

    Faces whose side is below ``background_face_ratio`` of the largest face
    are background faces (a passer-by, a poster) and are ignored; any other
    second face makes the photo ambiguous and it is refused.
    """
    image = decode_image(photo.data, max_pixels=limits.max_pixels, max_bytes=limits.max_bytes, image_index=index)
    detections = analyzer.detect(image)
    if not detections:
        raise NoFaceError(f"Photo {index} has no human face we can find.", image_index=index)
    main = max(detections, key=lambda d: d.size)
    comparable = [d for d in detections if d.size >= limits.background_face_ratio * main.size]
    if len(comparable) > 1:
        raise MultipleFacesError(
            f"Photo {index} shows {len(comparable)} faces of similar size; a tune photo must show one person.",
            image_index=index,
            details={"faces": len(comparable)},
        )
    face = analyzer.prepare(image, main)
    _raise_for_quality(index, face, analyzer)
    analyzer.embed(image, [face])
    return CheckedPhoto(index, photo.filename, image, face, ignored_faces=len(detections) - 1)


def _raise_for_quality(index: int, face: AnalysedFace, analyzer: FaceAnalyzer) -> None:
    q, limits = face.quality, analyzer.limits
    if "too_small" in q.problems:
        raise FaceTooSmallError(
            f"The face in photo {index} is {q.size_px:.0f} px across; at least {limits.min_face_px:.0f} px is needed.",
            image_index=index,
            details={"size_px": round(q.size_px, 1), "min_face_px": limits.min_face_px},
        )
    if "too_blurry" in q.problems:
        raise FaceTooBlurryError(
            f"The face in photo {index} is too blurry (sharpness {q.sharpness:.0f}, "
            f"at least {limits.min_sharpness:.0f} is needed).",
            image_index=index,
            details={"sharpness": round(q.sharpness, 1), "min_sharpness": limits.min_sharpness},
        )
    if "not_frontal" in q.problems:
        raise FaceNotFrontalError(
            f"The face in photo {index} is turned too far from the camera (yaw {q.yaw:+.2f}, "
            f"at most {limits.max_yaw:.2f}).",
            image_index=index,
            details={"yaw": round(q.yaw, 3), "max_yaw": limits.max_yaw},
        )
