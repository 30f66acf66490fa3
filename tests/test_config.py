"""Settings refuse a misspelt backend, mode or dtype when they are read, naming the field."""

from __future__ import annotations

from typing import get_args

import pytest
from pydantic import ValidationError

from lookalike.config import CompileMode, DtypeName, FaceBackend, FaceSwapBackend, Settings


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("face_backend", "insightfaec"),
        ("face_swap_backend", "roop"),
        ("compile_mode", "warp-speed"),
        ("dtype", "float8"),
        ("queue", "kafka"),
        ("blob_backend", "gcs"),
    ],
)
def test_a_typo_fails_at_construction_naming_the_field(field, value):
    with pytest.raises(ValidationError) as info:
        Settings(**{field: value})
    [error] = info.value.errors()
    assert error["loc"] == (field,) and error["type"] == "literal_error"


def test_a_typo_in_the_environment_fails_when_settings_are_read(monkeypatch):
    monkeypatch.setenv("LOOKALIKE_FACE_BACKEND", "ofline")
    with pytest.raises(ValidationError, match="face_backend"):
        Settings()


def test_every_allowed_value_is_accepted():
    for field, names in (("face_backend", FaceBackend), ("face_swap_backend", FaceSwapBackend),
                         ("compile_mode", CompileMode), ("dtype", DtypeName)):
        for name in get_args(names):
            assert getattr(Settings(**{field: name}), field) == name


def test_dtype_is_read_in_any_case():
    assert Settings(dtype="BF16").dtype == "bf16"
    assert Settings().dtype is None and Settings().device is None


def test_the_consumers_take_their_names_from_the_settings():
    from lookalike.device import _DTYPES
    from lookalike.faces.backends.registry import BACKENDS as face_backends
    from lookalike.generation.fast import COMPILE_MODES
    from lookalike.postprocess.face_swap import BACKENDS as swap_backends

    assert face_backends == get_args(FaceBackend)
    assert swap_backends == get_args(FaceSwapBackend)
    assert COMPILE_MODES == get_args(CompileMode)
    assert set(_DTYPES) == set(get_args(DtypeName))
