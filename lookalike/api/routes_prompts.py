"""Prompts: queued at POST (checked first, so a bad one never waits in line), run by the worker."""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from lookalike.api import tune_queries
from lookalike.api.auth import CreatingCaller, CurrentCaller
from lookalike.api.context import ApiContext, Ctx
from lookalike.api.forms import bool_field, fields_named_as_sent, read_body, section, text_field
from lookalike.api.params import BeforeId, Limit, Offset, PromptId, TuneId
from lookalike.api.routes_gallery import find_gallery_spec
from lookalike.api.schemas import CREATE_ERRORS, ERRORS, PromptFields, PromptPublic, request_body
from lookalike.catalog.base_models import get_base_model
from lookalike.errors import IdempotencyKeyReusedError, PostprocessUnavailableError, TuneNotFoundError
from lookalike.jobs.callbacks import check_callback_url
from lookalike.jobs.engine import PromptSpec
from lookalike.jobs.prompts import NewPrompt
from lookalike.jobs.views import prompt_to_dict
from lookalike.prompts.options import MAX_SEED, POSTPROCESS_FIELDS, GenerationOptions

router = APIRouter(tags=["prompts"])

MAX_TEXT_CHARS = 4000
# Astria flags we have no step for yet; accepted by name, refused when true,
# so that nobody gets an image silently without them.
UNSUPPORTED_FLAGS = ("inpaint_faces", "hires_fix")
# The speed-ups (docs/GENERATION.md) are ours, not Astria's: off unless asked for.
SPEEDUP_FIELDS = ("deepcache", "tiny_vae")
OPTION_FIELDS = (
    "num_images", "seed", "steps", "cfg_scale", "w", "h", "aspect_ratio", "scheduler", *POSTPROCESS_FIELDS, *SPEEDUP_FIELDS
)

IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", max_length=255, description="Repeat-safe POST: same key, same prompt.")
]


def _target(ctx: ApiContext, account_id: int, tune_id: int) -> tuple[str, str]:
    """("tune" | "gallery", base model slug) for the id in the URL; the caller's own tune wins a tie."""
    tune = tune_queries.get_own(ctx.services.sessions, account_id=account_id, tune_id=tune_id)
    if tune is not None:
        return "tune", tune["base_model"]
    spec = find_gallery_spec(tune_id)
    if spec is not None:
        return "gallery", spec.id
    raise TuneNotFoundError(f"There is no tune {tune_id}.", details={"tune_id": tune_id})


def _resolved_options(fields: dict[str, Any], base_model: str) -> tuple[dict[str, Any], GenerationOptions]:
    given = {name: fields[name] for name in OPTION_FIELDS if name in fields}
    options = GenerationOptions.from_fields(given)
    if options.seed is None:
        # Chosen now, not at run time, so the response shows it and a prompt
        # re-run after a restart makes the same images.
        options = options.with_seed(secrets.randbelow(MAX_SEED + 1))
    width, height = options.size_for(get_base_model(base_model).native_size)
    resolved = {
        "num_images": options.num_images,
        "seed": options.seed,
        "steps": options.resolved_steps(),
        "cfg_scale": options.resolved_cfg(),
        "w": width,
        "h": height,
        "scheduler": options.scheduler,
        # The finishing steps (lookalike/postprocess), applied by the worker.
        **{name: getattr(options, name) for name in POSTPROCESS_FIELDS},
        **{name: getattr(options, name) for name in SPEEDUP_FIELDS if getattr(options, name) is not None},
    }
    return resolved, options


def _request_hash(fields: dict[str, Any], tune_id: int) -> str:
    canonical = json.dumps({"tune_id": tune_id, "fields": fields}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _check_and_store(ctx: ApiContext, account_id: int, tune_id: int, fields: dict[str, Any], key: str | None):
    request_hash = _request_hash(fields, tune_id)
    if key:
        existing = ctx.prompts.find_by_idempotency_key(account_id, key)
        if existing is not None:
            if existing.request_hash != request_hash:
                raise IdempotencyKeyReusedError(
                    "This Idempotency-Key was used for a different prompt.", details={"prompt_id": existing.id}
                )
            return existing, False
    target, base_model = _target(ctx, account_id, tune_id)
    text = text_field(fields, "text", prefix="prompt", required=True, max_chars=MAX_TEXT_CHARS)
    negative = text_field(fields, "negative_prompt", prefix="prompt", max_chars=MAX_TEXT_CHARS) or ""
    for flag in UNSUPPORTED_FLAGS:
        if bool_field(fields, flag, prefix="prompt"):
            raise PostprocessUnavailableError(
                f"prompt[{flag}] is not available on this server yet.", field=f"prompt[{flag}]"
            )
    callback = text_field(fields, "callback", prefix="prompt", max_chars=4096)
    if callback:
        callback = check_callback_url(callback, allow_private=ctx.settings.callback_allow_private, field="prompt[callback]")
    resolved, options = _resolved_options(fields, base_model)
    ctx.engine.check(
        PromptSpec(
            account_id=account_id,
            tune_id=tune_id if target == "tune" else None,
            base_model=None if target == "tune" else base_model,
            text=text,
            negative_prompt=negative,
            options=resolved,
        )
    )
    row, created = ctx.prompts.create(
        NewPrompt(
            account_id=account_id,
            tune_id=tune_id,
            base_model_id=base_model,
            text=text,
            negative_prompt=negative,
            options={"target": target, "resolved": resolved, "aspect_ratio": options.aspect_ratio},
            callback=callback,
            idempotency_key=key,
            request_hash=request_hash,
        )
    )
    if created and ctx.worker is not None:
        ctx.worker.wake()
    return row, created


@router.post(
    "/tunes/{tune_id}/prompts",
    status_code=201,
    response_model=PromptPublic,
    responses=CREATE_ERRORS,
    openapi_extra=request_body("prompt", PromptFields),
    summary="Queue a prompt on a FaceID tune or a base model (gallery id)",
)
async def create_prompt(
    request: Request, ctx: Ctx, caller: CreatingCaller, tune_id: TuneId, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    body = await read_body(request, max_files=0)
    fields = section(body, "prompt")
    with fields_named_as_sent("prompt"):
        row, created = await run_in_threadpool(_check_and_store, ctx, caller.account_id, tune_id, fields, idempotency_key)
    headers = {} if created else {"Idempotent-Replayed": "true"}
    return JSONResponse(prompt_to_dict(row, str(request.base_url)), status_code=201, headers=headers)


@router.get("/tunes/{tune_id}/prompts", response_model=list[PromptPublic], responses=ERRORS, summary="A tune's prompts")
def list_tune_prompts(
    request: Request,
    ctx: Ctx,
    caller: CurrentCaller,
    tune_id: TuneId,
    limit: Limit = 20,
    offset: Offset = 0,
    before_id: BeforeId = None,
) -> JSONResponse:
    _target(ctx, caller.account_id, tune_id)
    rows = ctx.prompts.list(account_id=caller.account_id, tune_id=tune_id, limit=limit, offset=offset, before_id=before_id)
    return JSONResponse([prompt_to_dict(r, str(request.base_url)) for r in rows])


@router.get("/prompts", response_model=list[PromptPublic], responses=ERRORS, summary="All your prompts, newest first")
def list_prompts(
    request: Request, ctx: Ctx, caller: CurrentCaller, limit: Limit = 20, offset: Offset = 0, before_id: BeforeId = None
) -> JSONResponse:
    rows = ctx.prompts.list(account_id=caller.account_id, limit=limit, offset=offset, before_id=before_id)
    return JSONResponse([prompt_to_dict(r, str(request.base_url)) for r in rows])


@router.get("/tunes/{tune_id}/prompts/{prompt_id}", response_model=PromptPublic, responses=ERRORS, summary="One prompt")
def get_tune_prompt(request: Request, ctx: Ctx, caller: CurrentCaller, tune_id: TuneId, prompt_id: PromptId) -> JSONResponse:
    row = ctx.prompts.get(prompt_id, account_id=caller.account_id, tune_id=tune_id)
    return JSONResponse(prompt_to_dict(row, str(request.base_url)))


@router.get("/prompts/{prompt_id}", response_model=PromptPublic, responses=ERRORS, summary="One prompt (any tune)")
def get_prompt(request: Request, ctx: Ctx, caller: CurrentCaller, prompt_id: PromptId) -> JSONResponse:
    row = ctx.prompts.get(prompt_id, account_id=caller.account_id)
    return JSONResponse(prompt_to_dict(row, str(request.base_url)))


@router.delete("/prompts/{prompt_id}", responses=ERRORS, summary="Delete a prompt and its images")
def delete_prompt(ctx: Ctx, caller: CurrentCaller, prompt_id: PromptId) -> dict:
    ctx.prompts.delete(prompt_id, account_id=caller.account_id)
    return {"id": prompt_id, "deleted": True}


@router.get(
    "/prompts/{prompt_id}/images/{position}.png",
    responses={**ERRORS, 200: {"content": {"image/png": {}}, "description": "The PNG, with its generation parameters."}},
    response_class=Response,
    summary="Download one image of a prompt",
)
def get_image(ctx: Ctx, caller: CurrentCaller, prompt_id: PromptId, position: Annotated[int, Path(ge=0, le=64)]) -> Response:
    data = ctx.prompts.image(prompt_id, position, account_id=caller.account_id)
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=31536000, immutable"})
