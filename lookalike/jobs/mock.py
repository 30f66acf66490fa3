"""Astria's mock mode (``branch=fast``): placeholder images at once, no model loaded.

A prompt on a mock tune (or naming one) is marked at submit and takes the
same queue, worker and callback path as any other; only the engine call is
replaced by these images, so an integration test exercises everything but
the GPU. Each image is a flat colour from its seed with the words "mock
image" on it, at the size the prompt asked for.
"""

from __future__ import annotations

import io
from typing import Any

from lookalike.jobs.engine import OutputImage

MOCK_OPTION = "mock"
# Placeholders need no detail: keep them small however large the prompt asks.
MAX_SIDE = 512


def is_mock(options: dict[str, Any]) -> bool:
    return bool(options.get(MOCK_OPTION))


def mock_images(options: dict[str, Any]) -> list[OutputImage]:
    from PIL import Image, ImageDraw, PngImagePlugin

    width, height = int(options.get("w") or 512), int(options.get("h") or 512)
    scale = min(1.0, MAX_SIDE / max(width, height))
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    seed = int(options.get("seed") or 0)
    out = []
    for index in range(int(options.get("num_images") or 1)):
        image_seed = (seed + index) % 2**32
        colour = (image_seed % 200 + 30, (image_seed // 200) % 200 + 30, (image_seed // 40000) % 200 + 30)
        image = Image.new("RGB", size, colour)
        ImageDraw.Draw(image).text((8, 8), f"mock image {index + 1} (branch=fast)", fill=(255, 255, 255))
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", f"Mock image (branch=fast), Seed: {image_seed}, Size: {size[0]}x{size[1]}")
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", pnginfo=info)
        out.append(OutputImage(png=buffer.getvalue(), seed=image_seed, width=size[0], height=size[1]))
    return out
