"""From (embedding, weight) pairs to one FaceID conditioning vector and an adapter scale.

The choice, and why:

* direction: the weighted mean of the L2-normalised embeddings, normalised
  again. IP-Adapter-FaceID was trained on unit-length ArcFace vectors
  (insightface's ``normed_embedding``); the mean of two different unit
  vectors is shorter than 1, and feeding it as is would weaken the identity
  as well as mixing it. The weights set the mix: ``<faceid:A:1> <faceid:B:0.5>``
  is two parts A to one part B.
* strength: the adapter scale is the largest weight. With one token this is
  simply its weight; with several, adding a second person at a lower weight
  shifts the mix without making the whole identity push stronger.
* weight 0 everywhere (or no token): no identity. The adapter's attention is
  skipped (scale 0) and its LoRA switched off, which gives the same pixels
  as a pipeline without the adapter.

The FaceID LoRA is applied at ``FACEID_LORA_SCALE`` (1.0) whenever an identity
is active, whatever the weight: that is the scale its authors trained and run
it at (upstream ``LoRAIPAttnProcessor(lora_scale=1.0)``, whose ``set_scale``
changes only the adapter's scale) and the one diffusers' ``load_ip_adapter``
sets (``set_adapters(["faceid_0"], adapter_weights=[1.0])``). The token's
weight is the IP-Adapter scale only, as ``set_ip_adapter_scale`` in
diffusers' FaceID recipe. (Until issue 13 the LoRA followed ``min(weight, 1)``,
which at any weight below 1 changed the whole image, not only the identity;
tests/conformance checks weights 1.0 and 0.5 against diffusers' recipe.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lookalike.errors import IdentityEmbeddingError
from lookalike.prompts.layouts import DEFAULT_LAYOUT, Box, layout_boxes

# The FaceID LoRA's scale while an identity is active (see the module docstring).
FACEID_LORA_SCALE = 1.0


@dataclass(frozen=True)
class IdentityBlend:
    embedding: np.ndarray | None  # unit length; None when there is no identity
    scale: float

    @property
    def lora_scale(self) -> float:
        """The FaceID LoRA's scale: 1.0 while an identity is active (the authors' scale), else 0."""
        return FACEID_LORA_SCALE if self.active else 0.0

    @property
    def active(self) -> bool:
        return self.embedding is not None and self.scale > 0


NO_IDENTITY = IdentityBlend(embedding=None, scale=0.0)


def blend_identities(identities: Sequence[tuple[np.ndarray, float]], expected_dim: int | None = None) -> IdentityBlend:
    pairs = [(np.asarray(e, dtype=np.float64).reshape(-1), float(w)) for e, w in identities]
    for vector, weight in pairs:
        if not np.isfinite(weight) or weight < 0:
            raise IdentityEmbeddingError(f"Identity weight {weight} is not a non-negative number.")
        if expected_dim is not None and vector.shape[0] != expected_dim:
            raise IdentityEmbeddingError(
                f"An identity embedding has {vector.shape[0]} values but this base model's FaceID "
                f"adapter takes {expected_dim}: the tune's embedding comes from another face encoder.",
                details={"got": int(vector.shape[0]), "expected": expected_dim},
            )
    live = [(v, w) for v, w in pairs if w > 0]
    if not live:
        return NO_IDENTITY
    if len(live) == 1:
        # One person, already unit length (insightface's normed_embedding): passed on bit for bit,
        # so one token conditions exactly as diffusers' recipe does. Normalising again would flip
        # a few last bits, which the denoising loop amplifies (~3e-5 in the latents after 3 steps).
        given = next(np.array(e, dtype=np.float32).reshape(-1) for e, w in identities if float(w) > 0)
        if abs(float(np.linalg.norm(given.astype(np.float64))) - 1.0) < 1e-6:
            return IdentityBlend(embedding=given, scale=live[0][1])
    total = sum(w for _, w in live)
    mean = sum(w * _unit(v) for v, w in live) / total
    norm = float(np.linalg.norm(mean))
    if norm < 1e-6:  # exact opposites cancel; there is no direction left to follow
        raise IdentityEmbeddingError("The identities in the prompt cancel each other out.")
    return IdentityBlend(embedding=(mean / norm).astype(np.float32), scale=max(w for _, w in live))


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0.0:
        raise IdentityEmbeddingError("An identity embedding is empty or not finite.")
    return vector / norm


# --- several people in one image: one region each ------------------------------

@dataclass(frozen=True)
class Person:
    """One identity in its own region: what the adapter gets for it."""

    embedding: np.ndarray  # unit length, the adapter encoder's space
    scale: float  # the token's weight: this person's adapter scale
    box: Box | None  # None: the whole image
    face_crop: np.ndarray | None = None  # PlusV2's CLIP input (224x224 RGB), when the adapter needs one
    tune_id: int | None = None


@dataclass(frozen=True)
class FacePlan:
    """The FaceID conditioning of one request: nobody, one identity everywhere, or one per region.

    One person (or a blend) conditions the whole image, exactly as before
    regions existed. With regions, each person's identity reaches only the
    pixels of its box, through diffusers' IP-Adapter attention masks
    (``cross_attention_kwargs["ip_adapter_masks"]``), each at its own scale.
    """

    people: tuple[Person, ...] = ()
    layout: str = "single"  # single, blend or the regions' layout name

    @property
    def active(self) -> bool:
        return any(person.scale > 0 for person in self.people)

    @property
    def regions(self) -> bool:
        return any(person.box is not None for person in self.people)

    @property
    def scale(self) -> float:
        """The largest adapter scale (metadata, and the one scale when there are no regions)."""
        return max((person.scale for person in self.people), default=0.0)

    @property
    def lora_scale(self) -> float:
        return FACEID_LORA_SCALE if self.active else 0.0

    @property
    def key(self) -> tuple:
        """What a shared pipeline call must agree on: the layout, the boxes and each person's scale."""
        if not self.active:
            return ()
        return tuple((person.box, round(person.scale, 6)) for person in self.people)


NO_FACES = FacePlan()

def plan_faces(identities, layout: str | None = None, expected_dim: int | None = None) -> FacePlan:
    """From the request's identities (in token order) to what the adapter gets.

    One live identity: that person everywhere, passed on bit for bit. Two or
    more: each in its own region of ``layout`` (default ``columns``), or
    ``blend`` for the old single mixed identity (``blend_identities``). A
    person at weight 0 keeps their region empty of any identity.
    """
    people = [_person(item) for item in identities]
    blend = blend_identities([(p.embedding, p.scale) for p in people], expected_dim=expected_dim)
    if not blend.active:
        return NO_FACES
    strongest = max(people, key=lambda p: p.scale)
    everywhere = FacePlan(
        people=(Person(blend.embedding, blend.scale, None, strongest.face_crop, strongest.tune_id),),
        layout="single" if len(people) == 1 else "blend",
    )
    if len(people) == 1:
        return everywhere
    name = layout or DEFAULT_LAYOUT
    boxes = layout_boxes(name, len(people))
    if boxes is None:
        return everywhere
    placed = tuple(
        Person(_as_given_if_unit(p.embedding), p.scale, box, p.face_crop, p.tune_id)
        for p, box in zip(people, boxes, strict=True)
        if p.scale > 0
    )
    return FacePlan(people=placed, layout=name)


def _as_given_if_unit(vector: np.ndarray) -> np.ndarray:
    """A unit vector bit for bit (as blend_identities passes one person on); anything else normalised."""
    given = np.asarray(vector, dtype=np.float32).reshape(-1)
    if abs(float(np.linalg.norm(given.astype(np.float64))) - 1.0) < 1e-6:
        return given
    return _unit(given.astype(np.float64)).astype(np.float32)


def _person(item) -> Person:
    if isinstance(item, Person):
        return item
    embedding = getattr(item, "embedding", None)
    if embedding is not None:
        return Person(
            np.asarray(embedding, dtype=np.float32).reshape(-1),
            float(item.weight),
            None,
            getattr(item, "face_crop", None),
            getattr(item, "tune_id", None),
        )
    embedding, weight = item
    return Person(np.asarray(embedding, dtype=np.float32).reshape(-1), float(weight), None)
