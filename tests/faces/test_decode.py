import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from lookalike.errors import ImageTooLargeError, InvalidImageError
from lookalike.faces.decode import decode_image, to_rgb8
from tests.conftest import encode

LIMIT = 40_000_000


def test_jpeg_png_webp_decode_to_rgb(astronaut):
    for fmt in ("JPEG", "PNG", "WEBP"):
        out = decode_image(encode(astronaut, fmt), max_pixels=LIMIT)
        assert out.shape == astronaut.shape and out.dtype == np.uint8
        assert np.abs(out.astype(int) - astronaut).mean() < 6


def test_rgba_is_composited_on_white():
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # red, fully transparent except one pixel
    rgba[0, 0, 3] = 255
    out = decode_image(encode(rgba, "PNG"), max_pixels=LIMIT)
    assert out.shape == (10, 10, 3)
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert tuple(out[5, 5]) == (255, 255, 255)


def test_16_bit_grayscale_png_keeps_its_scale():
    values = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, format="PNG")
    out = decode_image(buffer.getvalue(), max_pixels=LIMIT)
    assert out.shape == (64, 64, 3)
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 255
    assert 120 < out[32, 0, 0] < 135


def test_32_bit_integer_image_is_scaled():
    values = (np.arange(32 * 32).reshape(32, 32) * 60).astype(np.int32)  # up to ~61k: a 16-bit range
    out = to_rgb8(Image.fromarray(values, mode="I"))
    assert out.dtype == np.uint8 and out.min() == 0
    assert abs(int(out.max()) - round(61380 / 65535 * 255)) <= 1


def test_16_bit_rgb_png(astronaut):
    import cv2

    deep = astronaut[:, :, ::-1].astype(np.uint16) * 257  # BGR for OpenCV, 16 bits per channel
    ok, data = cv2.imencode(".png", deep)
    assert ok
    out = decode_image(data.tobytes(), max_pixels=LIMIT)
    assert np.abs(out.astype(int) - astronaut).max() <= 1


def test_32_bit_rgba_png_from_shared_data():
    from tests.conftest import shared_faces

    path = shared_faces() / "edge" / "rgba_32bit.png"
    out = decode_image(path.read_bytes(), max_pixels=LIMIT)
    assert out.ndim == 3 and out.shape[2] == 3 and out.dtype == np.uint8


def test_exif_orientation_is_applied():
    wide = np.zeros((20, 40, 3), dtype=np.uint8)
    wide[:, :20] = 255  # white left half
    image = Image.fromarray(wide)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 clockwise to display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    out = decode_image(buffer.getvalue(), max_pixels=LIMIT)
    assert out.shape[:2] == (40, 20)
    assert out[:20].mean() > 200 and out[20:].mean() < 50  # left half is now on top


@pytest.mark.parametrize(
    "data, fragment",
    [
        (b"", "empty"),
        (b"hello, this is not a picture at all", "not an image"),
        (b"%PDF-1.4\n1 0 obj<<>>endobj\n", "not an image"),
    ],
)
def test_non_images_are_rejected(data, fragment):
    with pytest.raises(InvalidImageError) as info:
        decode_image(data, max_pixels=LIMIT, image_index=3)
    assert fragment in info.value.message and info.value.image_index == 3
    assert info.value.code == "invalid_image"


def test_truncated_jpeg_is_rejected(astronaut):
    data = encode(astronaut, "JPEG")
    with pytest.raises(InvalidImageError) as info:
        decode_image(data[: len(data) // 2], max_pixels=LIMIT)
    assert "damaged or truncated" in info.value.message


def test_unsupported_format_is_rejected(astronaut):
    with pytest.raises(InvalidImageError) as info:
        decode_image(encode(astronaut, "BMP"), max_pixels=LIMIT)
    assert "BMP" in info.value.message


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming huge dimensions: a decompression bomb's calling card."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_pixel_bomb_is_refused_before_decoding():
    with pytest.raises(ImageTooLargeError) as info:
        decode_image(_png_header_only(50_000, 50_000), max_pixels=LIMIT)
    assert "megapixels" in info.value.message and info.value.code == "image_too_large"


def test_byte_limit(astronaut):
    with pytest.raises(ImageTooLargeError):
        decode_image(encode(astronaut, "PNG"), max_pixels=LIMIT, max_bytes=1000)
