"""`lookalike serve`: the HTTP API with its in-process worker."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 for all interfaces.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the Astria-compatible API (docs at /docs) and run queued prompts."""
    import uvicorn

    from lookalike.api.app import create_app
    from lookalike.config import get_settings

    settings = get_settings()
    if settings.public_url is None:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        settings = settings.model_copy(update={"public_url": f"http://{shown}:{port}"})
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=log_level,
        # A running generation is not waited for: its prompt is requeued at the next start.
        timeout_graceful_shutdown=5,
    )
