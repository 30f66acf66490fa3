"""``/healthz`` (the process answers) and ``/readyz`` (the worker has warmed its models)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from lookalike.api.context import Ctx

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The server is up (answers at once, no auth)")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The worker has warmed up and takes prompts (503 until then)",
    responses={503: {"description": "Still warming up, or the warm-up failed (the body says why)."}},
)
def readyz(ctx: Ctx) -> JSONResponse:
    worker = ctx.worker
    if worker is None:
        return JSONResponse({"status": "ready", "worker": "disabled", "queued": ctx.services.queue.depth()})
    state = worker.state
    body = {
        "status": "ready" if worker.ready else state.phase,
        "worker": state.phase,
        "warmup_seconds": state.warmup_seconds,
        "current_prompt": state.current_prompt,
        "queued": ctx.services.queue.depth(),
        "processed": state.processed,
    }
    if state.warmup_error:
        body["error"] = state.warmup_error
    broker = getattr(state, "broker", None)
    if broker is not None:
        # Celery mode: prompts are still accepted while the broker is down (they
        # wait in the database), so this informs; it does not make the API unready.
        body["broker"] = broker
        if getattr(state, "broker_error", None):
            body["broker_error"] = state.broker_error
    return JSONResponse(body, status_code=200 if worker.ready else 503)
