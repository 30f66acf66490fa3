"""Colour grading (Astria's ``color_grading``): a film look on each finished image, in linear light.

Runs after super resolution, so the grade is of the delivered pixels, and
before film grain, so the grain is not tinted by the look. The looks and how
they are made: ``grading/`` and docs/POSTPROCESS.md, "Looks".
"""

from __future__ import annotations

from PIL import Image

from lookalike.errors import InvalidFieldError
from lookalike.postprocess.base import PostprocessContext, StepResult, to_rgb_array


class ColorGrading:
    name = "color_grading"

    def __init__(self, look: str) -> None:
        self.look = look

    def check(self, context: PostprocessContext) -> None:
        """The data ships in the package: only a name it has no look for can fail. Checked by file name
        only, so the API's check of a prompt loads neither the look nor scipy."""
        from lookalike.postprocess.grading.looks import has_look

        if not has_look(self.look):
            raise self._unknown()

    def run(self, image: Image.Image, context: PostprocessContext) -> StepResult:
        from lookalike.postprocess.grading.looks import load_look

        try:
            look = load_look(self.look)
        except KeyError:
            raise self._unknown() from None
        graded = look.apply(to_rgb_array(image))
        return StepResult(Image.fromarray(graded), details={"settings": look.name, "look": look.name})

    def _unknown(self) -> InvalidFieldError:
        from lookalike.postprocess.grading.looks import look_names

        return InvalidFieldError(
            f"Unknown color_grading {self.look!r}. Valid: {', '.join(look_names())}.",
            field="color_grading",
            details={"valid": list(look_names())},
        )
