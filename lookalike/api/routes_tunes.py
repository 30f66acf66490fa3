"""``/tunes``: FaceID tunes from photos (Astria's fields), listed, read and deleted per account."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from lookalike.api import tune_queries
from lookalike.api.auth import CreatingCaller, CurrentCaller
from lookalike.api.context import ApiContext, Ctx
from lookalike.api.forms import Upload, fields_named_as_sent, read_body, section, text_field
from lookalike.api.params import BeforeId, Limit, Offset, TuneId
from lookalike.api.schemas import CREATE_ERRORS, ERRORS, TuneFields, TunePublic, request_body
from lookalike.errors import ImageUrlsUnsupportedError, InvalidFieldError, TuneNotFoundError
from lookalike.jobs.callbacks import check_callback_url
from lookalike.tunes.photo_check import PhotoInput

router = APIRouter(tags=["tunes"])

MODEL_TYPES = ("faceid",)


def public_tune(tune: dict, base_url: str) -> dict:
    return {**tune, "url": f"{base_url.rstrip('/')}/tunes/{tune['id']}"}


@router.post(
    "/tunes",
    status_code=201,
    response_model=TunePublic,
    responses={200: {"model": TunePublic, "description": "A tune with this title already existed."}, **CREATE_ERRORS},
    openapi_extra=request_body("tune", TuneFields, files="images"),
    summary="Create a FaceID tune from photos (ready at once)",
)
async def create_tune(request: Request, ctx: Ctx, caller: CreatingCaller) -> JSONResponse:
    body = await read_body(request, max_files=ctx.settings.max_photos_per_tune + 1)
    fields = section(body, "tune")
    title = text_field(fields, "title", prefix="tune", required=True, max_chars=255)
    name = text_field(fields, "name", prefix="tune", required=True, max_chars=64)
    model_type = (text_field(fields, "model_type", prefix="tune") or "faceid").strip().lower()
    if model_type not in MODEL_TYPES:
        raise InvalidFieldError(
            f"tune[model_type] {model_type!r} is not supported; only faceid tunes are made here.",
            field="tune[model_type]",
        )
    base = fields.get("base_tune_id")
    if isinstance(base, bool) or (base is not None and not isinstance(base, (str, int))):
        raise InvalidFieldError("tune[base_tune_id] must be a gallery id or a base model slug.", field="tune[base_tune_id]")
    callback = text_field(fields, "callback", prefix="tune", max_chars=4096)
    if callback:
        callback = await run_in_threadpool(
            check_callback_url, callback, allow_private=ctx.settings.callback_allow_private, field="tune[callback]"
        )
    photos = _photos(fields)
    with fields_named_as_sent("tune"):
        tune, created = await run_in_threadpool(_create_once, ctx, caller.account_id, title, name, photos, base)
    tune = public_tune(tune, str(request.base_url))
    if created and callback:
        await run_in_threadpool(
            ctx.callbacks.enqueue,
            account_id=caller.account_id,
            url=callback,
            event="tune",
            object_id=tune["id"],
            payload={"tune": public_tune(tune, ctx.public_url)},
        )
    return JSONResponse(tune, status_code=201 if created else 200)


def _photos(fields: dict[str, Any]) -> list[PhotoInput]:
    if fields.get("image_urls"):
        raise ImageUrlsUnsupportedError(
            "tune[image_urls] is not supported: this server never fetches URLs on a caller's behalf.",
            field="tune[image_urls]",
        )
    images = fields.get("images") or []
    if isinstance(images, Upload):
        images = [images]
    if not isinstance(images, list):
        raise InvalidFieldError("tune[images][] must be uploaded files.", field="tune[images]")
    photos = []
    for index, item in enumerate(images):
        if not isinstance(item, Upload):
            raise InvalidFieldError(
                f"tune[images][{index}] is not a file; upload photos as files (curl -F 'tune[images][]=@photo.jpg').",
                field="tune[images]",
                image_index=index,
            )
        photos.append(PhotoInput(item.data, item.filename))
    return photos


def _create_once(ctx: ApiContext, account_id: int, title: str, name: str, photos, base) -> tuple[dict, bool]:
    """Astria's rule: the title is the idempotency key, so a repeated POST returns the first tune."""
    with ctx.title_lock(account_id, title):
        existing = tune_queries.find_by_title(ctx.services.sessions, account_id=account_id, title=title)
        if existing is not None:
            return existing, False
        with ctx.tune_slots:
            tune = ctx.tunes().create(title=title, name=name, photos=photos, base_model=base, account_id=account_id)
        return tune, True


@router.get("/tunes", response_model=list[TunePublic], responses=ERRORS, summary="List your tunes, newest first")
def list_tunes(
    request: Request, ctx: Ctx, caller: CurrentCaller, limit: Limit = 20, offset: Offset = 0, before_id: BeforeId = None
) -> JSONResponse:
    tunes = tune_queries.list_page(
        ctx.services.sessions, account_id=caller.account_id, limit=limit, offset=offset, before_id=before_id
    )
    return JSONResponse([public_tune(t, str(request.base_url)) for t in tunes])


@router.get("/tunes/{tune_id}", response_model=TunePublic, responses=ERRORS, summary="One tune with its photo checks")
def get_tune(request: Request, ctx: Ctx, caller: CurrentCaller, tune_id: TuneId) -> JSONResponse:
    tune = tune_queries.get_own(ctx.services.sessions, account_id=caller.account_id, tune_id=tune_id)
    if tune is None:
        raise TuneNotFoundError(f"There is no tune {tune_id}.", details={"tune_id": tune_id})
    return JSONResponse(public_tune(tune, str(request.base_url)))


@router.delete("/tunes/{tune_id}", responses=ERRORS, summary="Delete a tune with its crops and embeddings")
def delete_tune(ctx: Ctx, caller: CurrentCaller, tune_id: TuneId) -> dict:
    ctx.tunes().delete(tune_id, account_id=caller.account_id)
    return {"id": tune_id, "deleted": True}
