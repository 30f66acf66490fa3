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
from lookalike.execution.input_image import InputImageRef
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
    # img2img / ControlNet: the input image (execution/input_image.py)
    input_image: InputImageRef | None = None
    # (tune id, weight) for each <lora> token, in order (issue 15)
    loras: tuple[tuple[int, float], ...] = ()


def check_prompt(
    ctx: RunContext,
    *,
    account_id: int | None,
    tune_id: int | None,
    text: str,
    negative_prompt: str | None,
    options: dict[str, Any],
    base_model: str | int | None,
    input_image: InputImageRef | None = None,
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
        tune = _own_tune(ctx, token.tune_id, number, account_id, "tunes")
        identities.append((number, token.weight))
        bases.append(tune["base_model"])
    loras, lora_bases = _check_loras(ctx, parsed, account_id)
    bases += lora_bases
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
    _check_lora_family(spec, loras, lora_bases)
    fields = dict(options)
    fields["negative_prompt"] = negative_prompt or ""
    from lookalike.execution.input_image import check_input_image

    resolved = ResolvedPrompt(
        account_id=account_id,
        text=text,
        parsed=parsed,
        base_model=spec,
        options=check_input_image(GenerationOptions.from_fields(fields), spec, input_image),
        identities=tuple(identities),
        input_image=input_image,
        loras=loras,
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
    from lookalike.execution.input_image import missing_for_image

    missing = list(missing_packs(packs, ctx.settings)) + missing_for_image(resolved.options, spec, ctx.settings)
    missing += _check_identities(ctx, resolved)
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
            [first_pass(request) for _, request, _ in ready],
            **_progress_kwargs([reporters[index] for index, _, _ in ready]),
        )
    except Exception as exc:  # noqa: BLE001 - alone it is the prompt's own error; in a batch, retried one by one
        if len(ready) == 1:
            results = [exc]
        else:
            results = []
            for index, request, _ in ready:
                try:
                    results.append(
                        ctx.generator().generate(first_pass(request), **_progress_kwargs([reporters[index]], one=True))
                    )
                except Exception as alone:  # noqa: BLE001 - this prompt's outcome
                    results.append(alone)
    for (index, request, finisher), result in zip(ready, results, strict=True):
        if not isinstance(result, Exception):
            try:
                _finish(ctx, prompts[index], result, finisher, reporters[index], request)
            except Exception as exc:  # noqa: BLE001 - this prompt's outcome
                result = exc
        outcomes[index] = result
    return outcomes


def _request(ctx: RunContext, resolved: ResolvedPrompt):
    from lookalike.generation.request import GenerationRequest
    from lookalike.prompts.styles import apply_style

    from lookalike.execution.input_image import engine_inputs

    inputs = engine_inputs(ctx, resolved.options, resolved.base_model, resolved.input_image)
    # Astria's style wraps the text as written, tokens and all; the engine sees (and the PNG keeps) the result.
    styled = apply_style(resolved.options.style, resolved.text, resolved.options.negative_prompt)
    return GenerationRequest(
        prompt=parse_prompt(styled.text).text,
        base_model=resolved.base_model,
        options=resolved.options.model_copy(update={"negative_prompt": styled.negative}),
        identities=_identities(ctx, resolved),
        original_prompt=styled.text,
        init=inputs.init,
        control=inputs.control,
        loras=_lora_weights(ctx, resolved),
    )


# -- LoRA tunes (issue 15): <lora:ID:W> names a trained tune's file -----------


def _own_tune(ctx: RunContext, written: str, number: int, account_id: int | None, kind: str) -> dict:
    """The caller's tune a token names; another account's is reported exactly like a missing one."""
    try:
        return ctx.tunes.get(number, account_id=account_id)
    except TuneNotFoundError as exc:
        raise UnknownTuneError(
            f"The prompt names tune {written}, which does not exist or is not yours.",
            field="text",
            hint=f"Use the id of one of your {kind} (`lookalike tunes list`).",
            details={"tune_id": written},
        ) from exc


def _check_loras(ctx: RunContext, parsed: ParsedPrompt, account_id: int | None) -> tuple[tuple, list[str]]:
    """((tune id, weight) per <lora> token, their tunes' base models); each must be the caller's LoRA tune.

    A tune still queued or training passes: its prompt waits for it (jobs/submit.py).
    """
    from lookalike.errors import LoraTokenError, NotALoraTuneError, TuneTrainingFailedError

    loras, bases = [], []
    for token in parsed.loras:
        number = _tune_number(token.tune_id)
        if any(number == seen for seen, _ in loras):
            # One adapter per tune in the pipeline: two weights for it would be a guess at which.
            raise LoraTokenError(
                f"The prompt names tune {number} in two <lora> tokens; give it one token with one weight.",
                field="text",
                details={"tune_id": number, "token": token.raw},
            )
        tune = _own_tune(ctx, token.tune_id, number, account_id, "LoRA tunes")
        training = tune.get("training")
        if training is None:
            raise NotALoraTuneError(
                f"{token.raw} names tune {number}, a {tune['model_type']} tune: it has no LoRA to load.",
                field="text",
                hint=f"Write <faceid:{number}:{token.weight:g}> to use a FaceID tune.",
                details={"tune_id": number},
            )
        if training["status"] == "failed":
            raise TuneTrainingFailedError(
                f"{token.raw} names tune {number}, whose training failed: it has no LoRA to load.",
                field="text",
                details={"tune_id": number, "error": training.get("error")},
            )
        loras.append((number, token.weight))
        bases.append(tune["base_model"])
    return tuple(loras), bases


def _check_lora_family(spec: BaseModelSpec, loras: tuple, bases: list[str]) -> None:
    """Each LoRA was trained on the prompt's model family; SDXL takes one LoRA (as Astria says)."""
    from lookalike.errors import LoraBaseMismatchError, TooManyLorasError

    for (tune, _), base in zip(loras, bases, strict=True):
        trained_on = get_base_model(base)
        if trained_on.family != spec.family:
            raise LoraBaseMismatchError(
                f"Tune {tune}'s LoRA was trained on {trained_on.id} ({trained_on.family}); "
                f"this prompt runs on {spec.id} ({spec.family}).",
                field="text",
                details={"tune_id": tune, "trained_on": trained_on.id, "base_model": spec.id},
            )
    if spec.family == "sdxl" and len(loras) > 1:
        raise TooManyLorasError(
            f"The prompt has {len(loras)} <lora> tokens; on SDXL one LoRA is loaded at a time (as on Astria).",
            field="text",
            hint="Keep one <lora> token, or run on an SD 1.5 model, where several combine.",
        )


def _lora_weights(ctx: RunContext, resolved: ResolvedPrompt) -> tuple:
    """``LoraWeights`` per <lora> token: the trained file's local path (a cached copy when blobs are in S3)."""
    from lookalike.generation.request import LoraWeights

    return tuple(
        LoraWeights(
            name=f"tune_{tune}",
            path=str(ctx.tunes.lora_file(tune, account_id=resolved.account_id, cache_dir=ctx.settings.lora_cache_dir)),
            weight=weight,
        )
        for tune, weight in resolved.loras
    )


def _likeness_tune(resolved: ResolvedPrompt) -> int | None:
    """The tune whose face the prompt is for: the heaviest <faceid> token's, else the heaviest <lora> token's."""
    pairs = resolved.identities or resolved.loras
    if not pairs:
        return None
    tune, _ = max(pairs, key=lambda pair: pair[1])
    return tune


def _progress_kwargs(reporters: list, *, one: bool = False) -> dict:
    """``on_progress`` for the generator, only when someone listens (so engines without it still work)."""
    if not any(reporter is not None for reporter in reporters):
        return {}
    return {"on_progress": reporters[0] if one else reporters}


def _finish(ctx: RunContext, resolved: ResolvedPrompt, result, finisher, on_progress=None, request=None) -> None:
    from lookalike.prompts.styles import with_style

    from lookalike.execution.input_image import input_parameters, input_summary

    image_entries = input_summary(resolved.options, resolved.input_image)
    for image in result.images:  # before the finishing steps' line, which stays last
        image.parameters = with_style(image.parameters, resolved.options.style)
        image.parameters = input_parameters(image.parameters, image_entries)
    passes = second_passes(ctx, request, result, on_progress) if request is not None else None
    if finisher is not None:
        apply_postprocess(finisher, result, on_progress, passes)
    elif passes is not None and any(passes):
        from lookalike.postprocess.pipeline import with_summary

        for image, records in zip(result.images, passes, strict=True):
            image.parameters = with_summary(image.parameters, records)
    reference = _score_reference(ctx, resolved)
    count = len(result.images)
    for number, image in enumerate(result.images, start=1):
        if on_progress is not None and reference is not None:
            on_progress(None, None, number, count, finishing_step="identity_score")
        image.identity_score = identity_score(ctx, image.image, reference)
        if request is not None:
            image.identity_scores = people_scores(ctx, resolved, request, image.image)


# -- generation passes after the first (issue 14): hires fix, then faces redrawn ----


def first_pass(request):
    """What the first generation call makes: ``request`` itself, or with hires_fix its smaller first pass."""
    if not request.options.hires_fix:
        return request
    from lookalike.execution.hires_fix import first_pass_request

    return first_pass_request(request)


def second_passes(ctx: RunContext, request, result, on_progress=None) -> list[list[dict]]:
    """hires_fix's img2img pass, then inpaint_faces, on each image in place (each a finishing step for progress).

    Returns, per image, a record of each pass for the image's step summary
    (the PNG's ``Postprocess`` line and ``image_details[].postprocess``), in the order they ran.
    """
    options = request.options
    count = len(result.images)
    records: list[list[dict]] = [[] for _ in result.images]

    def reporter(step: str):
        if on_progress is None:
            return None
        return lambda number: on_progress(None, None, number, count, finishing_step=step)

    if options.hires_fix:
        from lookalike.execution.hires_fix import apply_hires_fix

        made = apply_hires_fix(ctx.generator(), request, result, on_image=reporter("hires_fix"))
        for mine, record in zip(records, made, strict=True):
            mine.append(record)
    if options.inpaint_faces:
        from lookalike.execution.inpaint_faces import apply_inpaint_faces
        from lookalike.generation.identity import plan_faces

        strength = ctx.settings.inpaint_faces_strength
        faces = apply_inpaint_faces(
            ctx.generator(),
            ctx.analyzer(),
            request,
            result,
            background_ratio=ctx.settings.background_face_ratio,
            strength=strength,
            faces_plan=plan_faces(request.identities, options.faceid_layout) if len(request.identities) > 1 else None,
            on_image=reporter("inpaint_faces"),
        )
        for mine, found in zip(records, faces, strict=True):
            if found:
                mine.append({"step": "inpaint_faces", "status": "applied",
                             "settings": f"{len(found)} face{'s' if len(found) > 1 else ''}, strength {strength:g}"})
            else:
                mine.append({"step": "inpaint_faces", "status": "skipped", "reason": "no face found"})
    return records


# -- identities: what the adapter gets, who is where, how alike (issue 13) ----


def _identities(ctx: RunContext, resolved: ResolvedPrompt) -> tuple:
    """One ``Identity`` per ``<faceid>`` token, in the adapter encoder's space, with PlusV2's face crop if needed."""
    from lookalike.generation.request import Identity

    adapter = resolved.base_model.adapter_for(resolved.options.faceid_adapter)
    encoder = ctx.face_encoder(adapter.encoder)
    plus = adapter.kind == "faceid_plusv2"
    account = resolved.account_id
    return tuple(
        Identity(
            ctx.tunes.identity(tune, encoder, account_id=account),
            weight,
            face_crop=ctx.tunes.plus_crop(tune, account_id=account) if plus else None,
            tune_id=tune,
        )
        for tune, weight in resolved.identities
    )


def _check_identities(ctx: RunContext, resolved: ResolvedPrompt) -> list[str]:
    """The adapter a prompt asks for exists on its base model, the layout fits its tokens; the packs it needs."""
    from lookalike.prompts.layouts import layout_boxes

    spec, options = resolved.base_model, resolved.options
    adapter = spec.adapter_for(options.faceid_adapter)
    if options.faceid_layout is not None and len(resolved.identities) > 1:
        layout_boxes(options.faceid_layout, len(resolved.identities))
    if adapter is spec.adapter or spec.source.kind == "builtin" or not resolved.identities:
        return []
    from lookalike.execution.readiness import missing_packs

    return list(missing_packs([spec.adapter_pack(adapter)], ctx.settings))


def people_scores(ctx: RunContext, resolved: ResolvedPrompt, request, image) -> list[dict] | None:
    """With two or more people in regions: each person's face in their region and its likeness to their tune.

    The face for a person is the largest one whose centre lies in the
    person's box; the score is its cosine similarity to the tune's identity
    (the offline encoder, as ``identity_score``). None for one person or a blend.
    """
    from lookalike.prompts.layouts import DEFAULT_LAYOUT, layout_boxes

    if len(resolved.identities) < 2:
        return None
    boxes = layout_boxes(request.options.faceid_layout or DEFAULT_LAYOUT, len(resolved.identities))
    if boxes is None:
        return None
    analyzer = ctx.analyzer()
    pixels = np.asarray(image.convert("RGB"))
    height, width = pixels.shape[:2]
    detections = analyzer.detect(pixels)
    out = []
    for (tune, _), (x0, y0, x1, y1) in zip(resolved.identities, boxes, strict=True):
        inside = [
            d for d in detections
            if x0 <= (d.box[0] + d.box[2]) / 2 / width <= x1 and y0 <= (d.box[1] + d.box[3]) / 2 / height <= y1
        ]
        if not inside:
            out.append({"tune_id": tune, "score": None, "box": None})
            continue
        face = analyzer.prepare(pixels, max(inside, key=lambda d: d.size))
        analyzer.embed(pixels, [face])
        reference = ctx.tunes.identity(tune, analyzer.encoder, account_id=resolved.account_id)
        score = round(float(np.dot(face.embeddings[analyzer.encoder.name], reference)), 4)
        out.append({"tune_id": tune, "score": score, "box": face.detection.box_dict()})
    return out


# -- post-processing (issues 5 and 14): face swap, face correct, super resolution, colour grading, grain ----


def prepare_postprocess(ctx: RunContext, resolved: ResolvedPrompt):
    """The prompt's finishing steps, checked (a ``postprocess.Finisher``), or None when none is asked for.

    Raises what a step cannot do: ModelUnavailableError naming
    `lookalike models pull ...`, or face swap without a tune in the prompt.
    """
    from dataclasses import replace

    from lookalike.postprocess import PostprocessContext, PostprocessFlags, prepare
    from lookalike.prompts.styles import face_swap_note

    flags = PostprocessFlags.from_options(resolved.options)
    if not flags.any:
        return None
    # An illustration style: a photo face would look pasted on, so the swap is recorded as skipped.
    flags = replace(flags, face_swap_skipped=face_swap_note(resolved.options.style) if flags.face_swap else None)
    context = PostprocessContext(
        settings=ctx.settings,
        analyzer=ctx.analyzer,
        tune=_swap_source(ctx, resolved) if flags.face_swap and not flags.face_swap_skipped else None,
        size=resolved.options.size_for(resolved.base_model.native_size),
    )
    return prepare(flags, context)


def apply_postprocess(finisher, result, on_progress: Callable[..., None] | None = None, earlier=None) -> None:
    """Finish each image in place; what ran or was skipped (and why) goes into its parameters.

    ``on_progress`` hears each step's name as it starts on each image;
    ``earlier``, per image, the records of the passes that ran before (they lead the summary).
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
        leading = earlier[number - 1] if earlier is not None else []
        image.parameters = with_summary(image.parameters, [*leading, *records])


def postprocess_summary(parameters: str) -> str | None:
    """What the finishing steps did, read back from an image's A1111 parameters (None if none ran)."""
    from lookalike.postprocess.pipeline import summary_from_parameters

    return summary_from_parameters(parameters)


def _swap_source(ctx: RunContext, resolved: ResolvedPrompt):
    """The most heavily weighted tune's kept crops, as face swap wants them; None without a tune."""
    from lookalike.postprocess import TuneFaces

    tune = _likeness_tune(resolved)
    if tune is None:
        return None
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
    """The offline identity of the most heavily weighted tune in the prompt (a LoRA tune's when there is no <faceid>)."""
    tune = _likeness_tune(resolved)
    if tune is None:
        return None
    return ctx.tunes.identity(tune, ctx.analyzer().encoder, account_id=resolved.account_id)


def _tune_number(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise UnknownTuneError(
            f"Tune ids are numbers; {raw!r} is not one.", field="text", details={"tune_id": raw}
        ) from None
