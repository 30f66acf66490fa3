"""The tiny ControlNet: made from the tiny UNet, saved in a real repo's layout, loaded as diffusers loads one."""

from __future__ import annotations

import numpy as np


def test_tiny_controlnet_loads_from_its_pack_folder_and_steers(gen_settings, tiny):
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    from lookalike.catalog.controlnets import controlnet_folder
    from lookalike.catalog.tiny import tiny_model_dir

    folder = controlnet_folder(gen_settings.models_dir, tiny, "canny")
    assert {"config.json", "diffusion_pytorch_model.safetensors"} <= {p.name for p in folder.iterdir()}
    assert controlnet_folder(gen_settings.models_dir, tiny, "canny") == folder  # written once
    controlnet = ControlNetModel.from_pretrained(str(folder), local_files_only=True).eval()
    unet = UNet2DConditionModel.from_pretrained(str(tiny_model_dir(gen_settings.models_dir) / "unet"))
    assert list(controlnet.config.block_out_channels) == list(unet.config.block_out_channels)
    assert controlnet.config.cross_attention_dim == unet.config.cross_attention_dim
    # from_unet copies the UNet's encoder: the same weights, under the same names.
    assert torch.equal(controlnet.conv_in.weight, unet.conv_in.weight)

    generator = torch.Generator().manual_seed(0)
    latents = torch.randn(1, 4, 32, 32, generator=generator)  # the tiny VAE halves 64 px
    text = torch.randn(1, 7, unet.config.cross_attention_dim, generator=generator)
    with torch.no_grad():
        outputs = [
            controlnet(latents, 10, text, controlnet_cond=torch.full((1, 3, 64, 64), fill), return_dict=False)
            for fill in (0.0, 1.0)
        ]
    (down_a, mid_a), (down_b, mid_b) = outputs
    assert [d.shape[-1] for d in down_a][0] == 32
    # The control image reaches the residuals (the zero convolutions are seeded, not zero).
    assert float((mid_a - mid_b).abs().max()) > 1e-4
    assert np.isfinite(mid_a.numpy()).all()
