"""A prompt's input image as the client sent it: a file, a URL or a base64 data URL; one at most.

Checked for form here (which field, a readable data URL); the bytes are
decoded and checked as an image, and a URL fetched, when the prompt is
submitted (``jobs/input_image.py``), after an idempotent replay has been
recognised by ``fingerprint``: a file and a data URL by their bytes' sha256,
a URL by itself (it is not fetched again to be compared).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from lookalike.errors import InvalidFieldError
from lookalike.schemas.common import Upload

UPLOAD, URL, BASE64 = "input_image", "input_image_url", "input_image_base64"
FIELDS = (UPLOAD, URL, BASE64)
_DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[^;,]*)*),(?P<data>.*)", re.DOTALL)


@dataclass(frozen=True)
class InputImageSource:
    """Where the input image comes from: ``field`` (one of FIELDS) and its bytes or URL."""

    field: str
    data: bytes | None = None
    url: str | None = None
    filename: str | None = None

    @property
    def fingerprint(self) -> dict[str, str]:
        """What an idempotent replay must repeat."""
        if self.url is not None:
            return {URL: self.url}
        return {"input_image_sha256": hashlib.sha256(self.data or b"").hexdigest()}


def decode_data_url(text: str, field: str = BASE64) -> bytes:
    """The bytes of ``data:image/...;base64,...``; an InvalidFieldError saying what is wrong otherwise."""
    example = "data:image/png;base64,iVBORw0KGgo..."
    match = _DATA_URL.fullmatch(text.strip())
    if match is None:
        raise InvalidFieldError(f"{field} must be a data URL like {example}; it does not start with data:.", field=field)
    mime, params = (match.group("mime") or "").lower(), match.group("params").lower().split(";")
    if not mime.startswith("image/"):
        raise InvalidFieldError(
            f"{field} must hold an image (data:image/png, image/jpeg or image/webp); got {mime or 'no type'}.", field=field
        )
    if "base64" not in params:
        raise InvalidFieldError(f"{field} must be base64-encoded: {example}.", field=field)
    try:
        return base64.b64decode(re.sub(r"\s+", "", match.group("data")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidFieldError(f"{field} is not valid base64 ({exc}).", field=field) from None


def input_image_source(upload: Upload | None, url: str | None, data_url: str | None) -> InputImageSource | None:
    """The one input image given, or None; two or three at once are refused, naming them."""
    given = [name for name, value in ((UPLOAD, upload), (URL, url), (BASE64, data_url)) if value is not None]
    if len(given) > 1:
        raise InvalidFieldError(
            f"Give one input image, not {len(given)}: {' and '.join(given)} were sent.",
            field=given[1],
            hint="Send the image once: as a file (input_image), a URL (input_image_url) or a data URL (input_image_base64).",
            details={"fields": given},
        )
    if upload is not None:
        return InputImageSource(UPLOAD, data=upload.data, filename=upload.filename)
    if url is not None:
        return InputImageSource(URL, url=url.strip())
    if data_url is not None:
        return InputImageSource(BASE64, data=decode_data_url(data_url))
    return None
