"""Safe decoding of uploaded photos into RGB uint8 arrays.

Every way a file can be bad ends in a typed error here, so nothing past this
point has to wonder about modes, bit depths, orientation or bombs.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from lookalike.errors import ImageTooLargeError, InvalidImageError

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "MPO"})  # MPO: JPEGs from phones with depth maps


def decode_image(
    data: bytes,
    *,
    max_pixels: int,
    max_bytes: int | None = None,
    image_index: int | None = None,
) -> np.ndarray:
    """Decode JPEG/PNG/WebP bytes to an upright RGB uint8 array (H, W, 3)."""
    if not data:
        raise InvalidImageError("The file is empty.", image_index=image_index)
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageTooLargeError(
            f"The file is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB.",
            image_index=image_index,
        )
    try:
        with warnings.catch_warnings():
            # Pillow warns, then raises, past its own bomb limit; we check the
            # size ourselves before decoding any pixels.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            fmt = image.format
            if fmt not in ACCEPTED_FORMATS:
                raise InvalidImageError(
                    f"Unsupported image format {fmt or 'unknown'}; use JPEG, PNG or WebP.",
                    image_index=image_index,
                )
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLargeError(
                    f"The image is {width}x{height} ({width * height / 1e6:.0f} megapixels); "
                    f"the limit is {max_pixels / 1e6:.0f} megapixels.",
                    image_index=image_index,
                )
            if width < 1 or height < 1:
                raise InvalidImageError("The image has no pixels.", image_index=image_index)
            image.load()
            image = ImageOps.exif_transpose(image)
    except Image.DecompressionBombError as exc:
        # Pillow's own guard trips at open for truly absurd sizes, before ours.
        raise ImageTooLargeError(
            f"The image is far too large ({exc}); the limit is {max_pixels / 1e6:.0f} megapixels.",
            image_index=image_index,
        ) from exc
    except UnidentifiedImageError as exc:
        raise InvalidImageError(
            "The file is not an image we can read (JPEG, PNG or WebP expected).", image_index=image_index
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow reports truncated and corrupt streams as OSError/SyntaxError.
        raise InvalidImageError(
            f"The image file is damaged or truncated ({exc}).", image_index=image_index
        ) from exc
    return to_rgb8(image)


def to_rgb8(image: Image.Image) -> np.ndarray:
    """Any Pillow mode to RGB uint8, compositing transparency onto white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _gray_to_rgb8(np.asarray(image, dtype=np.float64), image.mode)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def _gray_to_rgb8(values: np.ndarray, mode: str) -> np.ndarray:
    if mode.startswith("I;16"):
        peak = 65535.0
    elif mode == "I":
        # 32-bit integer images: take the smallest usual container that holds them.
        peak = 255.0 if values.max() <= 255 else 65535.0 if values.max() <= 65535 else float(values.max())
    else:  # float images carry no agreed scale: stretch what is there
        low, high = float(values.min()), float(values.max())
        values = values - low
        peak = (high - low) or 1.0
    gray = np.clip(values / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)
