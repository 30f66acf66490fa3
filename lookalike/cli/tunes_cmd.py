"""`lookalike tunes ...`: make a person's tune from photos, list, show, delete."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lookalike.cli.common import read_file, services
from lookalike.cli.output import print_json, reporting_errors, stdout
from lookalike.cli.remote import ApiKeyOption, ServerOption, connect

tunes_app = typer.Typer(help="FaceID tunes: a person's identity from 1-10 photos.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _print_tune(tune: dict) -> None:
    stdout.print(
        f"tune {tune['id']}: {tune['title']} ({tune['name']}, {tune['model_type']}, base {tune['base_model']}) "
        f"ready at {tune['trained_at']}",
        highlight=False,
    )
    for photo in tune["images"]:
        q = photo["quality"]
        stdout.print(
            f"  photo {photo['index']} {photo['filename'] or ''}: face {q['size_px']}px, "
            f"sharpness {q['sharpness']}, yaw {q['yaw']}",
            highlight=False,
        )
    stdout.print(f"  use it in a prompt as <faceid:{tune['id']}:1.0>", highlight=False)


@tunes_app.command("create")
def create(
    photos: Annotated[list[Path], typer.Argument(help="1 to 10 photos of the same person.")],
    title: Annotated[str, typer.Option("--title", help="A name for the tune.")],
    name: Annotated[str, typer.Option("--name", help="Class name: man, woman, boy, girl, person, ...")],
    base_model: Annotated[
        str | None, typer.Option("--base-model", help="Base model id or gallery id (see `lookalike models list`).")
    ] = None,
    as_json: JsonFlag = False,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Make a FaceID tune from PHOTOS. Ready at once: nothing is trained."""
    from lookalike.tunes.photo_check import PhotoInput

    with reporting_errors(as_json):
        inputs = [PhotoInput(read_file(p, image_index=i), p.name) for i, p in enumerate(photos)]
        if server:
            with connect(server, api_key) as client:
                tune = client.create_tune(title, name, [(p.filename, p.data) for p in inputs], base_model)
        else:
            tune = services().tunes.create(title=title, name=name, photos=inputs, base_model=base_model)
    if as_json:
        print_json(tune)
    else:
        _print_tune(tune)


@tunes_app.command("list")
def list_tunes(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonFlag = False,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """List your tunes, newest first."""
    with reporting_errors(as_json):
        if server:
            with connect(server, api_key) as client:
                tunes = client.list_tunes(limit=limit, offset=offset)
        else:
            tunes = services().tunes.list(limit=limit, offset=offset)
    if as_json:
        print_json(tunes)
        return
    if not tunes:
        stdout.print("No tunes yet. Make one with `lookalike tunes create --title T --name woman PHOTO...`.")
    for tune in tunes:
        stdout.print(
            f"{tune['id']:>5}  {tune['title']}  ({tune['name']}, {len(tune['images'])} photo(s), "
            f"base {tune['base_model']}, {tune['created_at']})",
            highlight=False,
        )


@tunes_app.command("show")
def show(tune_id: int, as_json: JsonFlag = False, server: ServerOption = None, api_key: ApiKeyOption = None) -> None:
    """Show one tune with its per-photo face checks."""
    with reporting_errors(as_json):
        if server:
            with connect(server, api_key) as client:
                tune = client.get_tune(tune_id)
        else:
            tune = services().tunes.get(tune_id)
    if as_json:
        print_json(tune)
    else:
        _print_tune(tune)


@tunes_app.command("delete")
def delete(tune_id: int, as_json: JsonFlag = False, server: ServerOption = None, api_key: ApiKeyOption = None) -> None:
    """Delete a tune with its crops and embeddings."""
    with reporting_errors(as_json):
        if server:
            with connect(server, api_key) as client:
                client.delete_tune(tune_id)
        else:
            services().tunes.delete(tune_id)
    if as_json:
        print_json({"id": tune_id, "deleted": True})
    else:
        stdout.print(f"Deleted tune {tune_id}.")
