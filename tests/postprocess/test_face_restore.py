"""Face correct: the real detector, alignment and paste-back, with a narrow GFPGAN stand-in.

The stand-in is GFPGANv1Clean itself at 1/16 of the width (random, seeded),
saved as a BasicSR-style checkpoint and loaded by the step through the same
loader that reads GFPGANv1.4.pth.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from lookalike.errors import ModelUnavailableError
from lookalike.postprocess.archs.gfpgan import GFPGANv1Clean
from lookalike.postprocess.face_restore import FFHQ_TEMPLATE_512, FaceCorrect
from lookalike.postprocess.models import GFPGAN_V1_4
from tests.postprocess.helpers import context_for, standin_pack

PACK = standin_pack("gfpgan_standin", "postprocess/gfpgan_standin.pth")


def _standin(settings) -> GFPGANv1Clean:
    torch.manual_seed(0)
    net = GFPGANv1Clean(out_size=512, num_style_feat=32, channel_multiplier=2, num_mlp=2, narrow=1 / 16)
    path = settings.models_dir / PACK.files[0].path
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"params_ema": net.state_dict()}, path)
    return net


def test_loader_reads_the_widths_back_from_the_checkpoint(settings):
    net = _standin(settings)
    loaded = GFPGANv1Clean.from_state_dict(net.state_dict())
    assert loaded.num_style_feat == 32
    assert loaded.conv_body_first.out_channels == net.conv_body_first.out_channels
    assert len(loaded.stylegan_decoder.style_convs) == len(net.stylegan_decoder.style_convs)
    x = torch.rand(1, 3, 512, 512) * 2 - 1
    with torch.random.fork_rng():
        torch.manual_seed(1)
        a = net.eval()(x)
        torch.manual_seed(1)
        b = loaded.eval()(x)
    assert a.shape == (1, 3, 512, 512)
    assert torch.allclose(a, b)


def test_full_size_architecture_has_gfpgan_v14_layout():
    # The published checkpoint's encoder starts at 32 channels, the decoder's
    # constant input is 512x4x4 and there are 7 SFT levels (8 to 512 px).
    with torch.device("meta"):
        net = GFPGANv1Clean()
    state = net.state_dict()
    assert state["conv_body_first.weight"].shape == (32, 3, 1, 1)
    assert state["stylegan_decoder.constant_input.weight"].shape == (1, 512, 4, 4)
    assert state["final_linear.weight"].shape == (16 * 512, 256 * 16)
    assert len(net.condition_scale) == 7


def test_restores_the_face_and_leaves_the_rest_untouched(settings, analyzer, astronaut):
    _standin(settings)
    step = FaceCorrect(pack=PACK)
    context = context_for(settings, analyzer, seed=3)
    step.check(context)
    result = step.run(Image.fromarray(astronaut), context)
    out = np.asarray(result.image)
    assert result.skipped_reason is None and result.details["faces"] == 1
    assert out.shape == astronaut.shape

    detection = analyzer.detect(astronaut)[0]
    x1, y1, x2, y2 = (int(v) for v in detection.box)
    face = (slice(y1 + 10, y2 - 10), slice(x1 + 10, x2 - 10))
    assert np.abs(out[face].astype(int) - astronaut[face]).mean() > 10  # a random net changes the face

    # Every pixel outside the aligned 512 square, mapped back, is byte-for-byte the input.
    from lookalike.faces.align import similarity_transform

    affine = similarity_transform(detection.landmarks, FFHQ_TEMPLATE_512)
    square = cv2.warpAffine(np.ones((512, 512), np.uint8), cv2.invertAffineTransform(affine),
                            astronaut.shape[1::-1])
    outside = square == 0
    assert outside.mean() > 0.5
    assert np.array_equal(out[outside], astronaut[outside])


def test_seed_makes_it_reproducible(settings, analyzer, astronaut):
    _standin(settings)
    step = FaceCorrect(pack=PACK)
    a = np.asarray(step.run(Image.fromarray(astronaut), context_for(settings, analyzer, seed=5)).image)
    b = np.asarray(step.run(Image.fromarray(astronaut), context_for(settings, analyzer, seed=5)).image)
    assert np.array_equal(a, b)


def test_every_face_is_restored(settings, analyzer, astronaut, hopper):
    _standin(settings)
    right = cv2.resize(hopper, (astronaut.shape[0] * hopper.shape[1] // hopper.shape[0], astronaut.shape[0]))
    both = np.ascontiguousarray(np.hstack([astronaut, right]))
    result = FaceCorrect(pack=PACK).run(Image.fromarray(both), context_for(settings, analyzer))
    assert result.details["faces"] == 2
    out = np.asarray(result.image)
    for detection in analyzer.detect(both):
        x1, y1, x2, y2 = (int(v) for v in detection.box)
        region = (slice(y1 + 10, y2 - 10), slice(x1 + 10, x2 - 10))
        assert np.abs(out[region].astype(int) - both[region]).mean() > 10


def test_no_face_is_a_recorded_skip(settings, analyzer, cat):
    _standin(settings)
    result = FaceCorrect(pack=PACK).run(Image.fromarray(cat), context_for(settings, analyzer))
    assert result.skipped_reason == "no face found"
    assert np.array_equal(np.asarray(result.image), cat)


def test_missing_weights_fail_naming_the_pull_command(settings, analyzer):
    with pytest.raises(ModelUnavailableError) as info:
        FaceCorrect().check(context_for(settings, analyzer))
    assert f"lookalike models pull {GFPGAN_V1_4.id}" in info.value.hint
