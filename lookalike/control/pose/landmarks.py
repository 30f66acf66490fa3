"""MediaPipe's pose landmark model (``pose_landmark_full.tflite``): 33 body points in a person's square.

As ``modules/pose_landmark/pose_landmark_by_roi_cpu.pbtxt`` runs it: the
detector's rotated square cut out to 256x256, values in [0, 1]; the first
output holds 39 rows of (x, y, z, visibility, presence) in input pixels,
the first 33 the body points (0 nose, 2/5 eyes, 7/8 ears, 11/12 shoulders,
13/14 elbows, 15/16 wrists, 23/24 hips, 25/26 knees, 27/28 ankles, ...);
visibility and presence are logits. The second output is the pose-presence
score (MediaPipe drops the pose below 0.5). Rows 33 and 34 are auxiliary
points for tracking a video, not used for a still. The heatmap refinement
MediaPipe applies afterwards (a few pixels at 256) is left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lookalike.control.pose.detector import BodyRegion

INPUT_SIZE = 256
NUM_POINTS = 33
VALUES_PER_POINT = 5
MIN_PRESENCE = 0.5


@dataclass(frozen=True)
class BodyPoints:
    """33 points in image pixels, each one's visibility in [0, 1], and the pose-presence score."""

    xy: np.ndarray  # (33, 2)
    visibility: np.ndarray  # (33,)
    presence: float


def region_affine(region: BodyRegion) -> np.ndarray:
    """2x3 affine from the network's 256x256 input to image pixels (MediaPipe's rotated-rect crop)."""
    cos, sin = math.cos(region.rotation), math.sin(region.rotation)
    unit = region.side / INPUT_SIZE
    cx, cy = region.center
    matrix = np.array([[cos * unit, -sin * unit, 0.0], [sin * unit, cos * unit, 0.0]])
    half = INPUT_SIZE / 2
    matrix[:, 2] = (cx, cy) - matrix[:, :2] @ (half, half)
    return matrix


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


class PoseLandmarks:
    def __init__(self, interpreter) -> None:
        self.interpreter = interpreter

    def points(self, rgb: np.ndarray, region: BodyRegion) -> BodyPoints | None:
        """The person's 33 points, or None when the model says no pose is there."""
        import cv2

        to_image = region_affine(region)
        crop = cv2.warpAffine(
            rgb, to_image, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
        )
        interpreter = self.interpreter
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
        interpreter.set_tensor(inputs[0]["index"], (crop.astype(np.float32) / 255.0)[None])
        interpreter.invoke()
        by_size = {int(np.prod(o["shape"])): o["index"] for o in outputs}
        presence = float(interpreter.get_tensor(by_size[1]).ravel()[0])
        if presence < MIN_PRESENCE:
            return None
        rows = interpreter.get_tensor(by_size[39 * VALUES_PER_POINT]).reshape(39, VALUES_PER_POINT)
        xy = rows[:NUM_POINTS, :2].astype(np.float64) @ to_image[:, :2].T + to_image[:, 2]
        return BodyPoints(xy=xy, visibility=_sigmoid(rows[:NUM_POINTS, 3].astype(np.float64)), presence=presence)
