"""Astria's prompt styles: templates kept as data (``styles.json``), applied to the text before generation.

    styled = apply_style("Cinematic", "a headshot of <faceid:7:1> woman", "blurry")
    styled.text      # "a headshot of <faceid:7:1> woman, a frame from a feature film, ..."
    styled.negative  # "blurry, snapshot, flat lighting, ..."

Following Astria's advice, the user writes the subject and scene and the
template adds the style's words. The template wraps the text as written,
tokens included, so ``<faceid>`` tokens keep working wherever they stand;
the engine then sees the styled text and the PNG records it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from lookalike.prompts.looks import STYLES

PLACEHOLDER = "{prompt}"
# The key under which an image's A1111 parameters name the style.
PARAMETERS_KEY = "Style"


@dataclass(frozen=True)
class Style:
    name: str
    positive: str  # holds PLACEHOLDER once
    negative: str
    photographic: bool  # False: an illustration style; face swap is skipped on it


@dataclass(frozen=True)
class StyledPrompt:
    text: str
    negative: str


@cache
def styles() -> dict[str, Style]:
    """Every style from the package's ``styles.json``, by Astria's name."""
    raw = json.loads(resources.files("lookalike.prompts").joinpath("styles.json").read_text(encoding="utf-8"))
    out = {}
    for name, entry in raw["styles"].items():
        if entry["positive"].count(PLACEHOLDER) != 1:
            raise ValueError(f"style {name!r}: the positive template must hold {PLACEHOLDER} once")
        out[name] = Style(name, entry["positive"], entry["negative"], bool(entry["photographic"]))
    if tuple(out) != STYLES:
        raise ValueError(f"styles.json names {tuple(out)}, not Astria's {STYLES}")
    return out


def get_style(name: str) -> Style:
    return styles()[name]


def apply_style(name: str | None, text: str, negative: str) -> StyledPrompt:
    """The text and negative prompt with style ``name`` (Astria's spelling) applied; unchanged for None."""
    if name is None:
        return StyledPrompt(text, negative)
    style = get_style(name)
    subject = text.strip().rstrip(",").strip()
    # The user's negative first; the style's words after, each once.
    terms: dict[str, str] = {}
    for term in f"{negative},{style.negative}".split(","):
        if term.strip():
            terms.setdefault(term.strip().casefold(), term.strip())
    return StyledPrompt(style.positive.replace(PLACEHOLDER, subject), ", ".join(terms.values()))


def face_swap_note(name: str | None) -> str | None:
    """Why face swap does not run under style ``name`` (an illustration style), or None when it runs."""
    if name is None or get_style(name).photographic:
        return None
    return f"style {name} is not photographic"


def with_style(parameters: str, name: str | None) -> str:
    """An image's A1111 parameters with ``, Style: <name>`` appended (unchanged without a style)."""
    return parameters if name is None else f"{parameters}, {PARAMETERS_KEY}: {name}"
