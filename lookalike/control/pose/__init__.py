"""Pose control images: MediaPipe's pose models find each person's 33 points; OpenPose's skeleton is drawn.

    estimator = pose_estimator(models_dir)      # the two .tflite files, run with LiteRT
    people = estimator.people(rgb)              # BodyPoints per person, image pixels
    skeleton = draw_skeletons([openpose_points(p) for p in people], (w, h))
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from lookalike.control.pose.landmarks import BodyPoints

THREADS = 2
SAME_PERSON_IOU = 0.5


class PoseEstimator:
    def __init__(self, detector_path: Path, landmark_path: Path, threads: int = THREADS) -> None:
        from ai_edge_litert.interpreter import Interpreter

        from lookalike.control.pose.detector import PoseDetector
        from lookalike.control.pose.landmarks import PoseLandmarks

        def load(path: Path):
            interpreter = Interpreter(model_path=str(path), num_threads=threads)
            interpreter.allocate_tensors()
            return interpreter

        self.detector = PoseDetector(load(detector_path))
        self.landmarks = PoseLandmarks(load(landmark_path))
        # A LiteRT interpreter must not run in two threads at once.
        self._lock = threading.Lock()

    def people(self, rgb: np.ndarray) -> list[BodyPoints]:
        """Each person's points in an RGB uint8 image, most certain first.

        One landmark pass per detection, as MediaPipe runs a still image.
        Two detections of one person (the detector's boxes are faces; in a
        crowd two may lead to one body) give skeletons that overlap: where
        the boxes of their seen points overlap by more than half, the one
        with the higher presence score is kept.
        """
        with self._lock:
            found = [self.landmarks.points(rgb, region) for region in self.detector.detect(rgb)]
        return _distinct([body for body in found if body is not None])


def _distinct(people: list[BodyPoints], overlap: float = SAME_PERSON_IOU) -> list[BodyPoints]:
    from lookalike.control.pose.detector import iou
    from lookalike.control.pose.skeleton import MIN_VISIBILITY

    def box(body: BodyPoints) -> np.ndarray:
        seen = body.xy[body.visibility >= MIN_VISIBILITY]
        seen = seen if len(seen) else body.xy
        return np.concatenate([seen.min(axis=0), seen.max(axis=0)])

    kept: list[BodyPoints] = []
    for body in sorted(people, key=lambda b: -b.presence):
        if all(iou(box(body), box(other)) <= overlap for other in kept):
            kept.append(body)
    return kept


def pose_estimator(models_dir: Path | None) -> PoseEstimator:
    """The estimator for the files found for ``models_dir`` (checked), loaded once per process."""
    from lookalike.control.pose.models import find_pose_models

    detector, landmarks = find_pose_models(models_dir)
    return _cached(detector, landmarks)


@lru_cache(maxsize=2)
def _cached(detector: Path, landmarks: Path) -> PoseEstimator:
    return PoseEstimator(detector, landmarks)
