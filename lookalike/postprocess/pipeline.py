"""Which steps a prompt asks for, in Astria's order, and running them on one image.

    steps = build_steps(PostprocessFlags(face_swap=True, super_resolution=True), settings)
    check_steps(steps, context)                    # before generating: fail fast
    image, records = apply(steps, image, context)  # per generated image

Order is fixed: face swap, face correct, super resolution, colour grading,
film grain. Swapping first lets restoration clean the swap's seams;
upscaling after the face steps keeps them at the generator's resolution,
where the detector and networks are fast; the looks come last, at the
delivered size: the grade of the final pixels, then grain that nothing
resamples or tints.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from PIL import Image

from lookalike.config import Settings
from lookalike.postprocess.base import PostprocessContext, PostProcessor

ORDER = ("face_swap", "face_correct", "super_resolution", "color_grading", "film_grain")
_SWITCHES = ("face_swap", "face_correct", "super_resolution", "film_grain")


@dataclass(frozen=True)
class PostprocessFlags:
    face_swap: bool = False
    face_correct: bool = False
    super_resolution: bool = False
    color_grading: str | None = None  # a look's name (Astria's spelling), or None
    film_grain: bool = False
    # Why face swap is recorded as skipped instead of run (an illustration style), when it is.
    face_swap_skipped: str | None = None

    @classmethod
    def from_options(cls, options: Any) -> PostprocessFlags:
        """From any object or mapping with the prompt's finishing fields (GenerationOptions, a form)."""
        get = options.get if isinstance(options, dict) else (lambda name, default: getattr(options, name, default))
        switches = {name: bool(get(name, False)) for name in _SWITCHES}
        return cls(**switches, color_grading=get("color_grading", None) or None)

    @property
    def any(self) -> bool:
        return any(getattr(self, name) for name in ORDER)


def build_steps(flags: PostprocessFlags, settings: Settings) -> list[PostProcessor]:
    steps: list[PostProcessor] = []
    if flags.face_swap and flags.face_swap_skipped:
        from lookalike.postprocess.skipped import SkippedStep

        steps.append(SkippedStep("face_swap", flags.face_swap_skipped))
    elif flags.face_swap:
        from lookalike.postprocess.face_swap import build_face_swap

        steps.append(build_face_swap(settings))
    if flags.face_correct:
        from lookalike.postprocess.face_restore import FaceCorrect

        steps.append(FaceCorrect())
    if flags.super_resolution:
        from lookalike.postprocess.upscale import SuperResolution

        steps.append(SuperResolution(settings))
    if flags.color_grading:
        from lookalike.postprocess.color_grading import ColorGrading

        steps.append(ColorGrading(flags.color_grading))
    if flags.film_grain:
        from lookalike.postprocess.film_grain import FilmGrain

        steps.append(FilmGrain())
    return steps


def check_steps(steps: list[PostProcessor], context: PostprocessContext) -> None:
    """Raise the first step's error (ModelUnavailableError naming `lookalike models pull ...`, ...)."""
    for step in steps:
        step.check(context)


def apply(steps: list[PostProcessor], image: Image.Image, context: PostprocessContext,
          on_step: Callable[[str], None] | None = None) -> tuple[Image.Image, list[dict[str, Any]]]:
    """Run ``steps`` in order on one image; one record per step.

    A record is ``{"step", "status": "applied" | "skipped", "seconds", ...details}``
    with ``"reason"`` when skipped. Errors propagate: a step that cannot run
    fails the job, it is never skipped in silence. ``on_step(name)`` is told
    as each step starts (live progress).
    """
    records = []
    for step in steps:
        if on_step is not None:
            on_step(step.name)
        started = time.perf_counter()
        result = step.run(image, context)
        record: dict[str, Any] = {
            "step": step.name,
            "status": "skipped" if result.skipped_reason else "applied",
            "seconds": round(time.perf_counter() - started, 3),
        }
        if result.skipped_reason:
            record["reason"] = result.skipped_reason
        record.update(result.details)
        records.append(record)
        image = result.image
    return image, records


def postprocess_image(image: Image.Image, flags: PostprocessFlags, context: PostprocessContext,
                      steps: list[PostProcessor] | None = None) -> tuple[Image.Image, list[dict[str, Any]]]:
    """The runner's one call per generated image.

    Pass ``steps`` built (and checked) once per job so that per-job state,
    such as the tune photo the warp swap picked, is reused across images.
    """
    if steps is None:
        steps = build_steps(flags, context.settings)
        check_steps(steps, context)
    return apply(steps, image, context)


@dataclass
class Finisher:
    """A job's steps, built and checked once, applied to each of its images."""

    steps: list[PostProcessor]
    context: PostprocessContext

    def __call__(self, image: Image.Image, seed: int, on_step: Callable[[str], None] | None = None
                 ) -> tuple[Image.Image, list[dict[str, Any]]]:
        # The image's own seed: face restoration draws noise, and image i of a
        # job must come out the same when the job is re-run.
        return apply(self.steps, image, replace(self.context, seed=seed), on_step)


def prepare(flags: PostprocessFlags, context: PostprocessContext) -> Finisher | None:
    """None when no step is asked for; otherwise the checked steps (raises before any GPU time is spent)."""
    if not flags.any:
        return None
    steps = build_steps(flags, context.settings)
    check_steps(steps, context)
    return Finisher(steps, context)


def summary(records: list[dict[str, Any]]) -> str:
    """One short line for an image's metadata: ``face_swap skipped (no face found); super_resolution applied``.

    A step that reports ``settings`` has them in brackets: ``color_grading applied (Film Portra)``.
    """
    parts = []
    for record in records:
        text = f"{record['step']} {record['status']}"
        if record.get("reason"):
            text += f" ({record['reason']})"
        elif record.get("settings"):
            text += f" ({record['settings']})"
        parts.append(text)
    return "; ".join(parts)


# The key under which an image's A1111-style parameters carry ``summary``.
PARAMETERS_KEY = "Postprocess"


def with_summary(parameters: str, records: list[dict[str, Any]]) -> str:
    """``parameters`` with ``, Postprocess: "<summary>"`` appended (quoted: the summary holds commas)."""
    import json

    return f"{parameters}, {PARAMETERS_KEY}: {json.dumps(summary(records))}"


def summary_from_parameters(parameters: str) -> str | None:
    """The summary ``with_summary`` wrote, or None when no step ran."""
    import json

    _, found, rest = parameters.rpartition(f", {PARAMETERS_KEY}: ")
    if not found:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(rest)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, str) else None
