"""Finishing steps after generation: face swap, face correct, super resolution, colour grading, film grain.

Each step is a module with the same small contract (``base.PostProcessor``);
``pipeline`` picks them from the prompt's flags and runs them in order.
Nothing heavy is imported here.
"""

from lookalike.postprocess.base import PostprocessContext, PostProcessor, StepResult, TuneFaces
from lookalike.postprocess.models import postprocess_packs
from lookalike.postprocess.pipeline import (
    ORDER,
    Finisher,
    PostprocessFlags,
    apply,
    build_steps,
    check_steps,
    postprocess_image,
    prepare,
    summary,
)

__all__ = [
    "ORDER",
    "Finisher",
    "PostProcessor",
    "PostprocessContext",
    "PostprocessFlags",
    "StepResult",
    "TuneFaces",
    "apply",
    "build_steps",
    "check_steps",
    "postprocess_image",
    "postprocess_packs",
    "prepare",
    "summary",
]
