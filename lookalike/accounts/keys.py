"""API key material: make a key, hash it, compare hashes.

A key is 32 random bytes, so a plain sha256 is enough to store it: there is
nothing to brute-force that a slow hash would protect (unlike passwords).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_PREFIX = "lk_"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def display_prefix(key: str) -> str:
    return key[: len(KEY_PREFIX) + 6]


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))


def new_callback_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)
