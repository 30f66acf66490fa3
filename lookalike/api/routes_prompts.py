"""Prompts: queued at POST (checked first, so a bad one never waits in line), run by the worker."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from lookalike.api.auth import CreatingCaller, CurrentCaller
from lookalike.api.context import ApiContext, Ctx
from lookalike.api.events import event_stream
from lookalike.api.forms import fields_named_as_sent, read_body, section
from lookalike.api.links import LINK_ERRORS, LINK_OPENAPI, LinkOrCaller
from lookalike.api.params import BeforeId, IdempotencyKey, ImagePosition, Limit, Offset, PromptId, TuneId
from lookalike.api.schemas import CREATE_ERRORS, ERRORS, request_body
from lookalike.errors import PromptNotFoundError
from lookalike.schemas import PromptCreate, PromptPublic

router = APIRouter(tags=["prompts"])


@router.post(
    "/tunes/{tune_id}/prompts",
    status_code=201,
    response_model=PromptPublic,
    responses=CREATE_ERRORS,
    openapi_extra=request_body("prompt", PromptCreate),
    summary="Queue a prompt on a FaceID tune or a base model (gallery id)",
)
async def create_prompt(
    request: Request,
    response: Response,
    ctx: Ctx,
    caller: CreatingCaller,
    tune_id: TuneId,
    idempotency_key: IdempotencyKey = None,
) -> PromptPublic:
    # One file at most: prompt[input_image] (a second is refused by the form parser).
    body = await read_body(request, max_files=1)
    fields = section(body, "prompt")
    with fields_named_as_sent("prompt"):
        prompt = PromptCreate.parse(fields)
        row, created = await run_in_threadpool(
            ctx.services.prompts.submit, caller.account_id, tune_id, prompt, idempotency_key
        )
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return (await run_in_threadpool(_public, request, ctx, [row]))[0]


def _public(request: Request, ctx: ApiContext, rows: list) -> list[PromptPublic]:
    """Rows as the API shows them, queued ones with their place in line (one query for the page)."""
    positions = ctx.services.prompt_store.queue_positions(rows)
    base = str(request.base_url)
    return [PromptPublic.from_row(row, base, ctx.services.link, positions.get(row.id)) for row in rows]


@router.get("/tunes/{tune_id}/prompts", response_model=list[PromptPublic], responses=ERRORS, summary="A tune's prompts")
def list_tune_prompts(
    request: Request,
    ctx: Ctx,
    caller: CurrentCaller,
    tune_id: TuneId,
    limit: Limit = 20,
    offset: Offset = 0,
    before_id: BeforeId = None,
) -> list[PromptPublic]:
    rows = ctx.services.prompts.list(caller.account_id, tune_id=tune_id, limit=limit, offset=offset, before_id=before_id)
    return _public(request, ctx, rows)


@router.get("/prompts", response_model=list[PromptPublic], responses=ERRORS, summary="All your prompts, newest first")
def list_prompts(
    request: Request, ctx: Ctx, caller: CurrentCaller, limit: Limit = 20, offset: Offset = 0, before_id: BeforeId = None
) -> list[PromptPublic]:
    rows = ctx.services.prompts.list(caller.account_id, limit=limit, offset=offset, before_id=before_id)
    return _public(request, ctx, rows)


@router.get("/tunes/{tune_id}/prompts/{prompt_id}", response_model=PromptPublic, responses=ERRORS, summary="One prompt")
def get_tune_prompt(request: Request, ctx: Ctx, caller: CurrentCaller, tune_id: TuneId, prompt_id: PromptId) -> PromptPublic:
    row = ctx.services.prompt_store.get(prompt_id, account_id=caller.account_id, tune_id=tune_id)
    return _public(request, ctx, [row])[0]


@router.get("/prompts/{prompt_id}", response_model=PromptPublic, responses=ERRORS, summary="One prompt (any tune)")
def get_prompt(request: Request, ctx: Ctx, caller: CurrentCaller, prompt_id: PromptId) -> PromptPublic:
    row = ctx.services.prompt_store.get(prompt_id, account_id=caller.account_id)
    return _public(request, ctx, [row])[0]


EVENTS_RESPONSES = {
    **ERRORS,
    **LINK_ERRORS,
    200: {
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
        "description": "`event: progress` (data: the prompt's `progress`) each time it changes, a `: keep-alive` "
        "comment every 15 s without one, then `event: done` (data: the whole prompt) and the end of the stream.",
    },
}
EVENTS_SUMMARY = "Follow a prompt's progress as Server-Sent Events: with the key, or by its signed `events_url`"


@router.get(
    "/prompts/{prompt_id}/events",
    responses=EVENTS_RESPONSES,
    response_class=StreamingResponse,
    openapi_extra=LINK_OPENAPI,
    summary=EVENTS_SUMMARY,
)
def prompt_events(request: Request, ctx: Ctx, caller: LinkOrCaller, prompt_id: PromptId) -> StreamingResponse:
    return _events(request, ctx, caller, prompt_id, None)


@router.get(
    "/tunes/{tune_id}/prompts/{prompt_id}/events",
    responses=EVENTS_RESPONSES,
    response_class=StreamingResponse,
    openapi_extra=LINK_OPENAPI,
    summary=EVENTS_SUMMARY + " (Astria's nested path)",
)
def tune_prompt_events(
    request: Request, ctx: Ctx, caller: LinkOrCaller, tune_id: TuneId, prompt_id: PromptId
) -> StreamingResponse:
    return _events(request, ctx, caller, prompt_id, tune_id)


def _events(request: Request, ctx: ApiContext, caller, prompt_id: int, tune_id: int | None) -> StreamingResponse:
    store = ctx.services.prompt_store
    # Checked before the stream starts, so a wrong id is an ordinary 404.
    if caller is not None:
        store.get(prompt_id, account_id=caller.account_id, tune_id=tune_id)
    else:
        row = store.find(prompt_id)  # a signed link: no owner to check, only the object
        if row is None or (tune_id is not None and row.tune_id != tune_id):
            raise PromptNotFoundError(f"There is no prompt {prompt_id}.", details={"prompt_id": prompt_id})
    base = str(request.base_url)
    return event_stream(
        store,
        prompt_id,
        public=lambda row: PromptPublic.from_row(row, base, ctx.services.link),
        poll_s=ctx.settings.events_poll_s,
        keepalive_s=ctx.settings.events_keepalive_s,
    )


@router.delete("/prompts/{prompt_id}", responses=ERRORS, summary="Delete a prompt and its images")
def delete_prompt(ctx: Ctx, caller: CurrentCaller, prompt_id: PromptId) -> dict:
    ctx.services.prompt_store.delete(prompt_id, account_id=caller.account_id)
    return _deleted(prompt_id)


@router.delete(
    "/tunes/{tune_id}/prompts/{prompt_id}", responses=ERRORS, summary="Delete a prompt and its images (Astria's nested path)"
)
def delete_tune_prompt(ctx: Ctx, caller: CurrentCaller, tune_id: TuneId, prompt_id: PromptId) -> dict:
    store = ctx.services.prompt_store
    store.get(prompt_id, account_id=caller.account_id, tune_id=tune_id)  # 404 unless it is under this id
    store.delete(prompt_id, account_id=caller.account_id)
    return _deleted(prompt_id)


def _deleted(prompt_id: int) -> dict:
    # Astria's body ("message"), with our id and flag beside it.
    return {"id": prompt_id, "deleted": True, "message": "Prompt successfully deleted"}


@router.get(
    "/prompts/{prompt_id}/images/{position}.png",
    responses={**ERRORS, **LINK_ERRORS, 200: {"content": {"image/png": {}}, "description": "The PNG, with its generation parameters."}},
    response_class=Response,
    openapi_extra=LINK_OPENAPI,
    summary="Download one image of a prompt: with the key, or by its signed link (the URLs in `images`)",
)
def get_image(ctx: Ctx, caller: LinkOrCaller, prompt_id: PromptId, position: ImagePosition) -> Response:
    data = ctx.services.prompt_store.image(prompt_id, position, account_id=None if caller is None else caller.account_id)
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=31536000, immutable"})
