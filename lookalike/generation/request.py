"""What the engine is asked for and what it gives back (no torch here)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from lookalike.catalog.base_models import BaseModelSpec
from lookalike.prompts.options import GenerationOptions
from lookalike.prompts.resolve import Lookup, resolve_identities
from lookalike.prompts.syntax import parse_prompt

ScoreIdentity = Callable[[Image.Image], "float | None"]


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt: clean text, options, base model and identities already resolved.

    ``identities`` holds (L2-normalised embedding, weight) pairs in the
    encoder space of ``base_model.adapter_encoder``. ``original_prompt`` is
    the text as the user wrote it (with its tokens), kept for metadata.
    """

    prompt: str
    base_model: BaseModelSpec
    options: GenerationOptions = field(default_factory=GenerationOptions)
    identities: tuple[tuple[np.ndarray, float], ...] = ()
    original_prompt: str | None = None

    def __post_init__(self) -> None:
        pairs = tuple(_as_pair(item) for item in self.identities)
        object.__setattr__(self, "identities", pairs)

    @classmethod
    def from_text(
        cls,
        text: str,
        base_model: BaseModelSpec,
        options: GenerationOptions | None = None,
        *,
        lookup: Lookup,
    ) -> GenerationRequest:
        """Parse the tokens in ``text`` and resolve them with ``lookup(tune_id) -> embedding``."""
        parsed = parse_prompt(text)
        conditions = resolve_identities(parsed, lookup)
        return cls(
            prompt=parsed.text,
            base_model=base_model,
            options=options or GenerationOptions(),
            identities=tuple((c.embedding, c.weight) for c in conditions),
            original_prompt=text,
        )


def _as_pair(item: Any) -> tuple[np.ndarray, float]:
    if hasattr(item, "embedding") and hasattr(item, "weight"):
        return np.asarray(item.embedding, dtype=np.float32), float(item.weight)
    embedding, weight = item
    return np.asarray(embedding, dtype=np.float32), float(weight)


@dataclass
class GeneratedImage:
    image: Image.Image
    seed: int
    parameters: str  # A1111-style generation parameters
    identity_score: float | None = None

    def png_bytes(self) -> bytes:
        """The image as PNG with its parameters in a "parameters" text chunk, as A1111 writes it."""
        info = PngInfo()
        info.add_text("parameters", self.parameters)
        buffer = io.BytesIO()
        self.image.save(buffer, format="PNG", pnginfo=info)
        return buffer.getvalue()


@dataclass
class GenerationResult:
    images: list[GeneratedImage]
    seed: int  # the first image's seed; image i used seed + i
    width: int
    height: int
    steps: int
    cfg_scale: float
    scheduler: str
    base_model_id: str
    adapter_scale: float
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def seeds(self) -> list[int]:
        return [image.seed for image in self.images]

