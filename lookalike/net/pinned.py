"""One HTTP exchange with a URL's host resolved once and the connection pinned to the checked address.

Checking a host's addresses and then letting an HTTP client resolve the
name again leaves a gap: a DNS server that answers a public address to the
check and ``127.0.0.1`` to the connect (DNS rebinding) walks straight
through. Here the name is resolved once (``resolve_url``), every address is
checked, and the connection goes to one of those addresses through a
network backend that never resolves anything (``exchange``). The URL keeps
its host name, so the ``Host`` header, TLS SNI and certificate verification
are all for the name, not the address.

httpcore is used directly rather than httpx: its ``network_backend`` is the
public hook for choosing where a connection goes, and it reads no proxy
settings from the environment (a proxy would do its own, unchecked, lookup).

Errors are ``OutboundError`` with a ``kind``; callers turn them into their own
typed errors (``safe_fetch`` into ``ImageUrl*Error``, callbacks into retries).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpcore

from lookalike.net import addresses as _addresses

MAX_URL_LENGTH = 2048
INVALID, FORBIDDEN, UNREACHABLE, TIMEOUT, TOO_LARGE = "invalid", "forbidden", "unreachable", "timeout", "too_large"
# Raised by a caller's head_check: the body is not what the caller accepts.
REJECTED_BODY = "rejected_body"
Kind = Literal["invalid", "forbidden", "unreachable", "timeout", "too_large", "rejected_body"]

# host, port -> connectable address literals; monkeypatch or pass to replace DNS (tests).
Resolver = Callable[[str, int], Iterable[str]]


class OutboundError(Exception):
    def __init__(self, kind: Kind, message: str, **details: Any) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = details


@dataclass(frozen=True)
class ParsedUrl:
    url: str
    scheme: str  # "http" or "https"
    host: str  # ASCII (IDNA) name, or an IP literal without brackets
    port: int
    target: str  # path and query, at least "/"

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class Target(ParsedUrl):
    """A URL whose host was resolved once; ``addresses`` all passed the policy."""

    addresses: tuple[str, ...] = ()


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    # The address the connection went to (one of Target.addresses).
    peer: str | None = None

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((value for key, value in self.headers if key.lower() == name), None)


def deadline_after(seconds: float) -> float:
    return time.monotonic() + seconds


def remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise OutboundError(TIMEOUT, "The time allowed for the request ran out.")
    return left


def parse_url(url: str, *, max_length: int = MAX_URL_LENGTH) -> ParsedUrl:
    """An absolute http(s) URL with a host and no credentials, or ``OutboundError(invalid)``."""
    url = (url or "").strip()
    if len(url) > max_length:
        raise OutboundError(INVALID, f"The URL is longer than {max_length} characters.")
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        # Spaces and control characters would end up in the request line.
        raise OutboundError(INVALID, "The URL contains spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundError(INVALID, f"The URL {url[:200]!r} cannot be read ({exc}).") from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise OutboundError(INVALID, f"The URL must be an http(s) URL with a host; got {url[:200]!r}.")
    if parts.username is not None or parts.password is not None:
        raise OutboundError(INVALID, "The URL must not carry a user name or password.")
    scheme = parts.scheme.lower()
    host = parts.hostname.rstrip(".")  # "example.com." is example.com; urlsplit already dropped IPv6 brackets
    if not host:
        raise OutboundError(INVALID, f"The URL {url[:200]!r} has no host.")
    try:
        host = _addresses.parse_address(host).compressed
    except ValueError:
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError as exc:
            raise OutboundError(INVALID, f"The host {parts.hostname!r} is not a valid name.") from exc
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return ParsedUrl(url=url, scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80), target=target)


def resolve_url(
    url: str | ParsedUrl,
    *,
    allow_private: bool,
    deadline: float | None = None,
    resolver: Resolver | None = None,
) -> Target:
    """Parse, resolve the host once and check every address; the result is what ``exchange`` connects to.

    ``allow_private`` lifts the address policy (not the URL checks); the name
    is still resolved here, once, and the connection still pinned.
    """
    parsed = url if isinstance(url, ParsedUrl) else parse_url(url)
    try:
        if resolver is not None:
            found = list(resolver(parsed.host, parsed.port))
        else:
            timeout = remaining(deadline) if deadline is not None else None
            found = _addresses.resolve(parsed.host, parsed.port, timeout_s=timeout)
    except TimeoutError as exc:
        raise OutboundError(TIMEOUT, f"Resolving {parsed.host!r} took too long.", host=parsed.host) from exc
    except (OSError, UnicodeError) as exc:
        raise OutboundError(UNREACHABLE, f"The host {parsed.host!r} cannot be resolved.", host=parsed.host, reason="dns") from exc
    if not found:
        raise OutboundError(UNREACHABLE, f"The host {parsed.host!r} has no address.", host=parsed.host, reason="dns")
    if not allow_private:
        for address in found:
            reason = _addresses.refusal_reason(address)
            if reason is not None:
                raise OutboundError(
                    FORBIDDEN,
                    f"The host {parsed.host!r} resolves to a non-public address ({address}: {reason}).",
                    host=parsed.host,
                    address=str(address),
                )
    return Target(
        url=parsed.url,
        scheme=parsed.scheme,
        host=parsed.host,
        port=parsed.port,
        target=parsed.target,
        addresses=tuple(str(a) for a in found),
    )


def exchange(
    target: Target,
    method: str,
    *,
    deadline: float,
    headers: Iterable[tuple[str, str]] = (),
    content: bytes = b"",
    read_body: bool = True,
    max_bytes: int | None = None,
    head_check: Callable[[bytes], None] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> Reply:
    """One request to ``target``, connecting only to its checked addresses, all of it before ``deadline``.

    Redirects are not followed (the caller re-checks each hop). The body of a
    2xx answer is read when ``read_body``: more than ``max_bytes`` is
    ``OutboundError(too_large)`` as soon as it shows (the announced
    Content-Length or the bytes read so far), and ``head_check`` sees the
    first bytes (at least 16, or the whole body if shorter) and may raise to
    stop reading. Other answers come back without their body.
    """
    if ssl_context is None and target.scheme == "https":
        ssl_context = default_ssl_context()
    backend = _PinnedBackend(target, deadline)
    request_headers = [("Host", target.host_header)] + [(k, v) for k, v in headers if k.lower() != "host"]
    if content:
        request_headers.append(("Content-Length", str(len(content))))
    url = httpcore.URL(scheme=target.scheme.encode(), host=target.host.encode("ascii"), port=target.port, target=_target_bytes(target.target))
    left = remaining(deadline)
    pool = httpcore.ConnectionPool(ssl_context=ssl_context, network_backend=backend, max_connections=1, retries=0)
    try:
        with pool.stream(
            method.encode("ascii"),
            url,
            headers=request_headers,
            content=content or None,
            extensions={"timeout": {"connect": left, "read": left, "write": left, "pool": left}},
        ) as response:
            reply = Reply(
                status=response.status,
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers],
                peer=backend.peer,
            )
            if read_body and 200 <= response.status < 300:
                reply.body = _read_capped(response, reply, deadline, max_bytes, head_check)
            return reply
    except httpcore.TimeoutException as exc:
        raise OutboundError(TIMEOUT, f"{target.host} did not answer in time.", host=target.host) from exc
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
        raise OutboundError(
            UNREACHABLE, f"Could not talk to {target.host}: {type(exc).__name__}: {exc}", host=target.host, reason="network"
        ) from exc
    finally:
        pool.close()


# Every printable ASCII character stays as written (a "%" is already an escape); only the rest is escaped.
_TARGET_SAFE = "".join(chr(code) for code in range(0x21, 0x7F))


def _target_bytes(target: str) -> bytes:
    return quote(target, safe=_TARGET_SAFE).encode("ascii")


def _read_capped(response, reply: Reply, deadline: float, max_bytes: int | None, head_check) -> bytes:
    announced = reply.header("content-length")
    if max_bytes is not None and announced is not None and announced.strip().isdigit() and int(announced) > max_bytes:
        raise OutboundError(TOO_LARGE, f"The answer is {int(announced)} bytes, more than the {max_bytes} allowed.", size=int(announced))
    chunks: list[bytes] = []
    size = 0
    checked = head_check is None
    for chunk in response.iter_stream():
        remaining(deadline)
        chunks.append(chunk)
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise OutboundError(TOO_LARGE, f"The answer is more than the {max_bytes} bytes allowed.", size=size)
        if not checked and size >= 16:
            head_check(b"".join(chunks))
            checked = True
    body = b"".join(chunks)
    if not checked:
        head_check(body)
    return body


@lru_cache(maxsize=1)
def default_ssl_context() -> ssl.SSLContext:
    # certifi's roots, as httpx uses, so that a fetch trusts what the rest of the
    # service trusts. Made once: loading the roots costs more than a handshake.
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _clamp(timeout: float | None, deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        # httpcore maps its own timeouts; raising its class keeps the mapping in one place.
        raise httpcore.ReadTimeout("deadline reached")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """Every read, write and handshake ends by the exchange's deadline (a slow drip cannot stretch it)."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, self._deadline))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, self._deadline))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None):
        inner = self._inner.start_tls(ssl_context, server_hostname, _clamp(timeout, self._deadline))
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects only to the target's checked addresses; it has no way to look a name up."""

    def __init__(self, target: Target, deadline: float) -> None:
        self._target = target
        self._deadline = deadline
        self._sync = httpcore.SyncBackend()
        self.peer: str | None = None

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        if host != self._target.host or port != self._target.port:
            # The pool only ever asks for the request's origin; anything else is a bug, not a detour to allow.
            raise httpcore.ConnectError(f"refusing to connect to {host}:{port}, not the checked {self._target.host}")
        last: Exception | None = None
        for address in self._target.addresses:
            try:
                stream = self._sync.connect_tcp(address, port, _clamp(timeout, self._deadline), local_address, socket_options)
            except httpcore.ConnectTimeout:
                raise
            except httpcore.ConnectError as exc:
                last = exc
                continue
            self.peer = address
            return _DeadlineStream(stream, self._deadline)
        raise httpcore.ConnectError(f"no address of {host} accepted the connection: {last}")

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("unix sockets are not reachable from a URL")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


__all__ = [
    "MAX_URL_LENGTH",
    "OutboundError",
    "ParsedUrl",
    "Reply",
    "Target",
    "deadline_after",
    "default_ssl_context",
    "exchange",
    "parse_url",
    "remaining",
    "resolve_url",
]
