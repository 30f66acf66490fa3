"""From a user's prompt to finished images: the one path the CLI and the worker share.

    resolved = check_prompt(ctx, account_id=None, tune_id=None, text=..., negative_prompt="",
                            options={"num_images": 2}, base_model=None)
    images = run_prompt(ctx, resolved)

``ctx`` is the ``RunContext`` the composition root builds.

``check_prompt`` is cheap (no torch) and raises every input error up front,
so the API can answer 422 before queueing. ``run_prompt`` resolves each
tune's identity in the space of the adapter's face encoder (computing it from
the tune's kept crops the first time), generates, and scores each image
against the tune with the offline face analysis.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lookalike.catalog.base_models import DEFAULT_BASE_MODEL_ID, BaseModelSpec, get_base_model
from lookalike.errors import TuneNotFoundError, UnknownTuneError, UnsupportedBaseModelError
from lookalike.prompts.options import GenerationOptions
from lookalike.execution.context import RunContext
from lookalike.prompts.syntax import ParsedPrompt, parse_prompt


@dataclass(frozen=True)
class ResolvedPrompt:
    account_id: int | None
    text: str  # as the user wrote it, tokens included
    parsed: ParsedPrompt
    base_model: BaseModelSpec
    options: GenerationOptions
    # (tune id, weight) for each <faceid> token, in order
    identities: tuple[tuple[int, float], ...]


def check_prompt(
    ctx: RunContext,
    *,
    account_id: int | None,
    tune_id: int | None,
    text: str,
    negative_prompt: str | None,
    options: dict[str, Any],
    base_model: str | int | None,
) -> ResolvedPrompt:
    """Validate everything a prompt names; raise the first problem as a typed error.

    The base model is, in order: the one asked for, the base of the tune the
    prompt was posted to, the base of the first tune in the text, the default.
    A tune of another account is reported exactly like a missing one.
    """
    parsed = parse_prompt(text)
    identities = []
    bases = []
    for token in parsed.tokens:
        number = _tune_number(token.tune_id)
        try:
            tune = ctx.tunes.get(number, account_id=account_id)
        except TuneNotFoundError as exc:
            raise UnknownTuneError(
                f"The prompt names tune {token.tune_id}, which does not exist or is not yours.",
                field="text",
                hint="Use the id of one of your tunes (`lookalike tunes list`).",
                details={"tune_id": token.tune_id},
            ) from exc
        identities.append((number, token.weight))
        bases.append(tune["base_model"])
    if base_model not in (None, ""):
        spec = get_base_model(base_model)
    elif tune_id is not None:
        spec = get_base_model(ctx.tunes.get(tune_id, account_id=account_id)["base_model"])
    else:
        spec = get_base_model(bases[0] if bases else DEFAULT_BASE_MODEL_ID)
    if not spec.engine_supported:
        raise UnsupportedBaseModelError(
            f"Base model {spec.id} is catalogued but the engine cannot run it yet.",
            hint="Post to an SD 1.5 model's gallery id, or use a tune made on one (`lookalike models list`).",
        )
    fields = dict(options)
    fields["negative_prompt"] = negative_prompt or ""
    resolved = ResolvedPrompt(
        account_id=account_id,
        text=text,
        parsed=parsed,
        base_model=spec,
        options=GenerationOptions.from_fields(fields),
        identities=tuple(identities),
    )
    _require_models(ctx, resolved)
    prepare_postprocess(ctx, resolved)
    return resolved


def _require_models(ctx: RunContext, resolved: ResolvedPrompt) -> None:
    """Say now, and all at once, which weights are missing (a file check, no loading)."""
    from lookalike.errors import ModelUnavailableError
    from lookalike.execution.readiness import missing_packs, needed_packs

    spec = resolved.base_model
    wants_tiny_vae = resolved.options.tiny_vae
    if wants_tiny_vae is None:
        wants_tiny_vae = ctx.settings.tiny_vae
    packs = needed_packs(
        spec,
        scheduler=resolved.options.scheduler,
        adapter_encoder=bool(resolved.identities) and spec.adapter.encoder != ctx.analyzer().encoder.name,
        tiny_vae=wants_tiny_vae,
    )
    missing = list(missing_packs(packs, ctx.settings))
    if missing:
        commands = " and ".join(f"`lookalike models pull {m}`" for m in missing)
        raise ModelUnavailableError(
            f"This prompt needs models that are not in {ctx.settings.models_dir}: {', '.join(missing)}.",
            hint=f"Run {commands} on a machine with internet access.",
            details={"missing": missing},
        )


def run_prompt(ctx: RunContext, resolved: ResolvedPrompt, on_progress: Callable[..., None] | None = None):
    """Generate the images; returns the engine's ``GeneratedImage`` list, scored.

    ``on_progress(step, steps, image, images, finishing_step=None)`` hears each
    denoising step and each finishing step of each image (lookalike/jobs/progress.py).
    """
    outcome = run_prompts(ctx, [resolved], on_progress=None if on_progress is None else [on_progress])[0]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def run_prompts(
    ctx: RunContext, prompts: list[ResolvedPrompt], on_progress: Sequence[Callable[..., None] | None] | None = None
) -> list:
    """Several prompts, generated as one batch where they are compatible (``Engine.generate_batch``).

    Returns, in order, each prompt's result or the error that stopped it:
    a prompt whose identity or finishing steps cannot be prepared fails
    alone, before anything is generated. If the batch itself fails, each
    prompt is run alone, so one bad prompt cannot fail the others.
    ``on_progress``: one reporter (or None) per prompt, as ``run_prompt`` takes.
    """
    reporters = list(on_progress) if on_progress is not None else [None] * len(prompts)
    outcomes: list = [None] * len(prompts)
    ready = []  # (index, request, finisher)
    for index, resolved in enumerate(prompts):
        try:
            request = _request(ctx, resolved)
            finisher = prepare_postprocess(ctx, resolved)  # before generating: a missing model fails fast
        except Exception as exc:  # noqa: BLE001 - handed back to the caller as this prompt's outcome
            outcomes[index] = exc
            continue
        ready.append((index, request, finisher))
    if not ready:
        return outcomes
    try:
        results = ctx.generator().generate_batch(
            [request for _, request, _ in ready], **_progress_kwargs([reporters[index] for index, _, _ in ready])
        )
    except Exception as exc:  # noqa: BLE001 - alone it is the prompt's own error; in a batch, retried one by one
        if len(ready) == 1:
            results = [exc]
        else:
            results = []
            for index, request, _ in ready:
                try:
                    results.append(ctx.generator().generate(request, **_progress_kwargs([reporters[index]], one=True)))
                except Exception as alone:  # noqa: BLE001 - this prompt's outcome
                    results.append(alone)
    for (index, _, finisher), result in zip(ready, results, strict=True):
        if not isinstance(result, Exception):
            try:
                _finish(ctx, prompts[index], result, finisher, reporters[index])
            except Exception as exc:  # noqa: BLE001 - this prompt's outcome
                result = exc
        outcomes[index] = result
    return outcomes


def _request(ctx: RunContext, resolved: ResolvedPrompt):
    from lookalike.generation.request import GenerationRequest

    encoder = ctx.face_encoder(resolved.base_model.adapter.encoder)
    return GenerationRequest(
        prompt=resolved.parsed.text,
        base_model=resolved.base_model,
        options=resolved.options,
        identities=tuple(
            (ctx.tunes.identity(tune, encoder, account_id=resolved.account_id), weight)
            for tune, weight in resolved.identities
        ),
        original_prompt=resolved.text,
    )


def _progress_kwargs(reporters: list, *, one: bool = False) -> dict:
    """``on_progress`` for the generator, only when someone listens (so engines without it still work)."""
    if not any(reporter is not None for reporter in reporters):
        return {}
    return {"on_progress": reporters[0] if one else reporters}


def _finish(ctx: RunContext, resolved: ResolvedPrompt, result, finisher, on_progress=None) -> None:
    if finisher is not None:
        apply_postprocess(finisher, result, on_progress)
    reference = _score_reference(ctx, resolved)
    count = len(result.images)
    for number, image in enumerate(result.images, start=1):
        if on_progress is not None and reference is not None:
            on_progress(None, None, number, count, finishing_step="identity_score")
        image.identity_score = identity_score(ctx, image.image, reference)


# -- post-processing (issue 5): face swap, face correct, super resolution ----


def prepare_postprocess(ctx: RunContext, resolved: ResolvedPrompt):
    """The prompt's finishing steps, checked (a ``postprocess.Finisher``), or None when none is asked for.

    Raises what a step cannot do: ModelUnavailableError naming
    `lookalike models pull ...`, or face swap without a tune in the prompt.
    """
    from lookalike.postprocess import PostprocessContext, PostprocessFlags, prepare

    flags = PostprocessFlags.from_options(resolved.options)
    if not flags.any:
        return None
    context = PostprocessContext(
        settings=ctx.settings,
        analyzer=ctx.analyzer,
        tune=_swap_source(ctx, resolved) if flags.face_swap else None,
        size=resolved.options.size_for(resolved.base_model.native_size),
    )
    return prepare(flags, context)


def apply_postprocess(finisher, result, on_progress: Callable[..., None] | None = None) -> None:
    """Finish each image in place; what ran or was skipped (and why) goes into its parameters.

    ``on_progress`` hears each step's name as it starts on each image.
    """
    from lookalike.postprocess.pipeline import with_summary

    count = len(result.images)
    for number, image in enumerate(result.images, start=1):
        if on_progress is None:
            image.image, records = finisher(image.image, image.seed)
        else:

            def on_step(name: str, number: int = number) -> None:
                on_progress(None, None, number, count, finishing_step=name)

            image.image, records = finisher(image.image, image.seed, on_step=on_step)
        image.parameters = with_summary(image.parameters, records)


def postprocess_summary(parameters: str) -> str | None:
    """What the finishing steps did, read back from an image's A1111 parameters (None if none ran)."""
    from lookalike.postprocess.pipeline import summary_from_parameters

    return summary_from_parameters(parameters)


def _swap_source(ctx: RunContext, resolved: ResolvedPrompt):
    """The most heavily weighted tune's kept crops, as face swap wants them; None without a tune."""
    from lookalike.postprocess import TuneFaces

    if not resolved.identities:
        return None
    tune, _ = max(resolved.identities, key=lambda pair: pair[1])
    account = resolved.account_id
    return TuneFaces(
        crops=ctx.tunes.large_crops(tune, account_id=account),
        identity=lambda encoder: ctx.tunes.identity(tune, encoder, account_id=account),
        tune_id=tune,
    )


def warmup(ctx: RunContext, base_model: str | int) -> None:
    """Load what the first prompt would: the base model and the face analysis."""
    ctx.generator().warmup(get_base_model(base_model))
    ctx.analyzer().warmup()


def identity_score(ctx: RunContext, image, reference: np.ndarray | None) -> float | None:
    """Cosine similarity of the largest face in ``image`` to ``reference``; None without either."""
    if reference is None:
        return None
    analyzer = ctx.analyzer()
    pixels = np.asarray(image.convert("RGB"))
    detections = analyzer.detect(pixels)
    if not detections:
        return None
    face = analyzer.prepare(pixels, max(detections, key=lambda d: d.size))
    analyzer.embed(pixels, [face])
    return round(float(np.dot(face.embeddings[analyzer.encoder.name], reference)), 4)


def _score_reference(ctx: RunContext, resolved: ResolvedPrompt) -> np.ndarray | None:
    """The offline identity of the most heavily weighted tune in the prompt."""
    if not resolved.identities:
        return None
    tune, _ = max(resolved.identities, key=lambda pair: pair[1])
    return ctx.tunes.identity(tune, ctx.analyzer().encoder, account_id=resolved.account_id)


def _tune_number(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise UnknownTuneError(
            f"Tune ids are numbers; {raw!r} is not one.", field="text", details={"tune_id": raw}
        ) from None
