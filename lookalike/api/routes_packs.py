"""Packs (Astria's): list them, read one, and make a tune with a pack's prompts (``POST /p/{id}/tunes``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from lookalike.api.auth import CreatingCaller, CurrentCaller
from lookalike.api.context import Ctx
from lookalike.api.forms import fields_named_as_sent, read_body, section
from lookalike.api.params import MAX_ID, IdempotencyKey, PlainInt
from lookalike.api.schemas import CREATE_ERRORS, ERRORS, request_body
from lookalike.schemas import TunePublic
from lookalike.schemas.packs import (
    PackPublic,
    PackSummaryPublic,
    PackTuneCreate,
    PackTuneFields,
)

router = APIRouter(tags=["packs"])

PackId = Annotated[PlainInt, Path(ge=1, le=MAX_ID, description="A pack id (GET /packs).")]
Public = Annotated[bool, Query(description="true: only public packs (built-in packs are public).")]
Listed = Annotated[bool, Query(description="true: only listed packs (unlisted_at null).")]

_LIST_DESCRIPTION = (
    "The server's packs: the built-in ones and the operator's (`LOOKALIKE_PACKS_DIR`). `GET /packs` and "
    "`GET /gallery/packs` answer the same list: packs here belong to the server, not to an account "
    "(`user_id` is null). This server does not bill: `cost_mc_hash` is always `{}` and `multiplier` null. "
    "`public=true` and `listed=true` keep only public or listed packs; false or absent keeps all."
)


def _list(ctx: Ctx, public: bool, listed: bool) -> list[PackSummaryPublic]:
    return [PackSummaryPublic.from_pack(pack) for pack in ctx.services.packs.list(public=public, listed=listed)]


@router.get(
    "/packs",
    response_model=list[PackSummaryPublic],
    responses=ERRORS,
    summary="List packs",
    description=_LIST_DESCRIPTION,
)
def list_packs(ctx: Ctx, _caller: CurrentCaller, public: Public = False, listed: Listed = False) -> list[PackSummaryPublic]:
    return _list(ctx, public, listed)


@router.get(
    "/gallery/packs",
    response_model=list[PackSummaryPublic],
    responses=ERRORS,
    summary="List gallery packs (the same list as GET /packs)",
    description=_LIST_DESCRIPTION,
)
def list_gallery_packs(
    ctx: Ctx, _caller: CurrentCaller, public: Public = False, listed: Listed = False
) -> list[PackSummaryPublic]:
    return _list(ctx, public, listed)


@router.get(
    "/p/{pack_id}",
    response_model=PackPublic,
    responses=ERRORS,
    summary="One pack with its prompts per class",
    description=(
        "Astria's fields (`prompts_per_class`: per class, each prompt's `id` and sample `images`, always `[]` "
        "here; `costs` null: this server does not bill) plus `prompts`: each class's prompt definitions, "
        "`{tune_id}` standing for the tune they are made on."
    ),
)
def get_pack(ctx: Ctx, _caller: CurrentCaller, pack_id: PackId) -> PackPublic:
    return PackPublic.from_pack(ctx.services.packs.get(pack_id))


@router.post(
    "/p/{pack_id}/tunes",
    status_code=201,
    response_model=TunePublic | list[TunePublic],
    responses=CREATE_ERRORS,
    openapi_extra=request_body("tune", PackTuneFields, files="images"),
    summary="Make a tune with the pack's prompts for its class (or put them on your tunes: tune_ids)",
    description=(
        "As `POST /tunes` (photos or `image_urls`, `callback`, `branch=fast`, the title rule), on the pack's base "
        "model; then the pack's prompts for `tune[name]` are queued on the new tune, as ordinary prompts. "
        "Answers the tune. With `tune[tune_ids][]`, no tune is made: the prompts go on those tunes of yours "
        "(each by its own class) and the answer is the list of those tunes."
    ),
)
async def create_pack_tunes(
    request: Request,
    response: Response,
    ctx: Ctx,
    caller: CreatingCaller,
    pack_id: PackId,
    idempotency_key: IdempotencyKey = None,
) -> TunePublic | list[TunePublic]:
    services = ctx.services
    services.packs.get(pack_id)  # an unknown pack is a 404 whatever the body holds
    body = await read_body(request, max_files=ctx.settings.max_photos_per_tune + 1)
    fields = section(body, "tune")
    with fields_named_as_sent("tune"):
        new = PackTuneCreate.parse(fields)
        made = await run_in_threadpool(
            services.packs.create_tunes, caller.account_id, pack_id, new, idempotency_key=idempotency_key
        )
    tunes = [TunePublic.from_tune(tune, str(request.base_url), services.link) for tune in made.tunes]
    if made.existing:
        return tunes
    if not made.created:
        # A replay (the same Idempotency-Key, or Astria's idempotent title): the first tune, nothing queued again.
        response.headers["Idempotent-Replayed"] = "true"
    return tunes[0]
