"""Shared fixtures: real photos that installed packages ship, and bad files we make."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED_FACES = REPO.parent / "shared" / "data" / "faces"


def encode(array: np.ndarray, fmt: str = "JPEG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def cat() -> np.ndarray:
    from skimage import data

    return data.chelsea()


@pytest.fixture(scope="session")
def hopper() -> np.ndarray:
    """Grace Hopper (public domain), shipped in matplotlib's sample data: a second real person."""
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as fh:
        return np.asarray(Image.open(fh).convert("RGB"))


@pytest.fixture
def settings(tmp_path, monkeypatch):
    """Settings on a fresh data directory, also seen by CLI commands run in-process."""
    from lookalike.config import Settings, get_settings

    monkeypatch.setenv("LOOKALIKE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield Settings()
    get_settings.cache_clear()


@pytest.fixture
def services(settings):
    from lookalike.services import Services

    svc = Services(settings)
    yield svc
    svc.close()


def shared_faces() -> Path:
    if not SHARED_FACES.is_dir():
        pytest.skip(f"{SHARED_FACES} is absent: real-photo checks skipped")
    return SHARED_FACES
