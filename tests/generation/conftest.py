"""One tiny-model engine per test session: the model is written and loaded once."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.catalog.base_models import get_base_model
from lookalike.config import Settings


@pytest.fixture(scope="session")
def gen_settings(tmp_path_factory) -> Settings:
    root = tmp_path_factory.mktemp("lookalike-gen")
    return Settings(data_dir=root, models_dir=root / "models", device="cpu")


@pytest.fixture(scope="session")
def engine(gen_settings):
    from lookalike.generation.engine import Engine

    return Engine(gen_settings)


@pytest.fixture(scope="session")
def tiny():
    return get_base_model("tiny")


def unit(seed: int, dim: int = 128) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)
