"""Fixtures for the finishing steps: one real face analyzer for the session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def analyzer():
    from lookalike.config import Settings
    from lookalike.faces.backends.registry import build_analyzer

    return build_analyzer(Settings())


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    # Tests save different stand-ins under the same pack ids.
    from lookalike.postprocess.torch_runtime import clear_cache

    clear_cache()
    yield
    clear_cache()
