"""What both swap backends share: which faces to swap, and when not to swap at all."""

from __future__ import annotations

from lookalike.errors import InvalidFieldError
from lookalike.faces.types import Detection
from lookalike.postprocess.base import PostprocessContext, TuneFaces


def require_tune(context: PostprocessContext) -> TuneFaces:
    if context.tune is None or not context.tune.crops:
        raise InvalidFieldError(
            "face_swap puts a tune's face on the image, but this prompt names no tune.",
            field="face_swap",
            hint="Add a <faceid:TUNE_ID> token to the prompt text, or leave face_swap off.",
        )
    return context.tune


def realistic_faces(detections: list[Detection], min_score: float) -> tuple[list[Detection], str | None]:
    """The faces to swap, or none and the reason.

    A generated image in a cartoon or painted style has no face the
    photo-trained detector is sure of; swapping a photo face onto it would
    spoil it, so the swap is skipped and says why (Astria: off for cartoons).
    """
    if not detections:
        return [], "no face found in the image (not a realistic face, e.g. an illustration style)"
    kept = [d for d in detections if d.score >= min_score]
    if not kept:
        best = max(d.score for d in detections)
        return [], (
            f"the best face scores {best:.2f} with the detector, below {min_score:.2f}: "
            "not a realistic face (e.g. an illustration style)"
        )
    return kept, None
