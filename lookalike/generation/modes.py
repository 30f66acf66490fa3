"""A call's mode-specific arguments: the input image and strength (img2img), the mask (inpainting), the ControlNet.

diffusers names them differently per pipeline: text-to-image with a
ControlNet takes the control image as ``image``; image-to-image with one
takes the input as ``image`` and the control as ``control_image``; the
inpainting pipelines take ``image`` and ``mask_image``. This module is the
one place that knows.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from lookalike.generation.request import GenerationRequest


def fitted(image: Image.Image, width: int, height: int, mode: str = "RGB") -> Image.Image:
    """``image`` at exactly width x height (resized only when it differs: an input of that size goes in untouched)."""
    image = image.convert(mode)
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    return image


def mode_kwargs(request: GenerationRequest, width: int, height: int) -> dict[str, Any]:
    init, control = request.init, request.control
    out: dict[str, Any] = {}
    if init is not None:
        out["image"] = fitted(init.image, width, height)
        out["strength"] = float(init.strength)
        if init.mask is not None:
            out["mask_image"] = fitted(init.mask, width, height, mode="L")
    if control is not None:
        control_image = fitted(control.image, width, height)
        out["control_image" if init is not None else "image"] = control_image
        out["controlnet_conditioning_scale"] = float(control.scale)
    return out


def unchanged(request: GenerationRequest) -> bool:
    """img2img at strength 0 returns its input: no denoising step would run (diffusers refuses 0 steps)."""
    init = request.init
    return init is not None and init.mask is None and request.control is None and float(init.strength) <= 0.0
