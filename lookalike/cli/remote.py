"""The CLI against a running server: `--server URL` (or LOOKALIKE_SERVER) sends commands through the Python client.

Without a server the commands work on the local data directory; with one,
the same commands and output go through the HTTP API with the caller's key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lookalike.errors import AuthError

if TYPE_CHECKING:
    from lookalike.client import Client

ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="LOOKALIKE_SERVER",
        help="URL of a `lookalike serve` to work through (e.g. http://127.0.0.1:8000); default: local data.",
        show_default=False,
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option("--api-key", envvar="LOOKALIKE_API_KEY", help="API key for --server.", show_default=False),
]


def connect(server: str, api_key: str | None) -> Client:
    if not api_key:
        raise AuthError(
            f"--server {server} needs an API key.",
            hint="Pass --api-key KEY or set LOOKALIKE_API_KEY (`lookalike keys create --name NAME` on the server makes one).",
        )
    from lookalike.client import Client

    return Client(server, api_key)


def prompt_target(text: str, base_model: str | None) -> int:
    """The id a prompt is posted to (``/tunes/ID/prompts``), as Astria's paths want one.

    A base model asked for wins (its gallery id); else the first tune named in
    the text (a ``<faceid>`` tune's, else a ``<lora>`` tune's), whose base
    model the server uses; else the default base model.
    """
    from lookalike.catalog.base_models import DEFAULT_BASE_MODEL_ID, get_base_model
    from lookalike.prompts.syntax import parse_prompt

    if base_model:
        return get_base_model(int(base_model) if base_model.isdigit() else base_model).gallery_id
    parsed = parse_prompt(text)
    tokens = parsed.tokens or parsed.loras
    if tokens and tokens[0].tune_id.isdigit():
        return int(tokens[0].tune_id)
    return get_base_model(DEFAULT_BASE_MODEL_ID).gallery_id


def run_remote_prompt(
    client: Client,
    *,
    text: str,
    negative: str,
    base_model: str | None,
    fields: dict,
    out,
    timeout: float,
    on_progress: Callable[[dict], Any] | None = None,
) -> dict:
    """Queue the prompt on the server, wait for it, download its PNGs; the same report as a local run.

    With ``on_progress``, the wait follows the prompt's events and hands it each progress dict.
    """
    from lookalike.errors import PromptTimeoutError

    queued = client.create_prompt(prompt_target(text, base_model), text, negative_prompt=negative or None, **fields)
    try:
        done = client.wait(queued, timeout=timeout, on_progress=on_progress)
    except TimeoutError as exc:
        raise PromptTimeoutError(str(exc), details={"prompt_id": queued["id"]}) from exc
    paths = client.download(done, out)
    details = done.get("image_details") or [{} for _ in paths]
    return {
        "id": done["id"],
        "text": done["text"],
        "negative_prompt": done.get("negative_prompt") or "",
        "base_model": done.get("base_model"),
        "num_images": len(paths),
        **{name: done.get(name) for name in ("seed", "steps", "cfg_scale", "scheduler", "w", "h")},
        "images": [
            {
                "path": str(path),
                "seed": detail.get("seed"),
                "identity_score": detail.get("identity_score"),
                "identity_scores": detail.get("identity_scores"),
                "width": detail.get("width"),
                "height": detail.get("height"),
            }
            for path, detail in zip(paths, details, strict=False)
        ],
        "url": done.get("url"),
    }
