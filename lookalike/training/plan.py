"""One training run's exact settings, fixed when the tune is made.

The plan is stored with the tune (``tune_trainings.plan``), so a training
resumed on another worker, or after the operator changed a preset, runs the
same steps with the same seed and learning rate as the run it continues.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from lookalike.errors import InvalidFieldError
from lookalike.training.presets import TrainingPreset

PLAN_VERSION = 1
# The caption is "<token> <class>": a token must be one word CLIP reads as one rare piece.
TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]{0,31}", re.ASCII)
# Astria's defaults (docs/api/0-tune/1-create.md): sks on SD 1.5, ohwx on SDXL.
DEFAULT_TOKENS = {"sd15": "sks", "sdxl": "ohwx"}


@dataclass(frozen=True)
class TrainingPlan:
    preset: str
    base_model: str
    family: str
    resolution: int
    steps: int
    learning_rate: float
    rank: int
    alpha: float
    text_encoder: bool
    text_encoder_learning_rate: float
    prior_preservation: bool
    class_images: int
    class_image_steps: int
    prior_loss_weight: float
    batch_size: int
    warmup_steps: int
    max_grad_norm: float
    noise_offset: float
    checkpoint_every: int
    face_crop: bool
    training_face_correct: bool
    token: str
    class_name: str
    seed: int
    version: int = PLAN_VERSION

    @property
    def instance_prompt(self) -> str:
        return f"{self.token} {self.class_name}"

    @property
    def class_prompt(self) -> str:
        return self.class_name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingPlan:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def default_token(family: str) -> str:
    return DEFAULT_TOKENS.get(family, "ohwx")


def check_token(token: str) -> str:
    token = (token or "").strip()
    if not TOKEN.fullmatch(token):
        raise InvalidFieldError(
            f"tune[token] {token!r} cannot be a LoRA token: one word of ASCII letters and digits, "
            "starting with a letter, at most 32 characters.",
            field="token",
            hint="Leave it out for the default (sks on SD 1.5, ohwx on SDXL).",
        )
    return token


def make_plan(
    preset: TrainingPreset,
    *,
    base_model: str,
    family: str,
    resolution: int,
    photos: int,
    class_name: str,
    seed: int,
    token: str | None = None,
    steps: int | None = None,
    face_crop: bool | None = None,
    training_face_correct: bool = False,
    max_steps: int = 10_000,
) -> TrainingPlan:
    """The plan for a tune of ``photos`` photos on ``base_model`` with ``preset`` and the request's overrides."""
    if family not in preset.families:
        raise InvalidFieldError(
            f"Training preset {preset.id!r} is for {', '.join(preset.families)} models; "
            f"base model {base_model} is {family}.",
            field="preset",
        )
    if steps is not None and not (1 <= steps <= max_steps):
        raise InvalidFieldError(
            f"tune[steps] {steps} is out of range; use 1 to {max_steps}, or leave it out for the preset's.",
            field="steps",
            details={"min": 1, "max": max_steps},
        )
    te_rate = preset.text_encoder_learning_rate or preset.learning_rate
    return TrainingPlan(
        preset=preset.id,
        base_model=base_model,
        family=family,
        resolution=int(preset.resolution or resolution),
        steps=int(steps) if steps is not None else min(preset.steps_for(photos), max_steps),
        learning_rate=preset.learning_rate,
        rank=preset.rank,
        alpha=float(preset.alpha if preset.alpha is not None else preset.rank),
        text_encoder=preset.text_encoder,
        text_encoder_learning_rate=te_rate,
        prior_preservation=preset.prior_preservation,
        class_images=preset.class_images if preset.prior_preservation else 0,
        class_image_steps=preset.class_image_steps,
        prior_loss_weight=preset.prior_loss_weight,
        batch_size=preset.batch_size,
        warmup_steps=preset.warmup_steps,
        max_grad_norm=preset.max_grad_norm,
        noise_offset=preset.noise_offset,
        checkpoint_every=preset.checkpoint_every,
        face_crop=preset.face_crop if face_crop is None else bool(face_crop),
        training_face_correct=bool(training_face_correct),
        token=check_token(token) if token else default_token(family),
        class_name=class_name,
        seed=int(seed),
    )
