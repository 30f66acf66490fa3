"""The web studio's files: ``/`` is its page, ``/static/...`` its scripts, styles and presets, ``/favicon.ico``."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from lookalike.web import STATIC_DIR

router = APIRouter(include_in_schema=False)


@router.get("/")
def studio() -> FileResponse:
    # no-cache: a browser must pick up a new release's page at once.
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    # Browsers ask for it on every page; a 404 there is noise in every log and console.
    return FileResponse(STATIC_DIR / "favicon.ico", media_type="image/x-icon", headers={"Cache-Control": "max-age=86400"})


def mount(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
