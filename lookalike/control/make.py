"""From the input image to the control image a ControlNet takes, at the output size.

``canny`` and ``pose`` are computed here; every other offered type takes a
ready control image (a depth map, line art, ...), which is used as given,
only brought to the output size. Which type needs which is data
(``catalog/controlnets.py: PREPROCESSORS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from lookalike.catalog.controlnets import PREPROCESSORS
from lookalike.control.fit import Fit, fit_image

AS_GIVEN = "the input image as given"
POSE_NAME = "pose (mediapipe pose_landmark_full, OpenPose skeleton)"


@dataclass(frozen=True)
class ControlImage:
    kind: str
    image: Image.Image  # RGB, at the output size
    preprocessor: str  # what made it, for the PNG parameters


def preprocessor_name(kind: str) -> str:
    """How ``kind``'s control image is made, in words (for the PNG parameters)."""
    how = PREPROCESSORS[kind]
    if how == "canny":
        from lookalike.control.canny import NAME

        return NAME
    if how == "pose":
        return POSE_NAME
    return AS_GIVEN


def check_preprocessor(kind: str, models_dir: Path | None) -> None:
    """Raise what would stop ``kind``'s control image from being made (a missing model), loading nothing."""
    if PREPROCESSORS.get(kind) == "pose":
        from lookalike.control.pose.models import check_pose_runtime

        check_pose_runtime(models_dir)


def make_control_image(kind: str, pixels: np.ndarray, size: tuple[int, int], *, models_dir: Path | None) -> ControlImage:
    """The control image for ``kind`` from the RGB uint8 input ``pixels``; ``size`` is (width, height)."""
    how = PREPROCESSORS[kind]
    if how == "canny":
        from lookalike.control.canny import NAME, canny_edges

        edges = canny_edges(np.asarray(fit_image(pixels, size)))
        return ControlImage(kind, Image.fromarray(edges), NAME)
    if how == "pose":
        from lookalike.control.pose import pose_estimator
        from lookalike.control.pose.skeleton import draw_skeletons, openpose_points

        fit = Fit.cover((pixels.shape[1], pixels.shape[0]), size)
        # Found on the whole photo at its own resolution, then drawn where the output shows it.
        people = pose_estimator(models_dir).people(pixels)
        skeletons = [[None if p is None else tuple(fit.points(p)) for p in openpose_points(body)] for body in people]
        return ControlImage(kind, Image.fromarray(draw_skeletons(skeletons, size)), f"{POSE_NAME}, {len(people)} found")
    return ControlImage(kind, fit_image(pixels, size), AS_GIVEN)
