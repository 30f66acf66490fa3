"""Training presets as data: the built-in JSON files, then the operator's directory, checked at start.

A preset says how a LoRA tune is trained: steps per photo (with a floor and a
ceiling), learning rate, rank, whether the text encoder trains too, prior
preservation and its class images, how often to checkpoint. Every ``*.json``
file is one preset; a file that is not valid JSON, breaks a rule, or reuses
an id stops the load with ``TrainingPresetError`` naming the file and the
field, so a server with a bad preset file does not start rather than train
with a preset nobody meant. An operator's preset may replace a built-in one
by using its id (that is how an operator retunes ``portrait``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lookalike.errors import TrainingPresetError, UnknownTrainingPresetError

BUILTIN_PACKAGE = "lookalike.training"
BUILTIN_FOLDER = "presets"
DEFAULT_PRESET = "portrait"


class TrainingPreset(BaseModel):
    """One preset file. Numbers have ranges that a real training can use; anything else is refused by name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$", description="What tune[preset] names.")
    title: str = Field(min_length=1, max_length=80)
    description: str = Field("", max_length=1000)
    steps_per_photo: int = Field(ge=1, le=1000)
    min_steps: int = Field(1, ge=1, le=100_000)
    max_steps: int = Field(5000, ge=1, le=100_000)
    learning_rate: float = Field(gt=0, le=0.1)
    rank: int = Field(ge=1, le=256)
    # LoRA alpha; None means alpha = rank (scale 1, as diffusers' DreamBooth LoRA script trains).
    alpha: float | None = Field(None, gt=0, le=1024)
    text_encoder: bool = False
    text_encoder_learning_rate: float | None = Field(None, gt=0, le=0.1)
    prior_preservation: bool = False
    class_images: int = Field(0, ge=0, le=1000)
    class_image_steps: int = Field(25, ge=1, le=100)
    prior_loss_weight: float = Field(1.0, ge=0, le=10)
    batch_size: int = Field(1, ge=1, le=16)
    warmup_steps: int = Field(0, ge=0, le=10_000)
    max_grad_norm: float = Field(1.0, gt=0, le=100)
    noise_offset: float = Field(0.0, ge=0, le=1)
    checkpoint_every: int = Field(100, ge=1, le=100_000)
    # Training size (square); None trains at the base model's native size (512 for SD1.5, 1024 for SDXL).
    resolution: int | None = Field(None, ge=32, le=2048, multiple_of=8)
    # What face_crop is when the request leaves it out (Astria: an account setting).
    face_crop: bool = True
    families: tuple[Literal["sd15", "sdxl"], ...] = ("sd15", "sdxl")

    @model_validator(mode="after")
    def _consistent(self) -> TrainingPreset:
        if self.min_steps > self.max_steps:
            raise ValueError(f"min_steps ({self.min_steps}) is above max_steps ({self.max_steps})")
        if self.prior_preservation and self.class_images < 1:
            raise ValueError("prior_preservation needs class_images of at least 1")
        if not self.families:
            raise ValueError("families must name sd15, sdxl or both")
        return self

    def steps_for(self, photos: int) -> int:
        """Steps for a tune of ``photos`` photos: steps_per_photo each, within [min_steps, max_steps]."""
        return max(self.min_steps, min(self.max_steps, self.steps_per_photo * max(1, photos)))


@dataclass(frozen=True)
class PresetCatalog:
    presets: tuple[TrainingPreset, ...]
    default: str = DEFAULT_PRESET

    def get(self, preset_id: str | None) -> TrainingPreset:
        wanted = (preset_id or self.default).strip().lower()
        for preset in self.presets:
            if preset.id == wanted:
                return preset
        known = ", ".join(p.id for p in self.presets)
        hint = f"Use one of: {known}, or leave tune[preset] out for {self.default}."
        if wanted.startswith("flux-"):
            hint = f"Astria's flux-lora-* presets train Flux, which this server does not run. {hint}"
        raise UnknownTrainingPresetError(
            f"tune[preset] {preset_id!r} is not a training preset here.",
            field="preset",
            hint=hint,
            details={"valid": [p.id for p in self.presets]},
        )

    def ids(self) -> list[str]:
        return [p.id for p in self.presets]


def load_presets(presets_dir: Path | None, *, required: bool = False, default: str = DEFAULT_PRESET) -> PresetCatalog:
    """The built-in presets, then every ``*.json`` in ``presets_dir`` (sorted by name; same id replaces).

    ``required``: the directory was named by the operator, so its absence is an error.
    """
    found: dict[str, tuple[TrainingPreset, str]] = {}
    builtin = resources.files(BUILTIN_PACKAGE).joinpath(BUILTIN_FOLDER)
    for entry in sorted(builtin.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            _add(found, _read(entry, f"(built-in) {entry.name}"), f"(built-in) {entry.name}", replace=False)
    if presets_dir is not None:
        folder = Path(presets_dir)
        if not folder.is_dir():
            if required:
                raise TrainingPresetError(
                    f"The training presets directory {folder} does not exist.",
                    hint="Create it, or unset LOOKALIKE_TRAINING_PRESETS_DIR.",
                    details={"file": str(folder)},
                )
        else:
            operator: set[str] = set()
            for path in sorted(folder.glob("*.json")):
                preset = _read(path, str(path))
                if preset.id in operator:
                    raise TrainingPresetError(
                        f"{path}: preset id {preset.id!r} is used by another file in {folder}.",
                        field="id",
                        details={"file": str(path)},
                    )
                operator.add(preset.id)
                _add(found, preset, str(path), replace=True)
    catalog = PresetCatalog(tuple(p for p, _ in found.values()), default=default)
    if default not in found:
        raise TrainingPresetError(
            f"The default training preset {default!r} is not defined.",
            field="default",
            hint=f"Set LOOKALIKE_TRAINING_DEFAULT_PRESET to one of: {', '.join(catalog.ids())}.",
        )
    return catalog


def _add(found: dict, preset: TrainingPreset, source: str, *, replace: bool) -> None:
    if preset.id in found and not replace:
        raise TrainingPresetError(
            f"{source}: preset id {preset.id!r} is used twice.", field="id", details={"file": source}
        )
    found[preset.id] = (preset, source)


def _read(entry: Traversable | Path, source: str) -> TrainingPreset:
    try:
        data = json.loads(entry.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise TrainingPresetError(f"{source} is not a readable JSON file: {exc}.", details={"file": source}) from None
    try:
        return TrainingPreset.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first.get("loc", ())) or None
        raise TrainingPresetError(
            f"{source}: {field + ': ' if field else ''}{first.get('msg', 'invalid')}.",
            field=field,
            details={"file": source},
        ) from None
