"""MediaPipe's pose detector (BlazePose, ``pose_detection.tflite``): people, and where each one's body is.

Run as MediaPipe's own graph runs it (``modules/pose_detection/pose_detection_cpu.pbtxt``):
the image letterboxed into 224x224, values in [-1, 1]; 2254 SSD anchors
(5 layers, strides 8, 16, 32, 32, 32, two anchors a layer, fixed size);
each row of the output is a box (x, y, w, h, as offsets from its anchor, in
input pixels) and four keypoints, its score a logit. Keypoint 0 is the
middle of the hips and keypoint 1 encodes the body's size and rotation:
MediaPipe's ``pose_detection_to_roi`` makes the landmark model's square
from them (centred on 0, side twice the distance 0 to 1, turned so that
0 -> 1 points up, grown 1.25 times).

One difference: MediaPipe merges overlapping boxes by weighted NMS and
follows one person; here overlapping boxes are dropped by plain NMS (IoU
0.3, the graph's threshold) and every person found is kept, since a control
image of a group shows everyone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

INPUT_SIZE = 224
STRIDES = (8, 16, 32, 32, 32)
ANCHORS_PER_LAYER = 2  # aspect ratio 1.0 and the interpolated scale
# MediaPipe's graph keeps detections from 0.2 and lets tracking sort them
# out over frames; a still image has no frames, so only the more certain count.
MIN_SCORE = 0.5
NMS_IOU = 0.3
ROI_SCALE = 1.25
MAX_PEOPLE = 8


@dataclass(frozen=True)
class BodyRegion:
    """A person's square in image pixels, rotated by ``rotation`` radians (MediaPipe's ROI)."""

    center: tuple[float, float]
    side: float
    rotation: float
    score: float


@lru_cache(maxsize=1)
def anchor_centers() -> np.ndarray:
    """(2254, 2) anchor centres in [0, 1], in the order the model's rows come (SsdAnchorsCalculator)."""
    centers = []
    layer = 0
    while layer < len(STRIDES):
        stride = STRIDES[layer]
        same = layer
        while same < len(STRIDES) and STRIDES[same] == stride:
            same += 1
        per_cell = ANCHORS_PER_LAYER * (same - layer)
        cells = math.ceil(INPUT_SIZE / stride)
        for y in range(cells):
            for x in range(cells):
                centers.extend([((x + 0.5) / cells, (y + 0.5) / cells)] * per_cell)
        layer = same
    return np.asarray(centers, dtype=np.float32)


def letterbox(rgb: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """The 224x224 network input in [-1, 1], and (scale, dx, dy): input = image * scale + (dx, dy)."""
    import cv2

    height, width = rgb.shape[:2]
    scale = INPUT_SIZE / max(width, height)
    dx, dy = (INPUT_SIZE - width * scale) / 2, (INPUT_SIZE - height * scale) / 2
    matrix = np.array([[scale, 0, dx], [0, scale, dy]], dtype=np.float32)
    # Zero borders, as the graph's BORDER_ZERO.
    tensor = cv2.warpAffine(rgb, matrix, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    return tensor.astype(np.float32) / 127.5 - 1.0, scale, dx, dy


def decode(raw: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes as x0, y0, x1, y1; keypoints (N, 4, 2); scores), in input pixels, of the rows scoring MIN_SCORE or more."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.reshape(-1).astype(np.float64), -100.0, 100.0)))
    keep = scores >= MIN_SCORE
    raw, scores = raw.reshape(-1, 12)[keep], scores[keep]
    anchors = anchor_centers()[keep] * INPUT_SIZE
    centers = raw[:, :2] + anchors
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([centers - half, centers + half], axis=1)
    keypoints = raw[:, 4:12].reshape(-1, 4, 2) + anchors[:, None, :]
    return boxes, keypoints, scores


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, threshold: float = NMS_IOU) -> list[int]:
    """Indices kept, best first: each box that overlaps a better kept one by more than ``threshold`` is dropped."""
    order = list(np.argsort(-scores))
    kept: list[int] = []
    while order and len(kept) < MAX_PEOPLE:
        best = order.pop(0)
        kept.append(int(best))
        rest = []
        for other in order:
            if iou(boxes[best], boxes[other]) <= threshold:
                rest.append(other)
        order = rest
    return kept


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def body_region(hips: np.ndarray, size_point: np.ndarray, score: float) -> BodyRegion:
    """MediaPipe's ROI from keypoints 0 and 1, in image pixels."""
    dx, dy = float(size_point[0] - hips[0]), float(size_point[1] - hips[1])
    rotation = math.pi / 2 - math.atan2(-dy, dx)
    rotation = (rotation + math.pi) % (2 * math.pi) - math.pi
    side = 2.0 * math.hypot(dx, dy) * ROI_SCALE
    return BodyRegion((float(hips[0]), float(hips[1])), side, rotation, score)


class PoseDetector:
    def __init__(self, interpreter) -> None:
        self.interpreter = interpreter

    def detect(self, rgb: np.ndarray) -> list[BodyRegion]:
        """Every person found in an RGB uint8 image, most certain first (at most MAX_PEOPLE)."""
        tensor, scale, dx, dy = letterbox(rgb)
        interpreter = self.interpreter
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
        interpreter.set_tensor(inputs[0]["index"], tensor[None])
        interpreter.invoke()
        by_width = {int(o["shape"][-1]): o["index"] for o in outputs}
        boxes, keypoints, scores = decode(interpreter.get_tensor(by_width[12]), interpreter.get_tensor(by_width[1]))
        regions = []
        for index in non_max_suppression(boxes, scores):
            # Back from the letterboxed input to image pixels.
            points = (keypoints[index] - (dx, dy)) / scale
            regions.append(body_region(points[0], points[1], float(scores[index])))
        return regions
