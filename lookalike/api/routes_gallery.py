"""``/gallery/tunes``: the base models, shown as Astria "gallery tunes" with numeric ids."""

from __future__ import annotations

from fastapi import APIRouter

from lookalike.api.auth import CurrentCaller
from lookalike.api.context import Ctx
from lookalike.api.params import TuneId
from lookalike.api.schemas import ERRORS, GalleryTunePublic
from lookalike.errors import TuneNotFoundError

router = APIRouter(tags=["gallery"])


@router.get(
    "/gallery/tunes",
    response_model=list[GalleryTunePublic],
    responses=ERRORS,
    summary="Base models, as gallery tunes",
    description=(
        "Each base model has a numeric gallery `id`. Use it as `tune[base_tune_id]` when creating a tune, "
        "or post prompts to it directly: `POST /tunes/{gallery_id}/prompts` with `<faceid:TUNE_ID:1.0>` in the text."
    ),
)
def list_gallery(ctx: Ctx, _caller: CurrentCaller) -> list[GalleryTunePublic]:
    installed = _installed(ctx)
    return [GalleryTunePublic.from_spec(spec, installed[spec.gallery_id]) for spec in ctx.services.gallery()]


@router.get("/gallery/tunes/{tune_id}", response_model=GalleryTunePublic, responses=ERRORS, summary="One base model")
def get_gallery(ctx: Ctx, _caller: CurrentCaller, tune_id: TuneId) -> GalleryTunePublic:
    spec = ctx.services.gallery_model(tune_id)
    if spec is None:
        raise TuneNotFoundError(f"There is no gallery tune {tune_id}.", details={"tune_id": tune_id})
    return GalleryTunePublic.from_spec(spec, _installed(ctx)[spec.gallery_id])


def _installed(ctx: Ctx) -> dict[int, bool]:
    return {ready.spec.gallery_id: ready.installed for ready in ctx.services.model_readiness().base_models}
