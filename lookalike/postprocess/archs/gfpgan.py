"""GFPGANv1Clean (GFPGAN v1.3/v1.4), after TencentARC/GFPGAN (Apache-2.0).

The "clean" StyleGAN2 decoder (no compiled CUDA ops) with SFT conditions from
a U-Net encoder. Parameter names match ``GFPGANv1.4.pth`` (``params_ema``), so
the published state dict loads with ``strict=True``; ``from_state_dict``
reads the widths back from the tensors, which is also how a test loads a
narrow stand-in through the same path. Inference-only: training code is left out.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class NormStyleCode(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x**2, dim=1, keepdim=True) + 1e-8)


class ModulatedConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, num_style_feat: int,
                 demodulate: bool = True, sample_mode: str | None = None, eps: float = 1e-8) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.demodulate, self.sample_mode, self.eps = demodulate, sample_mode, eps
        self.modulation = nn.Linear(num_style_feat, in_channels, bias=True)
        self.weight = nn.Parameter(
            torch.randn(1, out_channels, in_channels, kernel_size, kernel_size) / math.sqrt(in_channels * kernel_size**2)
        )
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        b, c, _, _ = x.shape
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
        # One grouped conv applies each sample's own modulated weights.
        out = F.conv2d(x.view(1, b * c, h, w), weight, padding=self.padding, groups=b)
        return out.view(b, self.out_channels, *out.shape[2:4])


class StyleConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, num_style_feat: int,
                 demodulate: bool = True, sample_mode: str | None = None) -> None:
        super().__init__()
        self.modulated_conv = ModulatedConv2d(in_channels, out_channels, kernel_size, num_style_feat,
                                              demodulate=demodulate, sample_mode=sample_mode)
        self.weight = nn.Parameter(torch.zeros(1))  # noise strength
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))
        self.activate = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        out = self.modulated_conv(x, style) * 2**0.5
        if noise is None:
            b, _, h, w = out.shape
            noise = out.new_empty(b, 1, h, w).normal_()
        return self.activate(out + self.weight * noise + self.bias)


class ToRGB(nn.Module):
    def __init__(self, in_channels: int, num_style_feat: int, upsample: bool = True) -> None:
        super().__init__()
        self.upsample = upsample
        self.modulated_conv = ModulatedConv2d(in_channels, 3, 1, num_style_feat, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.modulated_conv(x, style) + self.bias
        if skip is not None:
            if self.upsample:
                skip = F.interpolate(skip, scale_factor=2, mode="bilinear", align_corners=False)
            out = out + skip
        return out


class ConstantInput(nn.Module):
    def __init__(self, num_channel: int, size: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, num_channel, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.weight.repeat(batch, 1, 1, 1)


def _channels(multiplier: float, channel_multiplier: int) -> dict[int, int]:
    return {
        4: int(512 * multiplier), 8: int(512 * multiplier), 16: int(512 * multiplier), 32: int(512 * multiplier),
        64: int(256 * channel_multiplier * multiplier), 128: int(128 * channel_multiplier * multiplier),
        256: int(64 * channel_multiplier * multiplier), 512: int(32 * channel_multiplier * multiplier),
        1024: int(16 * channel_multiplier * multiplier),
    }


class StyleGAN2GeneratorCSFT(nn.Module):
    """StyleGAN2 decoder whose features are modulated by spatial (SFT) conditions."""

    def __init__(self, out_size: int, num_style_feat: int = 512, num_mlp: int = 8, channel_multiplier: int = 2,
                 narrow: float = 1, sft_half: bool = True) -> None:
        super().__init__()
        self.num_style_feat = num_style_feat
        self.sft_half = sft_half
        layers: list[nn.Module] = [NormStyleCode()]
        for _ in range(num_mlp):
            layers += [nn.Linear(num_style_feat, num_style_feat, bias=True), nn.LeakyReLU(0.2, inplace=True)]
        self.style_mlp = nn.Sequential(*layers)
        channels = _channels(narrow, channel_multiplier)
        self.constant_input = ConstantInput(channels[4], size=4)
        self.style_conv1 = StyleConv(channels[4], channels[4], 3, num_style_feat)
        self.to_rgb1 = ToRGB(channels[4], num_style_feat, upsample=False)
        self.log_size = int(math.log(out_size, 2))
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.num_latent = self.log_size * 2 - 2
        self.style_convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for layer_idx in range(self.num_layers):
            resolution = 2 ** ((layer_idx + 5) // 2)
            self.noises.register_buffer(f"noise{layer_idx}", torch.randn(1, 1, resolution, resolution))
        in_channels = channels[4]
        for i in range(3, self.log_size + 1):
            out_channels = channels[2**i]
            self.style_convs.append(StyleConv(in_channels, out_channels, 3, num_style_feat, sample_mode="upsample"))
            self.style_convs.append(StyleConv(out_channels, out_channels, 3, num_style_feat))
            self.to_rgbs.append(ToRGB(out_channels, num_style_feat, upsample=True))
            in_channels = out_channels

    def forward(self, latent: torch.Tensor, conditions: list[torch.Tensor]) -> torch.Tensor:
        """``latent``: (b, num_latent, num_style_feat), already in W+ (GFPGAN's encoder gives it)."""
        out = self.style_conv1(self.constant_input(latent.shape[0]), latent[:, 0])
        skip = self.to_rgb1(out, latent[:, 1])
        i = 1
        for conv1, conv2, to_rgb in zip(self.style_convs[::2], self.style_convs[1::2], self.to_rgbs):
            out = conv1(out, latent[:, i])
            if i < len(conditions):
                if self.sft_half:
                    same, sft = torch.split(out, int(out.size(1) // 2), dim=1)
                    out = torch.cat([same, sft * conditions[i - 1] + conditions[i]], dim=1)
                else:
                    out = out * conditions[i - 1] + conditions[i]
            out = conv2(out, latent[:, i + 1])
            skip = to_rgb(out, latent[:, i + 2], skip)
            i += 2
        return skip


class ResBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, mode: str = "down") -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.scale_factor = 0.5 if mode == "down" else 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.leaky_relu_(self.conv1(x), negative_slope=0.2)
        out = F.interpolate(out, scale_factor=self.scale_factor, mode="bilinear", align_corners=False)
        out = F.leaky_relu_(self.conv2(out), negative_slope=0.2)
        x = F.interpolate(x, scale_factor=self.scale_factor, mode="bilinear", align_corners=False)
        return out + self.skip(x)


class GFPGANv1Clean(nn.Module):
    """Input and output: (b, 3, out_size, out_size) RGB in [-1, 1]."""

    def __init__(self, out_size: int = 512, num_style_feat: int = 512, channel_multiplier: int = 2,
                 num_mlp: int = 8, narrow: float = 1, sft_half: bool = True) -> None:
        super().__init__()
        self.num_style_feat = num_style_feat
        self.out_size = out_size
        channels = _channels(narrow * 0.5, channel_multiplier)  # the encoder is half as wide
        self.log_size = int(math.log(out_size, 2))
        first = 2**self.log_size
        self.conv_body_first = nn.Conv2d(3, channels[first], 1)
        in_channels = channels[first]
        self.conv_body_down = nn.ModuleList()
        for i in range(self.log_size, 2, -1):
            self.conv_body_down.append(ResBlock(in_channels, channels[2 ** (i - 1)], mode="down"))
            in_channels = channels[2 ** (i - 1)]
        self.final_conv = nn.Conv2d(in_channels, channels[4], 3, 1, 1)
        in_channels = channels[4]
        self.conv_body_up = nn.ModuleList()
        for i in range(3, self.log_size + 1):
            self.conv_body_up.append(ResBlock(in_channels, channels[2**i], mode="up"))
            in_channels = channels[2**i]
        # Unused at inference, kept so the published state dict loads strictly.
        self.toRGB = nn.ModuleList(nn.Conv2d(channels[2**i], 3, 1) for i in range(3, self.log_size + 1))
        self.final_linear = nn.Linear(channels[4] * 4 * 4, (self.log_size * 2 - 2) * num_style_feat)
        self.stylegan_decoder = StyleGAN2GeneratorCSFT(out_size, num_style_feat, num_mlp, channel_multiplier,
                                                       narrow, sft_half)
        self.condition_scale = nn.ModuleList()
        self.condition_shift = nn.ModuleList()
        for i in range(3, self.log_size + 1):
            ch = channels[2**i]
            sft_ch = ch if sft_half else ch * 2
            for modules in (self.condition_scale, self.condition_shift):
                modules.append(nn.Sequential(nn.Conv2d(ch, ch, 3, 1, 1), nn.LeakyReLU(0.2, True),
                                             nn.Conv2d(ch, sft_ch, 3, 1, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conditions, skips = [], []
        feat = F.leaky_relu_(self.conv_body_first(x), negative_slope=0.2)
        for block in self.conv_body_down:
            feat = block(feat)
            skips.insert(0, feat)
        feat = F.leaky_relu_(self.final_conv(feat), negative_slope=0.2)
        latent = self.final_linear(feat.view(feat.size(0), -1)).view(feat.size(0), -1, self.num_style_feat)
        for i, block in enumerate(self.conv_body_up):
            feat = block(feat + skips[i])
            conditions.append(self.condition_scale[i](feat).clone())
            conditions.append(self.condition_shift[i](feat).clone())
        return self.stylegan_decoder(latent, conditions)

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> GFPGANv1Clean:
        """Build the network the tensors describe, then load them strictly.

        The widths follow from ``conv_body_first`` (32 * channel_multiplier *
        narrow / 2 at 512 px) and ``constant_input`` (512 * narrow).
        """
        num_style_feat = state["stylegan_decoder.style_mlp.1.weight"].shape[0]
        num_mlp = sum(1 for k in state if k.startswith("stylegan_decoder.style_mlp.") and k.endswith(".weight"))
        out_size = 2 ** (2 + sum(1 for k in state if k.startswith("conv_body_down.") and k.endswith("conv1.weight")))
        narrow = state["stylegan_decoder.constant_input.weight"].shape[1] / 512
        first = state["conv_body_first.weight"].shape[0]
        base = {512: 32, 1024: 16, 256: 64}[out_size]
        channel_multiplier = round(first / (base * narrow * 0.5))
        sft_ch = state["condition_scale.0.2.weight"].shape[0]
        sft_half = sft_ch == state["condition_scale.0.0.weight"].shape[0]
        net = cls(out_size=out_size, num_style_feat=num_style_feat, channel_multiplier=channel_multiplier,
                  num_mlp=num_mlp, narrow=narrow, sft_half=sft_half)
        net.load_state_dict(state, strict=True)
        return net
