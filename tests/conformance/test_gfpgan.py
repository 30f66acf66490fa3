"""GFPGAN v1.4: lookalike's network and loader against the authors' architecture.

The reference is TencentARC/GFPGAN's ``GFPGANv1Clean`` as ``GFPGANer``
builds it for v1.4 (``finishing_layouts.authors_gfpgan``: their module tree
and forward pass, rebuilt because their package cannot be imported here),
with their tensor conversions (``img2tensor`` of the BGR crop / 255,
``normalize(0.5, 0.5)``; ``tensor2img(min_max=(-1, 1))``, which rounds).

* Full size, on the meta device: the authors' ``state_dict`` (the
  ``params_ema`` of ``GFPGANv1.4.pth``) has exactly our keys and shapes, and
  our loader reads the v1.4 hyper-parameters back from it and loads it
  strictly, unchanged.
* Numbers, on a 1/16-wide net of the same layout (random, seeded, saved as
  ``{"params_ema": ...}``, loaded by ``face_restore.load_restorer``): the
  same aligned 512x512 face and seed give the same restored face.

Tolerance: float32 on the CPU, the same operations in the same order; the
only difference is the input scaling (``x / 127.5 - 1`` here, ``(x / 255 -
0.5) / 0.5`` in float64 then float32 there), so ``RAW_ATOL`` 1e-5 on the
network's output and at most one level (``PIXEL_ATOL``) on the image.
"""

from __future__ import annotations

import numpy as np
import torch

from .finishing_layouts import authors_gfpgan

RAW_ATOL = 1e-5
PIXEL_ATOL = 1
SEED = 11
NARROW = dict(num_style_feat=32, num_mlp=2, narrow=1 / 16)  # 1/16 of the width, 2 MLP layers: ~0.2 s a pass
RESULTS: dict[str, float] = {}


def _report(key: str, value: float) -> None:
    RESULTS[key] = value
    print(f"\nconformance {key}: largest difference {value:.3g}")


def test_the_published_v14_layout_loads_unchanged():
    from lookalike.postprocess.archs.gfpgan import GFPGANv1Clean

    with torch.device("meta"):
        theirs = authors_gfpgan().state_dict()
        ours = GFPGANv1Clean.from_state_dict(theirs)
    mine = ours.state_dict()
    assert {k: tuple(v.shape) for k, v in mine.items()} == {k: tuple(v.shape) for k, v in theirs.items()}
    assert theirs["final_linear.weight"].shape == (16 * 512, 256 * 16)  # different_w: 16 codes of 512
    assert "stylegan_decoder.noises.noise14" in mine and "toRGB.6.weight" in mine  # buffers and unused heads too
    assert (ours.out_size, ours.num_style_feat, len(ours.condition_scale)) == (512, 512, 7)


def _authors_net():
    torch.manual_seed(0)
    net = authors_gfpgan(**NARROW).eval()
    # Noise strengths start at zero; trained ones are not, and the noise must then be drawn alike.
    for module in net.modules():
        if module.__class__.__name__ == "StyleConv":
            module.weight.data.fill_(0.5)
    return net


def _theirs_restore(net, crop_rgb: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """GFPGANer.enhance's steps for one aligned face (its crops are BGR; ours RGB)."""
    import cv2

    bgr = np.ascontiguousarray(crop_rgb[:, :, ::-1])
    # basicsr img2tensor(bgr / 255., bgr2rgb=True, float32=True), then torchvision normalize(0.5, 0.5).
    img = cv2.cvtColor((bgr / 255.0).astype(np.float32), cv2.COLOR_BGR2RGB)  # img2tensor casts float64 first
    tensor = torch.from_numpy(img.transpose(2, 0, 1)).float()
    tensor = ((tensor - 0.5) / 0.5)[None]
    torch.manual_seed(SEED)
    with torch.no_grad():
        output = net(tensor, return_rgb=False, weight=0.5)[0]
    # basicsr tensor2img(output, rgb2bgr=True, min_max=(-1, 1)), back to RGB.
    out = (output.squeeze(0).float().clamp_(-1, 1) + 1) / 2
    image = (out.numpy().transpose(1, 2, 0) * 255.0).round().astype(np.uint8)
    return output, image


def test_restored_face_equals_the_authors_network(tmp_path):
    from skimage import data

    from lookalike.faces.align import estimate_norm
    from lookalike.postprocess.face_restore import FACE_SIZE, FFHQ_TEMPLATE_512, load_restorer, restore_crop

    from .test_insightface import ASTRONAUT_LANDMARKS

    theirs = _authors_net()
    path = tmp_path / "GFPGANv1.4.pth"
    torch.save({"params_ema": theirs.state_dict()}, path)
    ours = load_restorer(path, torch.device("cpu"))

    import cv2

    matrix = estimate_norm(ASTRONAUT_LANDMARKS, FFHQ_TEMPLATE_512)
    crop = cv2.warpAffine(data.astronaut(), matrix, (FACE_SIZE, FACE_SIZE))
    their_raw, their_image = _theirs_restore(theirs, crop)
    torch.manual_seed(SEED)
    with torch.no_grad():
        my_raw = ours(torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 127.5 - 1.0)
    my_image = restore_crop(ours, crop, seed=SEED, device=torch.device("cpu"))

    raw = float((my_raw - their_raw).abs().max())
    pixels = int(np.abs(my_image.astype(np.int16) - their_image.astype(np.int16)).max())
    _report("gfpgan v1.4 layout, raw output", raw)
    _report("gfpgan v1.4 layout, restored face (levels)", pixels)
    assert float(their_raw.std()) > 0.05, "the random net should give a varied image, not a constant"
    assert raw <= RAW_ATOL, f"outputs differ by {raw}"
    assert pixels <= PIXEL_ATOL, f"restored faces differ by {pixels} levels"


def test_the_noise_is_drawn_where_the_authors_draw_it():
    """The comparison has teeth: another seed (other noise) moves the authors' output far past the tolerance."""
    net = _authors_net()
    x = torch.rand(1, 3, 512, 512) * 2 - 1
    outputs = []
    for seed in (SEED, SEED + 1):
        torch.manual_seed(seed)
        with torch.no_grad():
            outputs.append(net(x, return_rgb=False)[0])
    assert float((outputs[0] - outputs[1]).abs().max()) > 100 * RAW_ATOL
