"""A quality verdict per face: size, detector confidence, sharpness, pose."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from lookalike.faces.types import Detection, Quality


@dataclass(frozen=True)
class QualityThresholds:
    min_face_px: float
    min_sharpness: float
    max_yaw: float
    min_detector_score: float


def sharpness(crop_112: np.ndarray) -> float:
    """Variance of the Laplacian on the aligned face.

    Measured on the 112x112 crop rather than the photo so the figure does not
    depend on how large the face was in the original.
    """
    gray = cv2.cvtColor(crop_112, cv2.COLOR_RGB2GRAY)
    # Only the inner face: background texture and hair would hide a blurred face.
    inner = gray[24:104, 16:96]
    return float(cv2.Laplacian(inner, cv2.CV_64F).var())


def pose(landmarks: np.ndarray) -> tuple[float, float]:
    """(yaw, roll in degrees) estimated from the 5 landmarks.

    Yaw is the nose's horizontal offset from the eye midpoint, in units of the
    eye distance, measured along the eye line: 0 when frontal, about +/-0.5
    at a three-quarter view.
    """
    left_eye, right_eye, nose = landmarks[0], landmarks[1], landmarks[2]
    eye_vec = right_eye - left_eye
    eye_dist = float(np.hypot(*eye_vec)) or 1.0
    roll = math.degrees(math.atan2(float(eye_vec[1]), float(eye_vec[0])))
    axis = eye_vec / eye_dist
    offset = float(np.dot(nose - (left_eye + right_eye) / 2, axis))
    return offset / eye_dist, roll


def judge(detection: Detection, crop_112: np.ndarray, limits: QualityThresholds) -> Quality:
    yaw, roll = pose(detection.landmarks)
    sharp = sharpness(crop_112)
    problems = []
    if detection.size < limits.min_face_px:
        problems.append("too_small")
    if sharp < limits.min_sharpness:
        problems.append("too_blurry")
    if abs(yaw) > limits.max_yaw:
        problems.append("not_frontal")
    if detection.score < limits.min_detector_score:
        problems.append("low_confidence")
    return Quality(
        size_px=detection.size,
        detector_score=detection.score,
        sharpness=sharp,
        yaw=yaw,
        roll_degrees=roll,
        problems=tuple(problems),
    )
