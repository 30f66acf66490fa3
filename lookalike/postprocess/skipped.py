"""A finishing step that was asked for but does not run here, said in the image's record, never dropped."""

from __future__ import annotations

from PIL import Image

from lookalike.postprocess.base import PostprocessContext, StepResult


class SkippedStep:
    """Stands in for step ``name``: checks nothing, changes nothing, records ``reason``."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def check(self, context: PostprocessContext) -> None:
        """Nothing runs, so nothing can be missing."""

    def run(self, image: Image.Image, context: PostprocessContext) -> StepResult:
        return StepResult(image, skipped_reason=self.reason)
