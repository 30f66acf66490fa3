"""Training on the tiny models: a preset small enough to train in a second, hooks that remember, real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.training.data import TrainingImages
from lookalike.training.presets import TrainingPreset

# Big enough a learning rate that 24 steps move the LoRA measurably; 32 px
# (16x16 latents on the tiny VAE) keeps a step near 50 ms on two cores.
TINY_PRESET = TrainingPreset(
    id="tiny-test",
    title="tests",
    steps_per_photo=12,
    min_steps=1,
    learning_rate=1e-3,
    rank=4,
    prior_preservation=True,
    class_images=2,
    class_image_steps=1,
    checkpoint_every=8,
    resolution=32,
)


class RecordingHooks:
    """TrainingHooks that keep checkpoints and class images in memory and record every report."""

    def __init__(self, checkpoint: bytes | None = None, class_images: list[bytes] | None = None) -> None:
        self.checkpoint = checkpoint
        self.checkpoints: dict[int, bytes] = {}
        self.class_images = class_images
        self.reports: list = []
        self.between = 0

    def load_checkpoint(self) -> bytes | None:
        return self.checkpoint

    def save_checkpoint(self, step: int, data: bytes) -> None:
        self.checkpoints[step] = data

    def load_class_images(self) -> list[bytes] | None:
        return self.class_images

    def save_class_images(self, images: list[bytes]) -> None:
        self.class_images = images

    def report(self, progress) -> None:
        self.reports.append(progress)

    def between_steps(self) -> None:
        self.between += 1


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The tiny model's ops are too small to share: two OpenMP threads on a busy two-core machine spin
    against each other (ten times slower than one); the thread count is restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def training_models_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("training-models")


@pytest.fixture(scope="session")
def person_images(astronaut) -> TrainingImages:
    """The astronaut's face-centred square and a face crop (as the tune keeps them), small."""
    square = np.ascontiguousarray(astronaut[0:300, 90:390])
    crop = np.ascontiguousarray(astronaut[20:220, 140:340])
    return TrainingImages((square,), (crop,))
