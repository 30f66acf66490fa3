"""Signed, expiring links to stored images that work without the API key.

Astria's image URLs are plain links anyone can open; ours carry
``?expires=UNIX_SECONDS&signature=SIG`` where ``SIG`` is HMAC-SHA256, keyed by
a server secret, over the path and the expiry. Nothing is stored per link:
a link is valid while its expiry is in the future, the signature matches,
and the object behind it still exists (the route's 404).

The key is ``LOOKALIKE_URL_SIGNING_KEY`` when set; otherwise one random key
is made on first use and kept in the database (``server_secrets``), not in
the data directory: every API server of a deployment shares the database,
not necessarily a disk, and a link signed by one must open on all.
Changing or deleting the key invalidates every link given out.

Paths are signed exactly as the route sees them (``request.url.path``,
decoded, without the query), e.g. ``/prompts/12/images/0.png``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from urllib.parse import parse_qs, urlencode

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from lookalike.store.tables import ServerSecretRow, utcnow

SIGNING_KEY_NAME = "url_signing_key"
EXPIRES, SIGNATURE = "expires", "signature"
MIN_KEY_LENGTH = 16
# Domain separation: the same key must never yield a valid signature for another purpose.
_CONTEXT = b"lookalike-signed-url-v1\n"


class UrlSigner:
    def __init__(self, key: bytes, *, ttl_s: int, clock: Callable[[], float] = time.time) -> None:
        if len(key) < MIN_KEY_LENGTH:
            raise ValueError(f"The URL signing key must have at least {MIN_KEY_LENGTH} bytes.")
        self._key = key
        self.ttl_s = ttl_s
        self._clock = clock

    @classmethod
    def from_settings(cls, settings, sessions: sessionmaker[Session]) -> UrlSigner:
        """The signer for ``settings.url_signing_key`` or the database's shared key, with ``signed_url_ttl_s``."""
        configured = settings.url_signing_key.get_secret_value() if settings.url_signing_key is not None else None
        return cls(load_signing_key(sessions, configured), ttl_s=settings.signed_url_ttl_s)

    def sign(self, path: str, expires_at: int | None = None) -> str:
        """``expires=...&signature=...`` for ``path``; ``expires_at`` defaults to now + ttl."""
        _check_path(path)
        if expires_at is None:
            expires_at = int(self._clock()) + self.ttl_s
        return urlencode({EXPIRES: int(expires_at), SIGNATURE: self._signature(path, int(expires_at))})

    def stable_link(self, path: str) -> str:
        """``signed_path`` with the expiry rounded up to the hour: the same link for an hour.

        So a page or a client that reads a prompt twice sees one URL, and
        browsers and CDNs can cache the image; a link still lives at least
        the configured lifetime.
        """
        expires_at = -(-(int(self._clock()) + self.ttl_s) // 3600) * 3600
        return self.signed_path(path, expires_at)

    def signed_path(self, path: str, expires_at: int | None = None) -> str:
        """``path?expires=...&signature=...``; prefix the server's base URL to make a link."""
        return f"{path}?{self.sign(path, expires_at)}"

    def verify(self, path: str, query: str | Mapping[str, str], *, now: float | None = None) -> bool:
        """True when ``query`` (a query string, or its fields) holds a signature for ``path`` that has not expired."""
        if isinstance(query, str):
            parsed = parse_qs(query, keep_blank_values=True)
            if any(len(parsed.get(name, ())) > 1 for name in (EXPIRES, SIGNATURE)):
                return False
            fields = {name: values[0] for name, values in parsed.items()}
        else:
            fields = dict(query)
        expires, signature = fields.get(EXPIRES), fields.get(SIGNATURE)
        if not isinstance(expires, str) or not isinstance(signature, str):
            return False
        # Digits only: int() would also take "+5", " 5" and "5_0", which are not what was signed.
        if not expires.isascii() or not expires.isdigit() or len(expires) > 12:
            return False
        if int(expires) <= (now if now is not None else self._clock()):
            return False
        try:
            _check_path(path)
        except ValueError:
            return False
        return hmac.compare_digest(self._signature(path, int(expires)), signature)

    def _signature(self, path: str, expires_at: int) -> str:
        message = _CONTEXT + path.encode("utf-8") + b"\n" + str(expires_at).encode("ascii")
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _check_path(path: str) -> None:
    if not path.startswith("/") or "?" in path or "#" in path:
        raise ValueError(f"Sign a path like /prompts/1/images/0.png, without a query; got {path!r}.")


def load_signing_key(sessions: sessionmaker[Session], configured: str | None = None) -> bytes:
    """The configured key, or the database's one, made now if there is none yet.

    Two servers starting together may both try to make it: the name is the
    primary key, so one insert wins and the other reads the winner's key.
    """
    if configured:
        return configured.encode("utf-8")
    with sessions() as session:
        row = session.get(ServerSecretRow, SIGNING_KEY_NAME)
        if row is not None:
            return row.value.encode("ascii")
        session.add(ServerSecretRow(name=SIGNING_KEY_NAME, value=secrets.token_urlsafe(32), created_at=utcnow()))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
    with sessions() as session:
        return session.get(ServerSecretRow, SIGNING_KEY_NAME).value.encode("ascii")


def presigned_blob_url(blobs, key: str, expires_s: int) -> str | None:
    """A presigned GET URL straight to the bucket when blobs live in S3, else None (serve through a signed route).

    Not wired to any route: an option for deployments whose bucket clients can reach.
    """
    from lookalike.store.blobs_s3 import S3BlobStore

    if not isinstance(blobs, S3BlobStore):
        return None
    return blobs.client.generate_presigned_url(
        "get_object", Params={"Bucket": blobs.bucket, "Key": blobs._key(key)}, ExpiresIn=int(expires_s)
    )
