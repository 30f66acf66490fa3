"""Taking a prompt's input image in: fetched (a URL), decoded and checked like a tune photo, before queueing.

The same rules as tune photos: a URL under ``tune[image_urls]``'s fetch
policy (``net/safe_fetch.py``), and every image through ``faces.decode``
(JPEG, PNG or WebP; the byte and pixel limits; EXIF orientation). What is
kept is the bytes as received, so the worker decodes exactly what was
checked; errors name the field the image came in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from lookalike.errors import LookalikeError
from lookalike.faces.decode import decode_image
from lookalike.net.safe_fetch import FetchPolicy, fetch_image, sniff_image_type
from lookalike.schemas.input_image import URL, InputImageSource

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


@dataclass(frozen=True)
class ReceivedImage:
    """A checked input image: its bytes as received, and what the prompt row records about it."""

    data: bytes
    sha256: str
    width: int  # upright (after EXIF orientation)
    height: int
    extension: str
    field: str
    url: str | None = None

    def record(self) -> dict:
        """What the prompt's stored options keep (the blob key is added when it is written)."""
        out = {"sha256": self.sha256, "width": self.width, "height": self.height, "field": self.field}
        if self.url is not None:
            out["url"] = self.url
        return out


@dataclass(frozen=True)
class InputImageIntake:
    fetch_policy: FetchPolicy
    max_pixels: int
    max_bytes: int

    def receive(self, source: InputImageSource) -> ReceivedImage:
        """The image's bytes (fetched for a URL), decoded and checked; a typed error naming the field otherwise."""
        data = source.data
        if source.field == URL:
            policy = self.fetch_policy
            data = fetch_image(
                source.url,
                allow_private=policy.allow_private,
                max_bytes=policy.max_bytes,
                timeout_s=policy.timeout_s,
                max_redirects=policy.max_redirects,
                field=URL,
            ).data
        try:
            pixels = decode_image(data or b"", max_pixels=self.max_pixels, max_bytes=self.max_bytes)
        except LookalikeError as exc:
            exc.field = source.field
            exc.message = f"{source.field}: {exc.message}"
            raise
        kind = sniff_image_type(data or b"")
        return ReceivedImage(
            data=data,
            sha256=hashlib.sha256(data).hexdigest(),
            width=int(pixels.shape[1]),
            height=int(pixels.shape[0]),
            extension=EXTENSIONS.get(kind, "img"),
            field=source.field,
            url=source.url,
        )
