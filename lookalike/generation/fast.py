"""The fast path: what a loaded pipeline is switched to when the settings ask for speed.

On by default with CUDA, off on the CPU (``Settings.fast_path``). Each
switch is its own setting, and each reports what it did in
``LoadedPipeline.fast`` (``"on"``, ``"off"`` or ``"skipped: <why>"``), so a
switch that cannot work here is skipped with its reason, never a crash:

* dtype: fp16/bf16 come from ``Settings.dtype`` (CUDA defaults to fp16);
  reported, not changed here.
* sdpa: diffusers' default processors already call
  ``F.scaled_dot_product_attention`` (flash / memory-efficient kernels on
  CUDA); checked and reported.
* channels_last: UNet and VAE in NHWC, which cuDNN's fp16 convolutions prefer.
* merge_lora: active LoRAs folded into the base weights (fusion.LoraFolder).
* fuse_qkv: one q/k/v matmul per self-attention (fusion.QkvFuser).
* ip_scale: the IP-Adapter's scale as a tensor (ip_scale.py), so that a
  compiled UNet is not compiled again for every FaceID weight.
* compile: ``torch.compile`` of the UNet and the VAE decoder with
  ``Settings.compile_mode`` ("max-autotune" captures CUDA graphs too). CUDA
  only: on the CPU inductor needs a C++ toolchain and minutes per shape,
  for a gain the plain path's tests would not see.
"""

from __future__ import annotations

import logging
from typing import get_args

from lookalike.config import CompileMode

log = logging.getLogger(__name__)

COMPILE_MODES = get_args(CompileMode)


def fast_path_wanted(settings, device) -> bool:
    if settings.fast_path is None:
        return getattr(device, "type", str(device)) == "cuda"
    return bool(settings.fast_path)


def apply_fast_path(loaded, settings) -> dict[str, str]:
    """Switch ``loaded`` to the fast path as far as the settings and the device allow.

    Called once per loaded pipeline, under its lock, before its first request.
    """
    import torch

    report: dict[str, str] = {}
    on_cuda = loaded.device.type == "cuda"
    if not fast_path_wanted(settings, loaded.device):
        report["fast_path"] = "off" if settings.fast_path is False else "off: the CPU runs the plain path"
        return report
    report["fast_path"] = "on"
    report["dtype"] = str(loaded.dtype).replace("torch.", "")
    pipe = loaded.pipe
    report["sdpa"] = _check_sdpa(pipe.unet, torch)

    if settings.fast_channels_last:
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
        report["channels_last"] = "on"
    else:
        report["channels_last"] = "off"

    report["merge_lora"] = _merge_lora(loaded, settings)
    report["fuse_qkv"] = _fuse_qkv(loaded, settings)
    report["ip_scale"] = _tensor_ip_scale(loaded)

    report["compile"] = compile_decision(settings, on_cuda)
    if report["compile"] == "on":
        # In place (nn.Module.compile), so the pipeline, PEFT and the IP-Adapter
        # still see the same module objects. Shapes are fixed per compile; the
        # worker's warm-up compiles the ones in use.
        pipe.unet.compile(mode=settings.compile_mode, dynamic=False)
        pipe.vae.decoder.compile(mode=settings.compile_mode, dynamic=False)
        report["compile"] = f"on ({settings.compile_mode}; UNet and VAE decoder)"
    for name, state in report.items():
        if state.startswith("skipped"):
            log.info("fast path: %s %s", name, state)
    return report


def compile_decision(settings, on_cuda: bool) -> str:
    """"on", or why torch.compile is not used."""
    if not settings.fast_compile:
        return "off"
    if not on_cuda:
        return "skipped: torch.compile is used on CUDA only"
    if settings.compile_mode not in COMPILE_MODES:
        return f"skipped: unknown compile_mode {settings.compile_mode!r} (use one of {', '.join(COMPILE_MODES)})"
    return "on"


def _check_sdpa(unet, torch) -> str:
    if not hasattr(torch.nn.functional, "scaled_dot_product_attention"):
        return "skipped: this torch has no scaled_dot_product_attention"
    names = {type(p).__name__ for p in unet.attn_processors.values()}
    plain = sorted(n for n in names if "2_0" not in n and not n.startswith("Fused"))
    if plain:
        return f"skipped: processors {', '.join(plain)} do not use it"
    return "on (diffusers' default processors)"


def _merge_lora(loaded, settings) -> str:
    from lookalike.generation.fusion import LoraFolder

    if not settings.fast_merge_lora:
        return "off"
    folder = LoraFolder(loaded.pipe.unet)
    reason = folder.supported()
    if reason is not None:
        return f"skipped: {reason}"
    loaded.folder = folder
    loaded.active_loras = None  # the next request folds its LoRAs in
    return "on"


def _fuse_qkv(loaded, settings) -> str:
    from lookalike.generation.fusion import QkvFuser

    if not settings.fast_fuse_qkv:
        return "off"
    fuser = QkvFuser(loaded.pipe.unet)
    count = fuser.install()
    if count == 0:
        return "skipped: no self-attention could be fused"
    loaded.fuser = fuser
    return f"on ({count} self-attention layers)"


def _tensor_ip_scale(loaded) -> str:
    from lookalike.generation.ip_scale import IpScaler

    scaler = IpScaler(loaded.pipe.unet)
    if not len(scaler):
        return "skipped: no IP-Adapter processor of the expected kind"
    loaded.ip_scaler = scaler
    return f"on ({len(scaler)} cross-attention layers)"

