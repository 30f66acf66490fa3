"""``hires_fix``: make the picture at a size the model is good at, enlarge it, then add detail with an img2img pass.

A1111's "hires. fix" and Astria's ``hires_fix``: a model asked straight for
a picture far above its native size repeats subjects and loses composition;
asked for its native size, then upscaled and redrawn at a moderate strength,
it keeps the composition and gains detail. Here:

* the first pass is at the model's native pixel count with the target's
  aspect ratio (never larger than the target); a target at or below the
  native size starts from half the target;
* the enlargement is Lanczos in pixel space (A1111's default upscalers are
  latent or ESRGAN; Real-ESRGAN on the CPU costs minutes per image here, and
  the img2img pass redraws the detail anyway);
* the second pass is img2img at ``hires_denoising_strength`` (Astria's flag
  name; default 0.4), with the prompt's text, identity (FaceID on, the same
  regions), LoRAs and steps, each image from its own seed, so a re-run gives
  the same pixels.

The PNG parameters keep the first pass's line, as A1111 writes it, with
``Hires upscale``, ``Hires resize``, ``Hires upscaler`` and the strength added.
"""

from __future__ import annotations

import math
from dataclasses import replace

from lookalike.prompts.options import MIN_SIDE, SIDE_MULTIPLE

UPSCALER = "Lanczos"


def first_pass_size(target: tuple[int, int], native: int) -> tuple[int, int]:
    """(width, height) of the first pass for a ``target`` output on a model of ``native`` px."""
    width, height = target
    if width * height <= native * native:
        scale = 0.5
    else:
        scale = math.sqrt(native * native / (width * height))
    return _snap(width * scale), _snap(height * scale)


def _snap(value: float) -> int:
    return max(MIN_SIDE, int(value // SIDE_MULTIPLE) * SIDE_MULTIPLE)


def first_pass_request(request):
    """The request the first pass runs: the same but at ``first_pass_size``."""
    options = request.options
    target = options.size_for(request.base_model.native_size)
    width, height = first_pass_size(target, request.base_model.native_size)
    first = options.model_copy(update={"w": width, "h": height, "aspect_ratio": None})
    return replace(request, options=first)


def apply_hires_fix(generator, request, result, on_image=None) -> list[dict]:
    """The second pass on each image of ``result`` (made by ``first_pass_request(request)``), in place.

    ``request`` is the prompt's own request (at the target size). ``on_image(n)``
    is told as image n (from 1) starts, for live progress. Returns one record
    per image for the image's step summary (``postprocess.pipeline.summary``).
    """
    import time

    from PIL import Image

    from lookalike.generation.request import InitImage

    options = request.options
    width, height = options.size_for(request.base_model.native_size)
    strength = options.resolved_hires_strength()
    records = []
    for number, image in enumerate(result.images, start=1):
        if on_image is not None:
            on_image(number)
        started = time.perf_counter()
        small = image.image
        enlarged = small.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
        second = replace(
            request,
            options=options.model_copy(update={"num_images": 1, "seed": image.seed, "w": width, "h": height, "aspect_ratio": None}),
            init=InitImage(image=enlarged, strength=strength),
        )
        redrawn = generator.generate(second).images[0]
        image.image = redrawn.image
        image.parameters = _with_hires(image.parameters, small.size, (width, height), strength)
        records.append({
            "step": "hires_fix",
            "status": "applied",
            "seconds": round(time.perf_counter() - started, 3),
            "settings": f"{small.width}x{small.height} to {width}x{height}, strength {strength:g}",
        })
    result.width, result.height = width, height
    return records


def _with_hires(parameters: str, first: tuple[int, int], target: tuple[int, int], strength: float) -> str:
    factor = target[0] / first[0]
    return (
        f"{parameters}, Hires upscale: {factor:g}, Hires resize: {target[0]}x{target[1]}, "
        f"Hires upscaler: {UPSCALER}, Hires denoising strength: {strength:g}"
    )
