"""``create_app(settings)``: the FastAPI app with its routes, error handlers, limits and worker.

Nothing is built at import time; the context (database, worker, callback
pool) is made when the app starts and closed when it stops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from lookalike.api import (
    errors,
    routes_faces,
    routes_gallery,
    routes_health,
    routes_keys,
    routes_models,
    routes_packs,
    routes_prompts,
    routes_tunes,
    routes_web,
)
from lookalike.api.context import ApiContext, build_context
from lookalike.api.json_suffix import JsonSuffix
from lookalike.api.limits import BodySizeLimit
from lookalike.config import Settings
from lookalike.jobs.engine import PromptEngine

DESCRIPTION = """
Portraits of a person from a few photos, with no training, behind an
[Astria](https://docs.astria.ai)-compatible API.

Authenticate every call with `Authorization: Bearer KEY` (make a key with
`lookalike keys create --name NAME`). Errors have Astria's body, a message
in `error`, with our stable `code` beside it:
`{"error": "...", "code", "message", "hint", "field", ...}`. See docs/API.md for
curl examples and docs/SERVICE.md for jobs and callbacks.
"""


def create_app(settings: Settings, *, engine: PromptEngine | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Migrations and table checks run here, off the event loop.
        context: ApiContext = await run_in_threadpool(build_context, settings, engine=engine)
        try:
            # Pack and training preset files are read now: a bad one stops the server, naming its file and field.
            await run_in_threadpool(lambda: (context.services.pack_catalog, context.services.training_presets))
        except BaseException:
            await run_in_threadpool(context.services.close)
            raise
        app.state.context = context
        context.start()
        try:
            yield
        finally:
            await run_in_threadpool(context.close)

    app = FastAPI(title="lookalike", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    errors.install(app)
    for module in (
        routes_health, routes_keys, routes_tunes, routes_faces, routes_gallery, routes_models, routes_prompts, routes_packs
    ):
        app.include_router(module.router)
    routes_web.mount(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(JsonSuffix)
    return app
