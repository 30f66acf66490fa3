"""Random weights in the published layouts of the finishing steps' models.

Nothing here comes from lookalike, so a name, shape or order that our
loaders spelled differently from the published files fails the tests.

* ``inswapper_graph``: ``inswapper_128.onnx``'s signature as insightface's
  ``INSwapper`` reads it: image input first (``target`` [1, 3, 128, 128],
  RGB in [0, 1]), latent second (``source`` [1, 512]), one output
  (``output`` [1, 3, 128, 128] in [0, 1]), and the 512x512 ``emap`` as the
  graph's *last* initializer, which ``INSwapper.__init__`` takes by position.
  The random body makes every output pixel depend on the crop and on the
  latent (a conv of the target plus a per-channel shift from the latent,
  through a sigmoid), so a wrong normalisation, channel order or latent fails.
* ``AuthorsGFPGANv1Clean``: TencentARC/GFPGAN's ``GFPGANv1Clean`` with its
  clean StyleGAN2 decoder (``gfpgan/archs/gfpganv1_clean_arch.py``,
  ``stylegan2_clean_arch.py``, v1.3.8), rebuilt from reading their code:
  their class names, attribute names and construction order, so the
  ``state_dict`` keys are theirs, and their forward pass (the style code
  through ``final_linear`` reshaped for ``different_w``, ``input_is_latent``,
  fresh noise per ``StyleConv``). The authors' package cannot be imported
  here: ``gfpgan/__init__`` imports all of BasicSR, which needs torchvision
  (not installed; its wheels pin other torch builds) and imports
  ``torchvision.transforms.functional_tensor``, removed in torchvision 0.17.
  ``GFPGANER_V14`` are the arguments ``gfpgan.utils.GFPGANer`` builds v1.4 with.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

INSWAPPER_SIZE = 128
EMAP_DIM = 512


def inswapper_graph(path: Path, *, seed: int = 0) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    conv_w = rng.standard_normal((3, 3, 3, 3)).astype(np.float32) * 0.5
    latent_w = rng.standard_normal((EMAP_DIM, 3)).astype(np.float32) * 2.0
    emap = (rng.standard_normal((EMAP_DIM, EMAP_DIM)) / math.sqrt(EMAP_DIM)).astype(np.float32)
    target = helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, INSWAPPER_SIZE, INSWAPPER_SIZE])
    source = helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, EMAP_DIM])
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, INSWAPPER_SIZE, INSWAPPER_SIZE])
    nodes = [
        # 2 * target - 1: the conv sees the [0, 1] input centred, so the output spreads over [0, 1].
        helper.make_node("Mul", ["target", "two"], ["scaled"]),
        helper.make_node("Sub", ["scaled", "one"], ["centred"]),
        helper.make_node("Conv", ["centred", "conv_w"], ["features"], pads=[1, 1, 1, 1]),
        helper.make_node("MatMul", ["source", "latent_w"], ["shift"]),
        helper.make_node("Reshape", ["shift", "shift_shape"], ["shift4"]),
        helper.make_node("Add", ["features", "shift4"], ["raw"]),
        helper.make_node("Sigmoid", ["raw"], ["output"]),
    ]
    initializers = [
        numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"),
        numpy_helper.from_array(conv_w, "conv_w"),
        numpy_helper.from_array(latent_w, "latent_w"),
        numpy_helper.from_array(np.array([1, 3, 1, 1], dtype=np.int64), "shift_shape"),
        numpy_helper.from_array(emap, "emap"),  # last, as in the published file
    ]
    graph = helper.make_graph(nodes, "inswapper_random", [target, source], [output], initializer=initializers)
    import onnx

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


# gfpgan/utils.py, GFPGANer.__init__ with arch="clean" (the v1.3 and v1.4 releases).
GFPGANER_V14 = dict(
    out_size=512,
    num_style_feat=512,
    channel_multiplier=2,
    decoder_load_path=None,
    fix_decoder=False,
    num_mlp=8,
    input_is_latent=True,
    different_w=True,
    narrow=1,
    sft_half=True,
)


def authors_gfpgan(**overrides):
    """The authors' GFPGANv1Clean with GFPGANer's v1.4 arguments, ``overrides`` applied (a narrower test net)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class NormStyleCode(nn.Module):
        def forward(self, x):
            return x * torch.rsqrt(torch.mean(x**2, dim=1, keepdim=True) + 1e-8)

    class ModulatedConv2d(nn.Module):
        def __init__(self, in_channels, out_channels, kernel_size, num_style_feat, demodulate=True,
                     sample_mode=None, eps=1e-8):
            super().__init__()
            self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
            self.demodulate, self.sample_mode, self.eps = demodulate, sample_mode, eps
            self.modulation = nn.Linear(num_style_feat, in_channels, bias=True)
            self.weight = nn.Parameter(
                torch.randn(1, out_channels, in_channels, kernel_size, kernel_size)
                / math.sqrt(in_channels * kernel_size**2)
            )
            self.padding = kernel_size // 2

        def forward(self, x, style):
            b, c, h, w = x.shape
            style = self.modulation(style).view(b, 1, c, 1, 1)
            weight = self.weight * style
            if self.demodulate:
                demod = torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + self.eps)
                weight = weight * demod.view(b, self.out_channels, 1, 1, 1)
            weight = weight.view(b * self.out_channels, c, self.kernel_size, self.kernel_size)
            if self.sample_mode == "upsample":
                x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            elif self.sample_mode == "downsample":
                x = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
            b, c, h, w = x.shape
            out = F.conv2d(x.view(1, b * c, h, w), weight, padding=self.padding, groups=b)
            return out.view(b, self.out_channels, *out.shape[2:4])

    class StyleConv(nn.Module):
        def __init__(self, in_channels, out_channels, kernel_size, num_style_feat, demodulate=True,
                     sample_mode=None):
            super().__init__()
            self.modulated_conv = ModulatedConv2d(in_channels, out_channels, kernel_size, num_style_feat,
                                                  demodulate=demodulate, sample_mode=sample_mode)
            self.weight = nn.Parameter(torch.zeros(1))
            self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))
            self.activate = nn.LeakyReLU(negative_slope=0.2, inplace=True)

        def forward(self, x, style, noise=None):
            out = self.modulated_conv(x, style) * 2**0.5
            if noise is None:
                b, _, h, w = out.shape
                noise = out.new_empty(b, 1, h, w).normal_()
            out = out + self.weight * noise
            out = out + self.bias
            return self.activate(out)

    class ToRGB(nn.Module):
        def __init__(self, in_channels, num_style_feat, upsample=True):
            super().__init__()
            self.upsample = upsample
            self.modulated_conv = ModulatedConv2d(in_channels, 3, kernel_size=1, num_style_feat=num_style_feat,
                                                  demodulate=False, sample_mode=None)
            self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

        def forward(self, x, style, skip=None):
            out = self.modulated_conv(x, style) + self.bias
            if skip is not None:
                if self.upsample:
                    skip = F.interpolate(skip, scale_factor=2, mode="bilinear", align_corners=False)
                out = out + skip
            return out

    class ConstantInput(nn.Module):
        def __init__(self, num_channel, size):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(1, num_channel, size, size))

        def forward(self, batch):
            return self.weight.repeat(batch, 1, 1, 1)

    def channel_table(narrow, channel_multiplier):
        return {
            "4": int(512 * narrow), "8": int(512 * narrow), "16": int(512 * narrow), "32": int(512 * narrow),
            "64": int(256 * channel_multiplier * narrow), "128": int(128 * channel_multiplier * narrow),
            "256": int(64 * channel_multiplier * narrow), "512": int(32 * channel_multiplier * narrow),
            "1024": int(16 * channel_multiplier * narrow),
        }

    class StyleGAN2GeneratorClean(nn.Module):
        def __init__(self, out_size, num_style_feat=512, num_mlp=8, channel_multiplier=2, narrow=1):
            super().__init__()
            self.num_style_feat = num_style_feat
            layers = [NormStyleCode()]
            for _ in range(num_mlp):
                layers.extend([nn.Linear(num_style_feat, num_style_feat, bias=True),
                               nn.LeakyReLU(negative_slope=0.2, inplace=True)])
            self.style_mlp = nn.Sequential(*layers)
            channels = channel_table(narrow, channel_multiplier)
            self.channels = channels
            self.constant_input = ConstantInput(channels["4"], size=4)
            self.style_conv1 = StyleConv(channels["4"], channels["4"], kernel_size=3, num_style_feat=num_style_feat,
                                         demodulate=True, sample_mode=None)
            self.to_rgb1 = ToRGB(channels["4"], num_style_feat, upsample=False)
            self.log_size = int(math.log(out_size, 2))
            self.num_layers = (self.log_size - 2) * 2 + 1
            self.num_latent = self.log_size * 2 - 2
            self.style_convs = nn.ModuleList()
            self.to_rgbs = nn.ModuleList()
            self.noises = nn.Module()
            in_channels = channels["4"]
            for layer_idx in range(self.num_layers):
                resolution = 2 ** ((layer_idx + 5) // 2)
                self.noises.register_buffer(f"noise{layer_idx}", torch.randn(1, 1, resolution, resolution))
            for i in range(3, self.log_size + 1):
                out_channels = channels[f"{2**i}"]
                self.style_convs.append(StyleConv(in_channels, out_channels, kernel_size=3,
                                                  num_style_feat=num_style_feat, demodulate=True,
                                                  sample_mode="upsample"))
                self.style_convs.append(StyleConv(out_channels, out_channels, kernel_size=3,
                                                  num_style_feat=num_style_feat, demodulate=True, sample_mode=None))
                self.to_rgbs.append(ToRGB(out_channels, num_style_feat, upsample=True))
                in_channels = out_channels

    class StyleGAN2GeneratorCSFT(StyleGAN2GeneratorClean):
        def __init__(self, out_size, num_style_feat=512, num_mlp=8, channel_multiplier=2, narrow=1, sft_half=False):
            super().__init__(out_size, num_style_feat=num_style_feat, num_mlp=num_mlp,
                             channel_multiplier=channel_multiplier, narrow=narrow)
            self.sft_half = sft_half

        def forward(self, styles, conditions, input_is_latent=False, noise=None, randomize_noise=True):
            if not input_is_latent:
                styles = [self.style_mlp(s) for s in styles]
            if noise is None:
                if randomize_noise:
                    noise = [None] * self.num_layers
                else:
                    noise = [getattr(self.noises, f"noise{i}") for i in range(self.num_layers)]
            # One style (GFPGAN passes one): per-layer codes as given, or one code repeated.
            latent = styles[0] if styles[0].ndim >= 3 else styles[0].unsqueeze(1).repeat(1, self.num_latent, 1)
            out = self.constant_input(latent.shape[0])
            out = self.style_conv1(out, latent[:, 0], noise=noise[0])
            skip = self.to_rgb1(out, latent[:, 1])
            i = 1
            for conv1, conv2, noise1, noise2, to_rgb in zip(self.style_convs[::2], self.style_convs[1::2],
                                                            noise[1::2], noise[2::2], self.to_rgbs):
                out = conv1(out, latent[:, i], noise=noise1)
                if i < len(conditions):
                    if self.sft_half:
                        out_same, out_sft = torch.split(out, int(out.size(1) // 2), dim=1)
                        out_sft = out_sft * conditions[i - 1] + conditions[i]
                        out = torch.cat([out_same, out_sft], dim=1)
                    else:
                        out = out * conditions[i - 1] + conditions[i]
                out = conv2(out, latent[:, i + 1], noise=noise2)
                skip = to_rgb(out, latent[:, i + 2], skip)
                i += 2
            return skip, None

    class ResBlock(nn.Module):
        def __init__(self, in_channels, out_channels, mode="down"):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, in_channels, 3, 1, 1)
            self.conv2 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
            self.skip = nn.Conv2d(in_channels, out_channels, 1, bias=False)
            self.scale_factor = 0.5 if mode == "down" else 2

        def forward(self, x):
            out = F.leaky_relu_(self.conv1(x), negative_slope=0.2)
            out = F.interpolate(out, scale_factor=self.scale_factor, mode="bilinear", align_corners=False)
            out = F.leaky_relu_(self.conv2(out), negative_slope=0.2)
            x = F.interpolate(x, scale_factor=self.scale_factor, mode="bilinear", align_corners=False)
            return out + self.skip(x)

    class GFPGANv1Clean(nn.Module):
        def __init__(self, out_size, num_style_feat=512, channel_multiplier=1, decoder_load_path=None,
                     fix_decoder=True, num_mlp=8, input_is_latent=False, different_w=False, narrow=1,
                     sft_half=False):
            super().__init__()
            assert decoder_load_path is None  # a path to pre-trained decoder weights: not used by GFPGANer
            self.input_is_latent = input_is_latent
            self.different_w = different_w
            self.num_style_feat = num_style_feat
            channels = channel_table(narrow * 0.5, channel_multiplier)  # unet_narrow
            self.log_size = int(math.log(out_size, 2))
            first_out_size = 2 ** int(math.log(out_size, 2))
            self.conv_body_first = nn.Conv2d(3, channels[f"{first_out_size}"], 1)
            in_channels = channels[f"{first_out_size}"]
            self.conv_body_down = nn.ModuleList()
            for i in range(self.log_size, 2, -1):
                out_channels = channels[f"{2 ** (i - 1)}"]
                self.conv_body_down.append(ResBlock(in_channels, out_channels, mode="down"))
                in_channels = out_channels
            self.final_conv = nn.Conv2d(in_channels, channels["4"], 3, 1, 1)
            in_channels = channels["4"]
            self.conv_body_up = nn.ModuleList()
            for i in range(3, self.log_size + 1):
                out_channels = channels[f"{2**i}"]
                self.conv_body_up.append(ResBlock(in_channels, out_channels, mode="up"))
                in_channels = out_channels
            self.toRGB = nn.ModuleList()
            for i in range(3, self.log_size + 1):
                self.toRGB.append(nn.Conv2d(channels[f"{2**i}"], 3, 1))
            linear_out = (int(math.log(out_size, 2)) * 2 - 2) * num_style_feat if different_w else num_style_feat
            self.final_linear = nn.Linear(channels["4"] * 4 * 4, linear_out)
            self.stylegan_decoder = StyleGAN2GeneratorCSFT(out_size=out_size, num_style_feat=num_style_feat,
                                                           num_mlp=num_mlp, channel_multiplier=channel_multiplier,
                                                           narrow=narrow, sft_half=sft_half)
            if fix_decoder:
                for _, param in self.stylegan_decoder.named_parameters():
                    param.requires_grad = False
            self.condition_scale = nn.ModuleList()
            self.condition_shift = nn.ModuleList()
            for i in range(3, self.log_size + 1):
                out_channels = channels[f"{2**i}"]
                sft_out_channels = out_channels if sft_half else out_channels * 2
                self.condition_scale.append(nn.Sequential(
                    nn.Conv2d(out_channels, out_channels, 3, 1, 1), nn.LeakyReLU(0.2, True),
                    nn.Conv2d(out_channels, sft_out_channels, 3, 1, 1)))
                self.condition_shift.append(nn.Sequential(
                    nn.Conv2d(out_channels, out_channels, 3, 1, 1), nn.LeakyReLU(0.2, True),
                    nn.Conv2d(out_channels, sft_out_channels, 3, 1, 1)))

        def forward(self, x, return_latents=False, return_rgb=True, randomize_noise=True, **kwargs):
            conditions, unet_skips, out_rgbs = [], [], []
            feat = F.leaky_relu_(self.conv_body_first(x), negative_slope=0.2)
            for i in range(self.log_size - 2):
                feat = self.conv_body_down[i](feat)
                unet_skips.insert(0, feat)
            feat = F.leaky_relu_(self.final_conv(feat), negative_slope=0.2)
            style_code = self.final_linear(feat.view(feat.size(0), -1))
            if self.different_w:
                style_code = style_code.view(style_code.size(0), -1, self.num_style_feat)
            for i in range(self.log_size - 2):
                feat = feat + unet_skips[i]
                feat = self.conv_body_up[i](feat)
                scale = self.condition_scale[i](feat)
                conditions.append(scale.clone())
                shift = self.condition_shift[i](feat)
                conditions.append(shift.clone())
                if return_rgb:
                    out_rgbs.append(self.toRGB[i](feat))
            image, _ = self.stylegan_decoder([style_code], conditions, input_is_latent=self.input_is_latent,
                                             randomize_noise=randomize_noise)
            return image, out_rgbs

    return GFPGANv1Clean(**{**GFPGANER_V14, **overrides})
