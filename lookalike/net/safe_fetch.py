"""Fetch a photo from a URL a user gave (``tune[image_urls]``), safely.

- http and https only, no credentials in the URL;
- the host is resolved once per hop and every address checked
  (``lookalike.net.addresses``), then the connection goes to a checked
  address (``lookalike.net.pinned``): no DNS rebinding between check and use;
- redirects are followed by hand, each hop parsed and checked like the first,
  at most ``max_redirects`` of them;
- the body is capped at ``max_bytes`` (the announced length, then the bytes
  as they arrive) and must start like a JPEG, PNG or WebP file, checked on the
  first bytes so a large web page is not downloaded to be refused;
- one time limit for everything (DNS, connects, TLS, every hop, the body);
- no retries: the user is waiting, and a failing URL is theirs to fix.

Each failure is an ``ImageUrlError`` subclass (``lookalike.errors``) with a
stable code and the URL's ``image_index`` when the caller gives one.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urljoin

from lookalike.errors import (
    ImageUrlError,
    ImageUrlForbiddenError,
    ImageUrlInvalidError,
    ImageUrlNotImageError,
    ImageUrlTimeoutError,
    ImageUrlTooLargeError,
    ImageUrlUnreachableError,
)
from lookalike.net import pinned
from lookalike.net.pinned import OutboundError, Resolver

USER_AGENT = "lookalike-fetch/1"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

_ERRORS: dict[str, type[ImageUrlError]] = {
    pinned.INVALID: ImageUrlInvalidError,
    pinned.FORBIDDEN: ImageUrlForbiddenError,
    pinned.UNREACHABLE: ImageUrlUnreachableError,
    pinned.TIMEOUT: ImageUrlTimeoutError,
    pinned.TOO_LARGE: ImageUrlTooLargeError,
}


@dataclass(frozen=True)
class FetchPolicy:
    allow_private: bool = False
    max_bytes: int = 25 * 1024 * 1024
    timeout_s: float = 20.0
    max_redirects: int = 5

    @classmethod
    def from_settings(cls, settings) -> FetchPolicy:
        # A fetched photo meets the same byte limit as an uploaded one.
        return cls(
            allow_private=settings.fetch_allow_private,
            max_bytes=settings.max_upload_bytes,
            timeout_s=settings.fetch_timeout_s,
            max_redirects=settings.fetch_max_redirects,
        )


@dataclass(frozen=True)
class FetchedImage:
    data: bytes
    content_type: str  # image/jpeg, image/png or image/webp, from the bytes (never the server's header)
    url: str  # the URL the bytes came from, after redirects


def sniff_image_type(data: bytes) -> str | None:
    """The MIME type of JPEG, PNG or WebP bytes from their magic numbers; None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def fetch_image(
    url: str,
    *,
    allow_private: bool,
    max_bytes: int,
    timeout_s: float,
    max_redirects: int,
    image_index: int | None = None,
    field: str | None = None,
    resolver: Resolver | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> FetchedImage:
    """The image at ``url``, or an ``ImageUrlError`` subclass carrying ``image_index`` and ``field``.

    ``resolver`` (host, port -> addresses) and ``ssl_context`` replace DNS and
    the trusted roots; tests use them, callers normally leave them out.
    """
    deadline = pinned.deadline_after(timeout_s)
    current = url
    try:
        parsed = pinned.parse_url(current)
        for hop in range(max_redirects + 1):
            target = pinned.resolve_url(parsed, allow_private=allow_private, deadline=deadline, resolver=resolver)
            reply = pinned.exchange(
                target,
                "GET",
                deadline=deadline,
                headers=[
                    ("User-Agent", USER_AGENT),
                    ("Accept", "image/jpeg, image/png, image/webp;q=0.9, */*;q=0.1"),
                    # Compressed bodies would defeat both the byte cap and the sniffing.
                    ("Accept-Encoding", "identity"),
                    ("Connection", "close"),
                ],
                max_bytes=max_bytes,
                head_check=_require_image,
                ssl_context=ssl_context,
            )
            if 200 <= reply.status < 300:
                _require_image(reply.body)  # head_check saw the start; this also covers an empty body
                return FetchedImage(reply.body, sniff_image_type(reply.body), current)
            location = reply.header("location")
            if reply.status not in REDIRECT_STATUSES or not location:
                raise OutboundError(
                    pinned.UNREACHABLE, f"{target.host} answered HTTP {reply.status}.", status=reply.status, reason="status"
                )
            if hop == max_redirects:
                raise OutboundError(
                    pinned.UNREACHABLE, f"More than {max_redirects} redirects.", reason="too_many_redirects", max_redirects=max_redirects
                )
            current = urljoin(current, location.strip())
            try:
                parsed = pinned.parse_url(current)
            except OutboundError as exc:
                # The user's URL was fine; where the server sent us is not something we follow.
                raise OutboundError(
                    pinned.UNREACHABLE, f"A redirect leads to an unusable URL: {exc.message}", reason="bad_redirect"
                ) from exc
    except OutboundError as exc:
        raise _typed(exc, url, image_index, field) from exc
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def fetch_images(
    urls: Sequence[str],
    policy: FetchPolicy,
    *,
    parallel: int = 4,
    field: str | None = "tune[image_urls]",
    resolver: Resolver | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> list[FetchedImage]:
    """All of ``urls`` in order, fetched a few at a time; the first failing index's error is raised.

    Each error carries its ``image_index`` and ``field`` ``"tune[image_urls][i]"``.
    """

    def one(index: int) -> FetchedImage:
        return fetch_image(
            urls[index],
            allow_private=policy.allow_private,
            max_bytes=policy.max_bytes,
            timeout_s=policy.timeout_s,
            max_redirects=policy.max_redirects,
            image_index=index,
            field=f"{field}[{index}]" if field else None,
            resolver=resolver,
            ssl_context=ssl_context,
        )

    if len(urls) <= 1 or parallel <= 1:
        return [one(i) for i in range(len(urls))]
    with ThreadPoolExecutor(max_workers=min(parallel, len(urls)), thread_name_prefix="lookalike-fetch") as pool:
        futures = [pool.submit(one, i) for i in range(len(urls))]
        # Raising in index order makes the reported photo the same on every run.
        return [future.result() for future in futures]


def _require_image(head: bytes) -> None:
    if sniff_image_type(head) is None:
        raise OutboundError(pinned.REJECTED_BODY, "The URL does not serve a JPEG, PNG or WebP image.")


def _typed(exc: OutboundError, url: str, image_index: int | None, field: str | None) -> ImageUrlError:
    cls = ImageUrlNotImageError if exc.kind == pinned.REJECTED_BODY else _ERRORS.get(exc.kind, ImageUrlUnreachableError)
    prefix = f"Photo URL {image_index}" if image_index is not None else "The photo URL"
    details = {key: value for key, value in exc.details.items() if value is not None}
    details["url"] = url[:300]
    return cls(f"{prefix}: {exc.message}", image_index=image_index, field=field, details=details)
