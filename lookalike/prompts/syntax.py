"""The prompt text syntax: ``<faceid:TUNE_ID:WEIGHT>`` and ``<lora:TUNE_ID:WEIGHT>`` tokens inside free text.

Tokens are found, checked and removed; what is left is the text the text
encoder sees. ``<faceid>`` names a tune whose identity conditions the image
(IP-Adapter-FaceID); ``<lora>`` a LoRA tune whose trained weights are loaded
on the base model (Astria's syntax for both). Any other tag is refused, so a
typo is reported rather than sent to CLIP. HTML-escaped brackets (``&lt;``/``&gt;``) are accepted because
Astria clients post the text through HTML forms and some escape it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from lookalike.errors import (
    FaceIdWeightError,
    LoraTokenError,
    LoraWeightError,
    PromptTokenError,
    TooManyLorasError,
    TooManyIdentitiesError,
    UnknownTuneError,
    UnsupportedPromptTokenError,
)
from lookalike.prompts.numbers import parse_decimal

DEFAULT_WEIGHT = 1.0
MIN_WEIGHT = 0.0
MAX_WEIGHT = 2.0
MAX_TOKENS = 8
# LoRA weights as written; 1 is the strength the LoRA was trained at. Negative
# weights (used on style LoRAs to push away from them) make no sense for a
# person's likeness, so the range is the FaceID one.
MIN_LORA_WEIGHT = 0.0
MAX_LORA_WEIGHT = 2.0
MAX_LORA_TOKENS = 8

_OPEN = r"(?:<|&lt;)"
_CLOSE = r"(?:>|&gt;)"
# Any tag-like thing "<name:..." so that a typo is reported, not sent to CLIP.
_TAG = re.compile(_OPEN + r"\s*([A-Za-z_]+)\s*:([^<>]*?)" + _CLOSE, re.IGNORECASE)
# An opener followed by "faceid" (or "lora") that never closes.
_UNCLOSED = re.compile(_OPEN + r"\s*faceid\b[^<>]{0,60}", re.IGNORECASE)
_UNCLOSED_LORA = re.compile(_OPEN + r"\s*lora\b[^<>]{0,60}", re.IGNORECASE)
# A database id is a plain ASCII decimal; anything else must start with a
# letter, so that no name is one that int() would still read as a number
# ("0_1" is tune 1 to int(), "１" too).
_TUNE_NUMBER = re.compile(r"[0-9]{1,64}", re.ASCII)
_TUNE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_\-]{0,63}", re.ASCII)
# The same bound as the API's path ids: no table holds a larger id, and a
# 64-bit overflow must not reach the database driver.
MAX_TUNE_ID = 2**31 - 1


@dataclass(frozen=True)
class FaceIdToken:
    tune_id: str
    weight: float
    raw: str  # the token as written, for messages and metadata
    start: int
    end: int


@dataclass(frozen=True)
class LoraToken:
    tune_id: str
    weight: float
    raw: str
    start: int
    end: int


@dataclass(frozen=True)
class ParsedPrompt:
    text: str  # what the text encoder sees
    original: str
    tokens: tuple[FaceIdToken, ...]  # the <faceid> tokens, in order
    loras: tuple[LoraToken, ...] = ()  # the <lora> tokens, in order

    @property
    def has_identity(self) -> bool:
        return bool(self.tokens)


def parse_prompt(text: str) -> ParsedPrompt:
    """Find the identity tokens in ``text`` and return it without them."""
    tokens: list[FaceIdToken] = []
    loras: list[LoraToken] = []
    pieces: list[str] = []
    cursor = 0
    for match in _TAG.finditer(text):
        name = match.group(1).lower()
        if name == "lora":
            loras.append(_read_lora(match.group(2), match.group(0), match.start(), match.end()))
        elif name == "faceid":
            tokens.append(_read_faceid(match.group(2), match.group(0), match.start(), match.end()))
        else:
            raise UnsupportedPromptTokenError(
                f"Unsupported token {match.group(0)!r} in the prompt text.",
                field="text",
                details={"token": match.group(0)},
            )
        pieces.append(text[cursor : match.start()])
        cursor = match.end()
    pieces.append(text[cursor:])
    remainder = " ".join(pieces)
    unclosed = _UNCLOSED.search(remainder)
    if unclosed:
        raise PromptTokenError(
            f"Malformed identity token near {unclosed.group(0).strip()!r}: it is not closed with '>'.",
            field="text",
            details={"token": unclosed.group(0).strip()},
        )
    unclosed = _UNCLOSED_LORA.search(remainder)
    if unclosed:
        raise LoraTokenError(
            f"Malformed LoRA token near {unclosed.group(0).strip()!r}: it is not closed with '>'.",
            field="text",
            details={"token": unclosed.group(0).strip()},
        )
    if len(loras) > MAX_LORA_TOKENS:
        raise TooManyLorasError(
            f"The prompt has {len(loras)} <lora> tokens; at most {MAX_LORA_TOKENS} are allowed.", field="text"
        )
    if len(tokens) > MAX_TOKENS:
        raise TooManyIdentitiesError(
            f"The prompt has {len(tokens)} <faceid> tokens; at most {MAX_TOKENS} are allowed.",
            field="text",
        )
    return ParsedPrompt(text=_tidy(remainder), original=text, tokens=tuple(tokens), loras=tuple(loras))


def _read_faceid(body: str, raw: str, start: int, end: int) -> FaceIdToken:
    tune_id, weight = _read_token(body, raw, "faceid", "identity", PromptTokenError, FaceIdWeightError,
                                  MIN_WEIGHT, MAX_WEIGHT)
    return FaceIdToken(tune_id=tune_id, weight=weight, raw=raw, start=start, end=end)


def _read_lora(body: str, raw: str, start: int, end: int) -> LoraToken:
    tune_id, weight = _read_token(body, raw, "lora", "LoRA", LoraTokenError, LoraWeightError,
                                  MIN_LORA_WEIGHT, MAX_LORA_WEIGHT)
    return LoraToken(tune_id=tune_id, weight=weight, raw=raw, start=start, end=end)


def _read_token(body: str, raw: str, tag: str, words: str, malformed, out_of_range, low: float, high: float
                ) -> tuple[str, float]:
    """(tune id, weight) of ``<tag:TUNE_ID>`` or ``<tag:TUNE_ID:WEIGHT>``; each fault with its kind's code."""
    parts = [part.strip() for part in body.split(":")]
    if len(parts) not in (1, 2) or not (_TUNE_NUMBER.fullmatch(parts[0]) or _TUNE_NAME.fullmatch(parts[0])):
        raise malformed(
            f"Malformed {words} token {raw!r}: expected <{tag}:TUNE_ID> or <{tag}:TUNE_ID:WEIGHT>.",
            field="text",
            details={"token": raw},
        )
    if _TUNE_NUMBER.fullmatch(parts[0]) and int(parts[0]) > MAX_TUNE_ID:
        raise UnknownTuneError(
            f"The prompt names tune {parts[0]}, which does not exist (ids go up to {MAX_TUNE_ID}).",
            field="text",
            details={"tune_id": parts[0], "token": raw},
        )
    weight = DEFAULT_WEIGHT
    if len(parts) == 2:
        try:
            weight = parse_decimal(parts[1])
        except ValueError:
            raise malformed(
                f"Malformed {words} token {raw!r}: weight {parts[1]!r} is not a plain decimal number.",
                field="text",
                details={"token": raw},
            ) from None
    if not (math.isfinite(weight) and low <= weight <= high):
        raise out_of_range(
            f"{words[0].upper()}{words[1:]} weight {parts[1]} in {raw!r} is out of range; use {low:g} to {high:g}.",
            field="text",
            details={"token": raw, "weight": weight, "min": low, "max": high},
        )
    return parts[0], weight


def _tidy(text: str) -> str:
    # Removing a token leaves doubled spaces and " ," behind; CLIP would see
    # them as extra tokens.
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r"[ \t]+([,.;:!?])", r"\1", text)
    text = re.sub(r"^[ \t,]+", "", text)
    return text.strip()
