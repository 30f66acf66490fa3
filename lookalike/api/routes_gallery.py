"""``/gallery/tunes``: the base models, shown as Astria "gallery tunes" with numeric ids."""

from __future__ import annotations

from fastapi import APIRouter

from lookalike.api.auth import CurrentCaller
from lookalike.api.params import TuneId
from lookalike.api.schemas import ERRORS, GalleryTunePublic
from lookalike.catalog.base_models import BASE_MODELS, BaseModelSpec
from lookalike.errors import TuneNotFoundError

router = APIRouter(tags=["gallery"])


def gallery_tune(spec: BaseModelSpec) -> dict:
    return {
        "id": spec.gallery_id,
        "title": spec.name,
        "name": spec.id,
        "model_type": "checkpoint",
        "family": spec.family,
        "native_size": spec.native_size,
        "engine_supported": spec.engine_supported,
        "license": spec.license,
        "description": spec.description,
        "tags": list(spec.tags),
    }


def find_gallery_spec(gallery_id: int) -> BaseModelSpec | None:
    return next((spec for spec in BASE_MODELS if spec.gallery_id == gallery_id), None)


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
def list_gallery(_caller: CurrentCaller) -> list[dict]:
    return [gallery_tune(spec) for spec in BASE_MODELS]


@router.get("/gallery/tunes/{tune_id}", response_model=GalleryTunePublic, responses=ERRORS, summary="One base model")
def get_gallery(_caller: CurrentCaller, tune_id: TuneId) -> dict:
    spec = find_gallery_spec(tune_id)
    if spec is None:
        raise TuneNotFoundError(f"There is no gallery tune {tune_id}.", details={"tune_id": tune_id})
    return gallery_tune(spec)
