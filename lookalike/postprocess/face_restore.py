"""Face correct: restore every face in the image with GFPGAN v1.4.

Faces come from the project's detector (FaceAnalyzer), are aligned to the
512x512 FFHQ five-point template GFPGAN was trained on, restored, and pasted
back under a soft mask, one after another, so overlapping faces each get
their turn. The weights are a download (``lookalike models pull gfpgan_v1.4``);
without them the step fails, it is never skipped.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from lookalike.catalog.files import ModelPack, locate
from lookalike.faces.align import similarity_transform
from lookalike.postprocess.base import PostprocessContext, StepResult, to_rgb_array
from lookalike.postprocess.models import GFPGAN_V1_4
from lookalike.postprocess.paste import paste_back
from lookalike.postprocess.torch_runtime import cached, device_and_dtype

FACE_SIZE = 512
# facexlib's FaceRestoreHelper template (eyes, nose tip, mouth corners) for
# 512x512 FFHQ-aligned faces, the alignment GFPGAN and CodeFormer expect.
FFHQ_TEMPLATE_512 = np.array(
    [
        [192.98138, 239.94708],
        [318.90277, 240.1936],
        [256.63416, 314.01935],
        [201.26117, 371.41043],
        [313.08905, 371.15118],
    ],
    dtype=np.float32,
)
# facexlib fills outside the photo with this grey when the face is near the edge.
_BORDER_GREY = (135, 133, 132)


def load_restorer(path: Path, device):
    from lookalike.postprocess.archs.gfpgan import GFPGANv1Clean
    from lookalike.postprocess.weights import load_torch_checkpoint

    net = GFPGANv1Clean.from_state_dict(load_torch_checkpoint(path))
    # GFPGAN's demodulation overflows in fp16; it runs in fp32 everywhere.
    return net.eval().to(device=device)


def restore_crop(net, crop: np.ndarray, *, seed: int, device) -> np.ndarray:
    """One aligned 512x512 RGB uint8 face through the network, reproducibly for a seed."""
    import torch

    tensor = torch.from_numpy(crop).permute(2, 0, 1)[None].to(device=device, dtype=torch.float32) / 127.5 - 1.0
    devices = [device] if device.type == "cuda" else []
    # The decoder draws fresh noise per call; a job's seed fixes it.
    with torch.random.fork_rng(devices=devices), torch.inference_mode():
        torch.manual_seed(seed)
        out = net(tensor)[0].float().clamp_(-1, 1)
    return ((out.permute(1, 2, 0) + 1.0) * 127.5).round_().to(torch.uint8).cpu().numpy()


class FaceCorrect:
    name = "face_correct"

    def __init__(self, pack: ModelPack = GFPGAN_V1_4) -> None:
        # Another pack of the same architecture (a test's stand-in) loads the same way.
        self.pack = pack

    def check(self, context: PostprocessContext) -> None:
        locate(self.pack, context.settings.models_dir, check=False)

    def _network(self, context: PostprocessContext, device):
        models_dir = context.settings.models_dir

        def build():
            # The digest is checked once per process, when the file is loaded.
            (path,) = locate(self.pack, models_dir)
            return load_restorer(path, device)

        return cached(("gfpgan", self.pack.id, str(models_dir), str(device)), build)

    def run(self, image: Image.Image, context: PostprocessContext) -> StepResult:
        array = to_rgb_array(image)
        detections = context.face_analyzer().detect(array)
        if not detections:
            return StepResult(image, skipped_reason="no face found", details={"faces": 0})
        device, _ = device_and_dtype(context.settings, allow_half=False)
        net = self._network(context, device)
        started = time.perf_counter()
        out = array
        for index, detection in enumerate(detections):
            affine = similarity_transform(detection.landmarks, FFHQ_TEMPLATE_512)
            crop = cv2.warpAffine(out, affine, (FACE_SIZE, FACE_SIZE), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=_BORDER_GREY)
            restored = restore_crop(net, crop, seed=context.seed + index, device=device)
            out = paste_back(out, restored, affine)
        return StepResult(
            Image.fromarray(out),
            details={
                "faces": len(detections),
                "model": self.pack.id,
                "network_seconds": round(time.perf_counter() - started, 3),
            },
        )
