"""``GET /models``: which base models and finishing steps this server can run now, and what to pull."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from lookalike.api.auth import CurrentCaller
from lookalike.api.context import Ctx
from lookalike.api.schemas import ERRORS, ModelsPublic

router = APIRouter(tags=["gallery"])


@router.get(
    "/models",
    response_model=ModelsPublic,
    responses=ERRORS,
    summary="Model readiness: base models and finishing steps, installed or not",
    description=(
        "Not Astria's. Each base model (gallery id) with `installed` (every file a FaceID prompt on it needs is on "
        "the server), what is `missing` and the `pull_commands` that add it, and per scheduler whether its LoRA "
        "is there; each finishing step (`face_swap`, `face_correct`, `super_resolution`) with `installed` and the "
        "`pull_command`. The same checks a prompt meets at POST, asked ahead: a prompt on a model shown as not "
        "installed is refused with `503 model_unavailable`. `default_base_tune_id` is the one to offer first."
    ),
)
async def list_models(ctx: Ctx, _caller: CurrentCaller) -> ModelsPublic:
    ready = await run_in_threadpool(ctx.services.model_readiness)
    return ModelsPublic.from_readiness(ready)
