"""Face swap with InsightFace's inswapper_128 (ONNX), as insightface runs it.

For each face, as insightface's ``INSwapper.get``: align it to the 128x128
ArcFace template (``norm_crop2``: the 112 template shifted 8 px right, the
same scikit-image fit), feed it as RGB in [0, 1] (``cv2.dnn.blobFromImage``)
with the source identity, and paste the 128x128 result back with
insightface's own mask (``inswapper_paste.py``). The source identity is the
tune's **buffalo_l** ArcFace embedding mapped through ``emap``, the 512x512
matrix stored as the model's last initializer: ``latent = normalise(embedding
@ emap)``. Several faces are swapped one after another on the running
result, as insightface's example does. tests/conformance/test_inswapper.py
checks all of it against ``INSwapper`` itself.

Licence: the inswapper weights are InsightFace's, for non-commercial research
use only. The offline warp backend has no such restriction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from lookalike.catalog.files import ModelPack, locate
from lookalike.config import Settings
from lookalike.errors import ModelIntegrityError
from lookalike.faces.align import ARCFACE_TEMPLATE_112, estimate_norm
from lookalike.faces.backends.base import FaceEncoder
from lookalike.postprocess.base import PostprocessContext, StepResult, to_rgb_array
from lookalike.postprocess.face_swap.common import realistic_faces, require_tune
from lookalike.postprocess.models import INSWAPPER_128
from lookalike.postprocess.face_swap.inswapper_paste import paste_swapped
from lookalike.postprocess.torch_runtime import cached

CROP_SIZE = 128
# insightface estimate_norm for a size that is not a multiple of 112: ratio
# size/128 and an 8*ratio shift to the right.
TEMPLATE_128 = (ARCFACE_TEMPLATE_112 + np.array([8.0, 0.0], dtype=np.float32)).astype(np.float32)
EMBEDDING_DIM = 512


@dataclass
class InswapperModel:
    session: object
    emap: np.ndarray
    target_input: str
    source_input: str

    @classmethod
    def load(cls, path: Path) -> InswapperModel:
        import onnx
        import onnxruntime as ort
        from onnx import numpy_helper

        # Only the graph's initializers are needed here; the session reads the file itself.
        graph = onnx.load(str(path)).graph
        if not graph.initializer:
            raise ModelIntegrityError(f"{path} has no initializers; inswapper keeps its emap matrix there.")
        emap = numpy_helper.to_array(graph.initializer[-1]).astype(np.float32)
        if emap.shape != (EMBEDDING_DIM, EMBEDDING_DIM):
            raise ModelIntegrityError(f"{path}: the last initializer is {emap.shape}, not inswapper's 512x512 emap.")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), sess_options=options, providers=_providers(ort))
        inputs = {i.name: i.shape for i in session.get_inputs()}
        if set(inputs) != {"target", "source"} or len(session.get_outputs()) != 1:
            raise ModelIntegrityError(
                f"{path} does not have inswapper's signature (inputs target, source; one output): got {inputs}."
            )
        return cls(session, emap, "target", "source")

    def latent(self, embedding: np.ndarray) -> np.ndarray:
        latent = np.asarray(embedding, dtype=np.float32).reshape(1, -1) @ self.emap
        return (latent / np.linalg.norm(latent)).astype(np.float32)

    def swap(self, aligned_rgb: np.ndarray, latent: np.ndarray) -> np.ndarray:
        # insightface's own call (it swaps its BGR crop to RGB; ours is RGB already), so the bytes match.
        blob = cv2.dnn.blobFromImage(aligned_rgb, 1.0 / 255.0, (CROP_SIZE, CROP_SIZE), (0.0, 0.0, 0.0), swapRB=False)
        (out,) = self.session.run(None, {self.target_input: blob, self.source_input: latent})
        return np.clip(out[0].transpose(1, 2, 0) * 255.0, 0, 255).astype(np.uint8)


def align_for_swap(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 128x128 crop inswapper takes and its 2x3 matrix (image -> crop), as ``norm_crop2(img, kps, 128)``."""
    affine = estimate_norm(landmarks, TEMPLATE_128)
    return cv2.warpAffine(image, affine, (CROP_SIZE, CROP_SIZE), borderValue=0.0), affine


def _providers(ort) -> list[str]:
    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


def _buffalo_l_encoder(settings: Settings) -> FaceEncoder:
    from lookalike.faces.backends.insightface import BUFFALO_L, ArcFaceEncoder

    paths = locate(BUFFALO_L, settings.models_dir)
    return cached(("arcface", str(paths[1])), lambda: ArcFaceEncoder(paths[1]))


class InswapperFaceSwap:
    name = "face_swap"
    backend = "inswapper"

    def __init__(self, settings: Settings, *, pack: ModelPack = INSWAPPER_128,
                 source_encoder: Callable[[Settings], FaceEncoder] | None = None) -> None:
        self.min_score = settings.face_swap_min_score
        self.pack = pack
        # The source must be embedded by buffalo_l, the encoder inswapper was trained with.
        self.source_encoder = source_encoder or _buffalo_l_encoder

    def check(self, context: PostprocessContext) -> None:
        require_tune(context)
        locate(self.pack, context.settings.models_dir, check=False)
        if self.source_encoder is _buffalo_l_encoder:
            from lookalike.faces.backends.insightface import BUFFALO_L

            locate(BUFFALO_L, context.settings.models_dir, check=False)

    def _model(self, context: PostprocessContext) -> InswapperModel:
        models_dir = context.settings.models_dir
        return cached(("inswapper", self.pack.id, str(models_dir)),
                      lambda: InswapperModel.load(locate(self.pack, models_dir)[0]))

    def run(self, image: Image.Image, context: PostprocessContext) -> StepResult:
        tune = require_tune(context)
        array = to_rgb_array(image)
        faces, reason = realistic_faces(context.face_analyzer().detect(array), self.min_score)
        if reason:
            return StepResult(image, skipped_reason=reason, details={"backend": self.backend, "faces": 0})
        model = self._model(context)
        encoder = self.source_encoder(context.settings)
        latent = model.latent(tune.identity(encoder))
        started = time.perf_counter()
        out = array
        for detection in faces:
            aligned, affine = align_for_swap(out, detection.landmarks)
            out = paste_swapped(out, model.swap(aligned, latent), affine)
        return StepResult(
            Image.fromarray(out),
            details={
                "backend": self.backend,
                "faces": len(faces),
                "model": self.pack.id,
                "license": self.pack.license,
                "network_seconds": round(time.perf_counter() - started, 3),
            },
        )
