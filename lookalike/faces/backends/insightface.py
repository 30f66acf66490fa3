"""InsightFace buffalo_l: SCRFD det_10g detector + ArcFace w600k_r50 encoder (ONNX).

IP-Adapter-FaceID was trained on buffalo_l ArcFace embeddings, so the encoder
that conditions the generator has to be this one. This is our own
implementation on onnxruntime; the ``insightface`` package is not needed.

onnxruntime is imported inside the constructors so that importing this
module (the CLI does, to list model packs) stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lookalike.catalog.files import ModelPack, RemoteFile, locate
from lookalike.errors import ModelIntegrityError, ModelUnavailableError
from lookalike.faces.align import align_112
from lookalike.faces.types import Detection

_BUFFALO_L_ZIP = "https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip"

# Digests of the two members of the v0.7 release zip, as published by several
# independent projects that pin them (they all agree).
_DET_10G_SHA256 = "5838f7fe053675b1c7a08b633df49e7af5495cee0493c7dcf6697200b85b5b91"
_W600K_R50_SHA256 = "4c06341c33c2ca1f86781dab0e829f88ad5b64be9fba56e56bc9ebdefc619e43"

BUFFALO_L = ModelPack(
    id="buffalo_l",
    title="InsightFace buffalo_l (SCRFD-10G detector + ArcFace R50 WebFace600K)",
    license="InsightFace pretrained models: non-commercial research use only",
    files=(
        RemoteFile(
            url=_BUFFALO_L_ZIP,
            path="insightface/buffalo_l/det_10g.onnx",
            sha256=_DET_10G_SHA256,
            archive_member="det_10g.onnx",
        ),
        RemoteFile(
            url=_BUFFALO_L_ZIP,
            path="insightface/buffalo_l/w600k_r50.onnx",
            sha256=_W600K_R50_SHA256,
            archive_member="w600k_r50.onnx",
        ),
    ),
)

_STRIDES = (8, 16, 32)
_KIND_BY_WIDTH = {1: "scores", 4: "boxes", 10: "kps"}
_ARCFACE_SIZE = 112


def _open_session(model_path: Path) -> Any:
    """An onnxruntime CPU session, or a typed error naming the file."""
    import onnxruntime as ort
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

    model_path = Path(model_path)
    if not model_path.is_file():
        raise ModelUnavailableError(
            f"ONNX model {model_path} does not exist.",
            hint=f"Run `{BUFFALO_L.pull_command}` or copy the file to {model_path}.",
            details={"missing": str(model_path)},
        )
    load_errors = (
        ort_state.Fail,
        ort_state.InvalidArgument,
        ort_state.InvalidGraph,
        ort_state.InvalidProtobuf,
        ort_state.NoSuchFile,
        ort_state.NotImplemented,
        ort_state.RuntimeException,
    )
    try:
        return ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    except load_errors as exc:
        raise ModelIntegrityError(
            f"{model_path} is not a loadable ONNX model: {exc}",
            hint=f"Delete {model_path} and run `{BUFFALO_L.pull_command}` again.",
        ) from exc


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"`image` must be an RGB uint8 array of shape (H, W, 3), got dtype {image.dtype} shape {image.shape}."
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"`image` is empty: shape {image.shape}.")
    return image


def _nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first.

    insightface's ``SCRFD.nms``: boxes count in whole pixels, inclusive, so
    widths, heights and overlaps all get the ``+ 1`` (its ``areas = (x2 - x1 +
    1) * (y2 - y1 + 1)``). Without it two small overlapping faces are judged
    less overlapping than insightface judges them, and both may be kept.
    Ties in score keep the earlier box (insightface's order there is that of
    an unstable sort).
    """
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        inter_w = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        inter_h = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        inter = inter_w * inter_h
        union = areas[best] + areas[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


class SCRFDDetector:
    """SCRFD face detector with 5 keypoints (buffalo_* ``det_*.onnx`` layout).

    The model sees the image letterboxed into an ``input_size`` square (aspect
    kept, padding at the bottom and right), as in training and in insightface,
    so scores match what the published thresholds were tuned on.
    """

    name = "scrfd"

    def __init__(self, model_path: Path, input_size: int = 640, nms_threshold: float = 0.4) -> None:
        self.model_path = Path(model_path)
        self._session = _open_session(self.model_path)
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ModelIntegrityError(
                f"{self.model_path} is not an SCRFD detector: expected one NCHW image input, "
                f"got {[(i.name, i.shape) for i in inputs]}.",
                hint=f"Use a SCRFD detector such as det_10g.onnx from `{BUFFALO_L.pull_command}`.",
            )
        self._input_name = inputs[0].name
        height, width = inputs[0].shape[2], inputs[0].shape[3]
        if isinstance(height, int) and isinstance(width, int):
            # An export with a baked-in size only runs at that size.
            self.input_size = (height, width)
        else:
            if input_size <= 0 or input_size % max(_STRIDES) != 0:
                raise ValueError(f"`input_size` must be a positive multiple of {max(_STRIDES)}, got {input_size}.")
            self.input_size = (input_size, input_size)
        self.nms_threshold = nms_threshold
        self._output_names, self._groups = self._read_outputs()
        self._centers: dict[tuple[int, int, int, int], np.ndarray] = {}

    def _read_outputs(self) -> tuple[list[str], dict[str, list[int]]]:
        outputs = self._session.get_outputs()
        names = [o.name for o in outputs]
        if len(outputs) == 2 * len(_STRIDES):
            raise ModelIntegrityError(
                f"{self.model_path} is an SCRFD detector without keypoint outputs (6 outputs); "
                "face alignment needs the 5 landmarks.",
                hint="Use a keypoint SCRFD model (the *_kps exports, or det_10g.onnx from "
                f"`{BUFFALO_L.pull_command}`).",
            )
        if len(outputs) != 3 * len(_STRIDES):
            raise ModelIntegrityError(
                f"{self.model_path} does not have the SCRFD layout: expected 9 outputs "
                f"(scores, boxes, keypoints at strides {_STRIDES}), got {len(outputs)}.",
                hint=f"Use det_10g.onnx from `{BUFFALO_L.pull_command}`.",
            )
        groups: dict[str, list[int]] = {kind: [] for kind in _KIND_BY_WIDTH.values()}
        for index, output in enumerate(outputs):
            width = output.shape[-1] if output.shape else None
            kind = _KIND_BY_WIDTH.get(width) if isinstance(width, int) else None
            if kind is None:
                break
            groups[kind].append(index)
        if any(len(indices) != len(_STRIDES) for indices in groups.values()):
            # Widths not declared in the graph: fall back to the export order
            # every SCRFD model uses (3 score, 3 box, 3 keypoint tensors).
            n = len(_STRIDES)
            groups = {"scores": list(range(0, n)), "boxes": list(range(n, 2 * n)), "kps": list(range(2 * n, 3 * n))}
        return names, groups

    def _anchor_centers(self, rows: int, cols: int, stride: int, anchors: int) -> np.ndarray:
        key = (rows, cols, stride, anchors)
        centers = self._centers.get(key)
        if centers is None:
            ys, xs = np.mgrid[:rows, :cols]
            centers = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) * stride
            # Each location has `anchors` consecutive rows in the outputs.
            centers = np.repeat(centers, anchors, axis=0)
            self._centers[key] = centers
        return centers

    def _letterbox(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """The network input and the factor that maps its coordinates back, as insightface.

        insightface's ``SCRFD.detect``: the long side (relative to the input's
        aspect) fills the input, the other is cut down to a whole pixel
        (``int``, not rounded), ``cv2.resize`` with its default INTER_LINEAR
        (also when shrinking), and one factor, the height's, maps both axes
        back. The blob is ``(x - 127.5) / 128``.
        """
        in_h, in_w = self.input_size
        h, w = image.shape[:2]
        im_ratio = float(h) / w
        if im_ratio > float(in_h) / in_w:
            new_h, new_w = in_h, int(in_h / im_ratio)
        else:
            new_w, new_h = in_w, int(in_w * im_ratio)
        # insightface fails on a photo so thin that one side rounds to 0 pixels; keep one.
        new_h, new_w = max(1, new_h), max(1, new_w)
        canvas = np.zeros((in_h, in_w, 3), dtype=np.uint8)
        canvas[:new_h, :new_w] = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        blob = (canvas.astype(np.float32) - 127.5) / 128.0
        return blob.transpose(2, 0, 1)[None], float(new_h) / h

    def _split(self, outputs: Sequence[np.ndarray]) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """(stride, scores, boxes, kps) per level, outputs flattened to rows."""
        per_kind = {}
        for kind, width in (("scores", 1), ("boxes", 4), ("kps", 10)):
            arrays = [np.asarray(outputs[i], dtype=np.float32) for i in self._groups[kind]]
            # Batched exports give (1, N, C), others (N, C); rows are the same.
            arrays = [a.reshape(-1, width) for a in arrays]
            # The finest stride has the most rows, whatever order the graph lists them in.
            per_kind[kind] = sorted(arrays, key=len, reverse=True)
        return [
            (stride, per_kind["scores"][i][:, 0], per_kind["boxes"][i], per_kind["kps"][i])
            for i, stride in enumerate(_STRIDES)
        ]

    def detect(self, image: np.ndarray, threshold: float = 0.5) -> list[Detection]:
        """Faces in an RGB uint8 HxWx3 image, best score first."""
        image = _check_image(image)
        blob, det_scale = self._letterbox(image)
        outputs = self._session.run(self._output_names, {self._input_name: blob})
        in_h, in_w = self.input_size

        all_scores, all_boxes, all_kps = [], [], []
        for stride, scores, dist, kps_dist in self._split(outputs):
            rows, cols = in_h // stride, in_w // stride
            anchors, remainder = divmod(len(scores), rows * cols)
            if remainder or anchors < 1 or len(dist) != len(scores) or len(kps_dist) != len(scores):
                raise ModelIntegrityError(
                    f"{self.model_path}: stride-{stride} outputs have {len(scores)}/{len(dist)}/{len(kps_dist)} rows, "
                    f"which do not fit a {rows}x{cols} feature map.",
                    hint=f"Use det_10g.onnx from `{BUFFALO_L.pull_command}`.",
                )
            keep = np.flatnonzero(scores >= threshold)
            if keep.size == 0:
                continue
            centers = self._anchor_centers(rows, cols, stride, anchors)[keep]
            dist = dist[keep] * stride
            boxes = np.concatenate([centers - dist[:, :2], centers + dist[:, 2:]], axis=1)
            kps = np.tile(centers, 5) + kps_dist[keep] * stride
            all_scores.append(scores[keep])
            all_boxes.append(boxes)
            all_kps.append(kps.reshape(-1, 5, 2))
        if not all_scores:
            return []

        scores = np.concatenate(all_scores)
        boxes = np.concatenate(all_boxes)
        kps = np.concatenate(all_kps)
        # Mapped back before NMS, as insightface does (its NMS sees photo pixels).
        boxes = boxes / det_scale
        kps = kps / det_scale
        keep = _nms(boxes, scores, self.nms_threshold)
        boxes, kps = boxes[keep], kps[keep]
        return [
            Detection(
                box=tuple(float(v) for v in box),
                score=float(score),
                landmarks=np.ascontiguousarray(points, dtype=np.float32),
            )
            for box, score, points in zip(boxes, scores[keep], kps, strict=True)
        ]


class ArcFaceEncoder:
    """ArcFace recogniser on the 112x112 crop (buffalo_l's ``w600k_r50.onnx``).

    The name is the key tunes store these embeddings under; the adapter was
    trained on exactly these vectors.
    """

    name = "buffalo_l"

    def __init__(self, model_path: Path) -> None:
        self.model_path = Path(model_path)
        self._session = _open_session(self.model_path)
        inputs = self._session.get_inputs()
        outputs = self._session.get_outputs()
        shape = list(inputs[0].shape) if len(inputs) == 1 else []
        image_ok = (
            len(shape) == 4
            and shape[1:] == [3, _ARCFACE_SIZE, _ARCFACE_SIZE]
            and (not isinstance(shape[0], int) or shape[0] >= 1)
            and inputs[0].type == "tensor(float)"
        )
        out_shape = list(outputs[0].shape) if len(outputs) == 1 else []
        if not image_ok or len(out_shape) != 2:
            raise ModelIntegrityError(
                f"{self.model_path} is not an ArcFace recogniser: expected one float input "
                f"[batch, 3, {_ARCFACE_SIZE}, {_ARCFACE_SIZE}] and one [batch, dim] output, got inputs "
                f"{[(i.name, i.shape, i.type) for i in inputs]} and outputs {[(o.name, o.shape) for o in outputs]}.",
                hint=f"Use w600k_r50.onnx from `{BUFFALO_L.pull_command}`.",
            )
        self._input_name = inputs[0].name
        self._output_name = outputs[0].name
        self._input_mean, self._input_std = _arcface_normalisation(self.model_path)
        # A fixed batch dimension (usually 1) means the faces go through in chunks of it.
        self._batch = shape[0] if isinstance(shape[0], int) else None
        self.dim = out_shape[1] if isinstance(out_shape[1], int) else self._probe_dim()

    def _probe_dim(self) -> int:
        blob = np.zeros((self._batch or 1, 3, _ARCFACE_SIZE, _ARCFACE_SIZE), dtype=np.float32)
        return int(self._run(blob).shape[1])

    def _run(self, blob: np.ndarray) -> np.ndarray:
        out = self._session.run([self._output_name], {self._input_name: blob})[0]
        return np.asarray(out, dtype=np.float32).reshape(len(blob), -1)

    def embed(self, image: np.ndarray, landmarks: list[np.ndarray]) -> np.ndarray:
        """Return an (N, dim) float32 array, L2-normalised rows, one per face."""
        image = _check_image(image)
        if len(landmarks) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        crops = []
        for index, points in enumerate(landmarks):
            points = np.asarray(points, dtype=np.float32)
            if points.shape != (5, 2):
                raise ValueError(f"`landmarks[{index}]` must have shape (5, 2), got {points.shape}.")
            crops.append(align_112(image, points))
        blob = ((np.stack(crops).astype(np.float32) - self._input_mean) / self._input_std).transpose(0, 3, 1, 2)
        blob = np.ascontiguousarray(blob)

        if self._batch is None:
            vectors = self._run(blob)
        else:
            chunks = []
            for start in range(0, len(blob), self._batch):
                chunk = blob[start : start + self._batch]
                filled = len(chunk)
                if filled < self._batch:
                    pad = np.zeros((self._batch - filled, *chunk.shape[1:]), dtype=np.float32)
                    chunk = np.concatenate([chunk, pad])
                chunks.append(self._run(chunk)[:filled])
            vectors = np.concatenate(chunks)
        if vectors.shape[1] != self.dim:
            raise ModelIntegrityError(
                f"{self.model_path} returned {vectors.shape[1]}-d vectors, expected {self.dim}.",
                hint=f"Use w600k_r50.onnx from `{BUFFALO_L.pull_command}`.",
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def _arcface_normalisation(model_path: Path) -> tuple[float, float]:
    """(mean, std) for an ArcFace graph, by insightface's own rule (``ArcFaceONNX.__init__``).

    Models converted from MXNet carry their own normalisation: a ``Sub`` (or
    ``_minus``) and a ``Mul`` (or ``_mul``) node among the graph's first 8,
    and take raw pixels (mean 0, std 1). The others (buffalo_l's
    ``w600k_r50.onnx``) take ``(x - 127.5) / 127.5``.
    """
    import onnx

    nodes = onnx.load(str(model_path), load_external_data=False).graph.node[:8]
    has_sub = any(n.name.startswith(("Sub", "_minus")) for n in nodes)
    has_mul = any(n.name.startswith(("Mul", "_mul")) for n in nodes)
    return (0.0, 1.0) if has_sub and has_mul else (127.5, 127.5)


def load_buffalo_l(models_dir: Path) -> tuple[SCRFDDetector, ArcFaceEncoder]:
    """The buffalo_l detector and encoder from ``models_dir``, or a clear error naming the pull command."""
    det_path, rec_path = locate(BUFFALO_L, Path(models_dir))
    return SCRFDDetector(det_path), ArcFaceEncoder(rec_path)
