"""``/tunes``: FaceID and LoRA tunes from photos (Astria's fields), listed, read, renamed and deleted per account."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from lookalike.api.auth import CreatingCaller, CurrentCaller
from lookalike.api.context import Ctx
from lookalike.api.forms import fields_named_as_sent, read_body, section
from lookalike.api.links import LINK_ERRORS, LINK_OPENAPI, LinkOrCaller
from lookalike.api.params import BeforeId, IdempotencyKey, ImagePosition, Limit, Offset, TuneId
from lookalike.api.schemas import CREATE_ERRORS, ERRORS, ErrorBody, request_body
from lookalike.schemas import TuneCreate, TunePublic, TuneUpdate

router = APIRouter(tags=["tunes"])


@router.post(
    "/tunes",
    status_code=201,
    response_model=TunePublic,
    responses=CREATE_ERRORS,
    openapi_extra=request_body("tune", TuneCreate, files="images"),
    summary="Create a tune from photos or photo URLs: FaceID (ready at once) or LoRA (trained by a worker)",
)
async def create_tune(
    request: Request, response: Response, ctx: Ctx, caller: CreatingCaller, idempotency_key: IdempotencyKey = None
) -> TunePublic:
    services = ctx.services
    body = await read_body(request, max_files=ctx.settings.max_photos_per_tune + 1)
    fields = section(body, "tune")
    with fields_named_as_sent("tune"):
        new = TuneCreate.parse(fields)
        made = await run_in_threadpool(services.intake.create, caller.account_id, new, idempotency_key=idempotency_key)
    if not made.created:
        # A replay (the same Idempotency-Key, or Astria's idempotent title): the first tune, still a 201.
        response.headers["Idempotent-Replayed"] = "true"
    return TunePublic.from_tune(made.tune, str(request.base_url), services.link)


@router.get("/tunes", response_model=list[TunePublic], responses=ERRORS, summary="List your tunes, newest first")
def list_tunes(
    request: Request, ctx: Ctx, caller: CurrentCaller, limit: Limit = 20, offset: Offset = 0, before_id: BeforeId = None
) -> list[TunePublic]:
    tunes = ctx.services.tunes.list(account_id=caller.account_id, limit=limit, offset=offset, before_id=before_id)
    return [TunePublic.from_tune(tune, str(request.base_url), ctx.services.link) for tune in tunes]


@router.get(
    "/tunes/presets",
    responses=ERRORS,
    summary="The training presets a LoRA tune may name (tune[preset]), the default first",
)
def list_presets(ctx: Ctx, caller: CurrentCaller) -> list[dict]:
    catalog = ctx.services.training_presets
    ordered = sorted(catalog.presets, key=lambda preset: (preset.id != catalog.default, preset.id))
    return [{**preset.model_dump(mode="json"), "default": preset.id == catalog.default} for preset in ordered]


@router.get("/tunes/{tune_id}", response_model=TunePublic, responses=ERRORS, summary="One tune with its photo checks")
def get_tune(request: Request, ctx: Ctx, caller: CurrentCaller, tune_id: TuneId) -> TunePublic:
    tune = ctx.services.tunes.get(tune_id, account_id=caller.account_id)
    return TunePublic.from_tune(tune, str(request.base_url), ctx.services.link)


@router.patch(
    "/tunes/{tune_id}",
    response_model=TunePublic,
    responses=ERRORS,
    openapi_extra=request_body("tune", TuneUpdate),
    summary="Rename a tune (title) or change its class name",
)
async def update_tune(request: Request, ctx: Ctx, caller: CurrentCaller, tune_id: TuneId) -> TunePublic:
    body = await read_body(request, max_files=0)
    fields = section(body, "tune")
    with fields_named_as_sent("tune"):
        change = TuneUpdate.parse(fields)
        tune = await run_in_threadpool(
            ctx.services.tunes.update, tune_id, account_id=caller.account_id, title=change.title, name=change.name
        )
    return TunePublic.from_tune(tune, str(request.base_url), ctx.services.link)


@router.delete(
    "/tunes/{tune_id}",
    responses=ERRORS,
    summary="Delete a tune with its crops and embeddings; a LoRA tune's training stops at its next step",
)
def delete_tune(ctx: Ctx, caller: CurrentCaller, tune_id: TuneId) -> dict:
    ctx.services.delete_tune(tune_id, account_id=caller.account_id)
    return {"id": tune_id, "deleted": True, "message": "Tune successfully deleted"}


@router.get(
    "/tunes/{tune_id}/photos/{position}.png",
    responses={
        **ERRORS,
        **LINK_ERRORS,
        200: {
            "content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}},
            "description": "The photo (or its aligned crop).",
        },
    },
    response_class=Response,
    openapi_extra=LINK_OPENAPI,
    summary="One of a tune's photos (orig_images): with the key, or by its signed link",
)
def get_photo(ctx: Ctx, caller: LinkOrCaller, tune_id: TuneId, position: ImagePosition) -> Response:
    if caller is not None:
        ctx.services.tunes.get(tune_id, account_id=caller.account_id)  # 404 unless it is theirs
    data = ctx.services.tunes.photo(tune_id, position)
    # A kept upload is served as it came (JPEG, PNG or WebP); crops are PNG.
    media = "image/jpeg" if data[:3] == b"\xff\xd8\xff" else "image/webp" if data[8:12] == b"WEBP" else "image/png"
    return Response(data, media_type=media, headers={"Cache-Control": "private, max-age=3600"})



@router.get(
    "/tunes/{tune_id}/lora.safetensors",
    responses={
        **ERRORS,
        **LINK_ERRORS,
        200: {"content": {"application/octet-stream": {}}, "description": "The LoRA, kohya layout (.safetensors)."},
        409: {"model": ErrorBody, "description": "The tune's training has not ended yet (tune_not_trained)."},
    },
    response_class=Response,
    openapi_extra=LINK_OPENAPI,
    summary="A trained LoRA tune's file (ckpt_url): with the key, or by its signed link",
)
def get_lora(ctx: Ctx, caller: LinkOrCaller, tune_id: TuneId) -> Response:
    if caller is None:
        data = ctx.services.tunes.lora_bytes(tune_id, any_account=True)
    else:
        data = ctx.services.tunes.lora_bytes(tune_id, account_id=caller.account_id)  # 404 unless it is theirs
    return Response(
        data,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="tune-{tune_id}-lora.safetensors"',
            "Cache-Control": "private, max-age=3600",
        },
    )
