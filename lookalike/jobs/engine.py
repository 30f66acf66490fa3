"""The worker's narrow view of generation: check a prompt, run it, warm up.

``lookalike.execution.runner`` does the work; this adapter is the one place
that knows its names, and it imports it only when first used so that the API
process starts without torch.
"""

from __future__ import annotations

import importlib
import inspect
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from lookalike.errors import ModelUnavailableError, NotFoundError, UnknownTuneError
from lookalike.execution.context import RunContext
from lookalike.execution.input_image import InputImageRef


@dataclass(frozen=True)
class PromptSpec:
    """A prompt as stored: everything needed to check and run it again after a restart."""

    account_id: int
    tune_id: int | None  # a FaceID tune of the account, when posted to one
    base_model: str | int | None  # a base model, when posted to a gallery id
    text: str
    negative_prompt: str
    options: dict[str, Any] = field(default_factory=dict)
    input_image: InputImageRef | None = None  # img2img / ControlNet: the stored image (or its bytes, at POST)


@dataclass(frozen=True)
class OutputImage:
    png: bytes
    seed: int
    width: int
    height: int
    identity_score: float | None = None
    postprocess: str | None = None  # what the finishing steps did, when any was asked for
    identity_scores: list[dict] | None = None  # several people: each one's face and likeness


# on_progress(step, steps, image, images, finishing_step=None): jobs/progress.py says what each means.
OnProgress = Callable[..., None]


class PromptEngine(Protocol):
    """What the worker needs of generation. ``run`` (and ``run_many``, where an engine batches) may
    take ``on_progress``, one callable per prompt; engines whose ``run`` does not are run without it."""

    def check(self, spec: PromptSpec) -> Any: ...

    def run(self, resolved: Any) -> list[OutputImage]: ...

    def warmup(self, base_models: list[str]) -> None: ...


def takes_progress(method: Callable[..., Any]) -> bool:
    """Whether an engine method accepts ``on_progress`` (engines written before it existed do not)."""
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "on_progress" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def load_engine(reference: str, context: RunContext) -> PromptEngine:
    """The engine named ``"package.module:factory"``, built with the runner's context."""
    module_name, _, attribute = reference.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute or "Engine")
    except (ImportError, AttributeError) as exc:
        raise ModelUnavailableError(
            f"The prompt engine {reference!r} cannot be loaded ({exc}).",
            hint="Set LOOKALIKE_PROMPT_ENGINE to module:factory, or leave it empty for the built-in engine.",
        ) from exc
    return factory(context)


class RunnerEngine:
    """PromptEngine on top of ``lookalike.execution.runner``."""

    def __init__(self, context: RunContext) -> None:
        self.context = context

    def _runner(self):
        try:
            from lookalike.execution import runner
        except ImportError as exc:
            raise ModelUnavailableError(
                f"The generation engine cannot be loaded ({exc}).",
                hint="Install lookalike with its generation extras (torch, diffusers).",
            ) from exc
        return runner

    def check(self, spec: PromptSpec) -> Any:
        runner = self._runner()
        try:
            return runner.check_prompt(
                self.context,
                account_id=spec.account_id,
                tune_id=spec.tune_id,
                text=spec.text,
                negative_prompt=spec.negative_prompt,
                options=dict(spec.options),
                base_model=spec.base_model,
                input_image=spec.input_image,
            )
        except NotFoundError as exc:
            # The URL's tune was checked before; a missing tune here is one
            # named in the text, which makes the body wrong (422), not the URL.
            raise UnknownTuneError(exc.message, field="text", details=exc.details) from exc

    def run(self, resolved: Any, on_progress: OnProgress | None = None) -> list[OutputImage]:
        result = self._runner().run_prompt(self.context, resolved, on_progress=on_progress)
        # run_prompt answers a GenerationResult; its images carry seeds and scores.
        return [_output(image) for image in getattr(result, "images", result)]

    def run_many(
        self, resolved: list[Any], on_progress: Sequence[OnProgress | None] | None = None
    ) -> list[list[OutputImage] | Exception]:
        """Several checked prompts as one generation batch; each prompt's images or its own error.

        ``on_progress``: one callable (or None) per prompt, in order.
        """
        outcomes = self._runner().run_prompts(self.context, list(resolved), on_progress=on_progress)
        return [o if isinstance(o, Exception) else [_output(image) for image in o.images] for o in outcomes]

    def batch_limit(self) -> int:
        """Images one generation call may take (``Engine.batch_limit``: 8 on CUDA, 1 on the CPU)."""
        return int(self.context.generator().batch_limit())

    def warmup(self, base_models: list[str]) -> None:
        runner = self._runner()
        for model in base_models:
            runner.warmup(self.context, model)


def _output(image: Any) -> OutputImage:
    png = image.png if hasattr(image, "png") else image.png_bytes()
    from PIL import Image

    with Image.open(io.BytesIO(png)) as decoded:  # reads the header only
        width, height = decoded.size
    score = getattr(image, "identity_score", None)
    return OutputImage(
        png=png,
        seed=int(image.seed),
        width=width,
        height=height,
        identity_score=None if score is None else float(score),
        postprocess=_postprocess_summary(image),
        identity_scores=getattr(image, "identity_scores", None),
    )


def _postprocess_summary(image: Any) -> str | None:
    parameters = getattr(image, "parameters", None)
    if not parameters:
        return None
    from lookalike.execution.runner import postprocess_summary

    return postprocess_summary(parameters)
