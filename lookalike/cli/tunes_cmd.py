"""`lookalike tunes ...`: make a person's tune from photos (FaceID, or a LoRA trained here), list, show, delete."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lookalike.cli.common import read_file, services
from lookalike.cli.output import print_json, reporting_errors, stdout
from lookalike.cli.remote import ApiKeyOption, ServerOption, connect

tunes_app = typer.Typer(
    help="Tunes: a person's identity from 1-10 photos, as FaceID (at once) or a LoRA (trained).", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _print_tune(tune: dict) -> None:
    training = tune.get("training") or {}
    status = tune.get("status") or {"succeeded": "trained"}.get(training.get("status"), training.get("status"))
    if tune["trained_at"]:
        state = f"ready at {tune['trained_at']}"
    elif status == "failed":
        error = tune.get("error") or training.get("error") or {}
        state = f"training failed: {error.get('message', 'no reason given')}"
    else:
        state = f"{status or 'queued'} (not trained yet)"
    stdout.print(
        f"tune {tune['id']}: {tune['title']} ({tune['name']}, {tune['model_type']}, base {tune['base_model']}) {state}",
        highlight=False,
    )
    for photo in tune["images"]:
        q = photo["quality"]
        stdout.print(
            f"  photo {photo['index']} {photo['filename'] or ''}: face {q['size_px']}px, "
            f"sharpness {q['sharpness']}, yaw {q['yaw']}",
            highlight=False,
        )
    if tune["model_type"] == "lora":
        stdout.print(
            f"  use it in a prompt as <lora:{tune['id']}:1> with its token: \"{tune['token']} {tune['name']}\" "
            f"(or <faceid:{tune['id']}:1.0>)",
            highlight=False,
        )
    else:
        stdout.print(f"  use it in a prompt as <faceid:{tune['id']}:1.0>", highlight=False)


@tunes_app.command("create")
def create(
    photos: Annotated[list[Path], typer.Argument(help="1 to 10 photos of the same person.")],
    title: Annotated[str, typer.Option("--title", help="A name for the tune.")],
    name: Annotated[str, typer.Option("--name", help="Class name: man, woman, boy, girl, person, ...")],
    base_model: Annotated[
        str | None, typer.Option("--base-model", help="Base model id or gallery id (see `lookalike models list`).")
    ] = None,
    model_type: Annotated[
        str, typer.Option("--model-type", help="faceid (ready at once) or lora (a LoRA fine-tune, trained).")
    ] = "faceid",
    preset: Annotated[
        str | None, typer.Option("--preset", help="LoRA: training preset (portrait, fast, high, or an operator's).")
    ] = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="LoRA: training steps (default: the preset's).")] = None,
    token: Annotated[str | None, typer.Option("--token", help="LoRA: the token its caption teaches (sks on SD 1.5).")] = None,
    face_crop: Annotated[
        bool | None, typer.Option("--face-crop/--no-face-crop", help="LoRA: train on the aligned face crops too.")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="LoRA: wait until it is trained, with a progress bar (locally: train it here).")
    ] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="Seconds --wait waits at most.")] = 3600.0,
    as_json: JsonFlag = False,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Make a tune from PHOTOS: FaceID is ready at once; a LoRA tune is queued for training (--wait trains it)."""
    from lookalike.cli.output import stderr
    from lookalike.cli.progress_bar import training_bar
    from lookalike.tunes.photo_check import PhotoInput

    lora = model_type.strip().lower() == "lora"
    with reporting_errors(as_json):
        inputs = [PhotoInput(read_file(p, image_index=i), p.name) for i, p in enumerate(photos)]
        training = dict(preset=preset, steps=steps, token=token, face_crop=face_crop)
        if server:
            with connect(server, api_key) as client:
                tune = client.create_tune(
                    title, name, [(p.filename, p.data) for p in inputs], base_model, model_type=model_type, **training
                )
                if lora and wait:
                    with training_bar(stderr, enabled=not as_json) as bar:
                        tune = _wait_remote(client, tune, timeout, None if bar is None else bar.update)
        elif lora or model_type.strip().lower() != "faceid":
            tune = _create_local(title, name, inputs, base_model, model_type, training)
            if lora and wait:
                with training_bar(stderr, enabled=not as_json) as bar:
                    tune = _train_local(tune, timeout, None if bar is None else bar.update)
        else:
            tune = services().tunes.create(title=title, name=name, photos=inputs, base_model=base_model)
    if as_json:
        print_json(tune)
    else:
        _print_tune(tune)
        if lora and not wait and not tune["trained_at"]:
            stdout.print(
                "  queued: a `lookalike serve` (or `lookalike worker`) on this data trains it; "
                "or pass --wait to train it now",
                highlight=False,
            )


def _create_local(title: str, name: str, inputs, base_model, model_type: str, training: dict) -> dict:
    """A tune made through the same intake as POST /tunes (fields, plan, photo checks), as the local account."""
    from lookalike.schemas import TuneCreate, Upload

    fields = {"title": title, "name": name, "model_type": model_type, "base_tune_id": base_model, **training}
    fields = {k: v for k, v in fields.items() if v is not None}
    request = TuneCreate.parse({**fields, "images": [Upload(p.data, p.filename) for p in inputs]})
    return services().intake.create(None, request).tune


def _train_local(tune: dict, timeout: float, on_progress) -> dict:
    """Train the new tune in this process (or, if a server on this data took it first, follow it there)."""
    import time

    from lookalike.errors import TrainingFailedError, TuneTimeoutError

    svc = services()
    svc.training_presets  # noqa: B018 - a bad operator preset file fails now, not mid-way
    outcome = svc.training_runner().run(tune["id"], listener=on_progress)
    deadline = time.monotonic() + timeout
    while True:
        current = svc.tunes.get(tune["id"])
        training = current["training"] or {}
        if training.get("status") == "failed":
            error = training.get("error") or {}
            raise TrainingFailedError(
                f"Tune {tune['id']}'s training failed: {error.get('message', 'no reason given')}",
                details={"tune_id": tune["id"], "error": error},
            )
        if current["trained_at"]:
            return current
        if outcome == "stopping" or time.monotonic() > deadline:
            raise TuneTimeoutError(f"Tune {tune['id']} is still {training.get('status')}.", details={"tune_id": tune["id"]})
        if on_progress is not None and training.get("progress"):
            on_progress(training["progress"])
        time.sleep(0.5)


def _wait_remote(client, tune: dict, timeout: float, on_progress) -> dict:
    from lookalike.errors import TuneTimeoutError

    try:
        return client.wait_tune(tune, timeout=timeout, on_progress=on_progress)
    except TimeoutError as exc:
        raise TuneTimeoutError(str(exc), details={"tune_id": tune["id"]}) from exc


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
        kind = tune["model_type"] if tune["trained_at"] else f"{tune['model_type']}, not trained yet"
        stdout.print(
            f"{tune['id']:>5}  {tune['title']}  ({tune['name']}, {kind}, {len(tune['images'])} photo(s), "
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
            services().delete_tune(tune_id)
    if as_json:
        print_json({"id": tune_id, "deleted": True})
    else:
        stdout.print(f"Deleted tune {tune_id}.")
