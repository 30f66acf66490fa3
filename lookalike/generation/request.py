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
class LoraWeights:
    """A LoRA file to apply on top of the base model for one request (a user's trained tune, say).

    ``name`` is the adapter name it is loaded under and must be the same for
    the same file every time (``tune_<id>``), so that the cached pipeline
    loads each file once. ``weight`` is the LoRA scale as written in the
    prompt (``<lora:ID:W>``).
    """

    name: str
    path: str
    weight: float


@dataclass(frozen=True)
class InitImage:
    """img2img: the picture to start from and how far to move from it.

    ``strength`` is Astria's ``denoising_strength``: 0 returns the input, 1
    ignores it. ``image`` is RGB; it is resized to the output size. With a
    ``mask`` (one channel, white = redraw) it is inpainting: only the white
    part is redrawn.
    """

    image: Image.Image
    strength: float
    mask: Image.Image | None = None


@dataclass(frozen=True)
class ControlInput:
    """ControlNet: a control image already made from the input (edges, a pose skeleton...).

    ``kind`` names the ControlNet (``canny``, ``pose``, ...), ``scale`` is
    ``controlnet_conditioning_scale``. The request's ``init`` says whether it
    is text-to-image with control (no ``init``) or image-to-image with control.
    """

    kind: str
    image: Image.Image
    scale: float


class Identity(tuple):
    """One ``<faceid>`` token resolved: (embedding, weight), plus what only some adapters need.

    A tuple of (embedding, weight), so code and tests that unpack pairs keep
    working; ``face_crop`` is the tune's aligned 224x224 face for FaceID
    PlusV2's CLIP image encoder, ``tune_id`` names the tune for scoring.
    """

    def __new__(cls, embedding, weight, face_crop=None, tune_id=None):
        self = super().__new__(cls, (np.asarray(embedding, dtype=np.float32), float(weight)))
        self.face_crop = face_crop
        self.tune_id = tune_id
        return self

    @property
    def embedding(self) -> np.ndarray:
        return self[0]

    @property
    def weight(self) -> float:
        return self[1]


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt: clean text, options, base model and identities already resolved.

    ``identities`` holds ``Identity`` (L2-normalised embedding, weight) pairs in
    the encoder space of ``base_model.adapter_encoder``, in token order (with
    two or more, ``options.faceid_layout`` places each in its own region). ``original_prompt`` is
    the text as the user wrote it (with its tokens), kept for metadata.
    """

    prompt: str
    base_model: BaseModelSpec
    options: GenerationOptions = field(default_factory=GenerationOptions)
    identities: tuple[Identity, ...] = ()
    original_prompt: str | None = None
    loras: tuple[LoraWeights, ...] = ()
    init: InitImage | None = None
    control: ControlInput | None = None

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


def _as_pair(item: Any) -> Identity:
    if isinstance(item, Identity):
        return item
    if hasattr(item, "embedding") and hasattr(item, "weight"):
        return Identity(item.embedding, item.weight, getattr(item, "face_crop", None), getattr(item, "tune_id", None))
    embedding, weight = item
    return Identity(embedding, weight)


@dataclass
class GeneratedImage:
    image: Image.Image
    seed: int
    parameters: str  # A1111-style generation parameters
    identity_score: float | None = None
    # With several people: per person in the prompt, the face found for them and its score
    # ({"tune_id", "score", "box"}; score and box None when no face was found for them).
    identity_scores: list[dict] | None = None

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
    # People conditioned: 0 (no identity), 1 (one, or a blend, everywhere), or one per region.
    people: int = 0

    @property
    def seeds(self) -> list[int]:
        return [image.seed for image in self.images]

