"""`lookalike serve`: the HTTP API with its in-process worker."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 for all interfaces.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    open_signup: Annotated[
        bool,
        typer.Option(
            "--open-signup",
            help="Let anyone who reaches the server create an account and key (POST /keys, the studio's "
            "'Create a key'). Off by default; LOOKALIKE_OPEN_SIGNUP=true does the same.",
        ),
    ] = False,
) -> None:
    """Serve the Astria-compatible API (docs at /docs), the web studio (at /) and run queued prompts."""
    import uvicorn

    from lookalike.api.app import create_app
    from lookalike.config import get_settings

    settings = get_settings()
    if open_signup:
        settings = settings.model_copy(update={"open_signup": True})
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
