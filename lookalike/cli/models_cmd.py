"""`lookalike models ...`: what models exist, which are on disk, and fetching them."""

from __future__ import annotations

from typing import Annotated

import typer

from lookalike.cli.output import print_json, reporting_errors, stdout

models_app = typer.Typer(help="Base models, adapters, face and post-processing models: list, pull, add your own.",
                         no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _all_packs():
    from lookalike.catalog.base_models import model_packs
    from lookalike.catalog.clip_vocab import CLIP_BPE
    from lookalike.catalog.controlnets import controlnet_packs
    from lookalike.control.pose.models import control_packs
    from lookalike.faces.backends.insightface import BUFFALO_L
    from lookalike.postprocess.models import postprocess_packs

    return (*model_packs(), CLIP_BPE, BUFFALO_L, *postprocess_packs(), *controlnet_packs(), *control_packs())


def _installed(pack, models_dir) -> bool:
    from lookalike.catalog.files import locate
    from lookalike.errors import ModelUnavailableError

    try:
        locate(pack, models_dir, check=False)
    except ModelUnavailableError:
        return False
    return True


@models_app.command("list")
def list_models(as_json: JsonFlag = False) -> None:
    """Base models (with their gallery ids; your own checkpoints too) and every pullable model pack."""
    from lookalike.catalog.base_models import all_base_models
    from lookalike.config import get_settings

    with reporting_errors(as_json=as_json):
        specs = all_base_models(get_settings())
    models_dir = get_settings().models_dir
    base = [
        {
            "id": spec.id,
            "gallery_id": spec.gallery_id,
            "name": spec.name,
            "family": spec.family,
            "license": spec.license,
            "adapter": spec.adapter.id,
            "adapter_encoder": spec.adapter.encoder,
            "source": spec.source.kind,
            **({"path": spec.source.path, "config": spec.source.config} if spec.source.kind == "single_file" else {}),
            "installed": spec.source.kind == "builtin" or _installed(spec.pack, models_dir),
        }
        for spec in specs
    ]
    packs = [
        {"id": p.id, "title": p.title, "license": p.license, "files": len(p.files), "installed": _installed(p, models_dir)}
        for p in _all_packs()
    ]
    if as_json:
        print_json({"models_dir": str(models_dir), "base_models": base, "packs": packs})
        return
    stdout.print(f"models directory: {models_dir}", highlight=False)
    stdout.print("base models (gallery id, id, name, licence):")
    for b in base:
        mark = "installed" if b["installed"] else "not pulled"
        own = f" ({b['path']})" if b["source"] == "single_file" else ""
        stdout.print(f"  {b['gallery_id']:>4}  {b['id']:<24} {b['name']}{own} [{b['license']}] - {mark}", highlight=False)
    stdout.print("model packs (`lookalike models pull ID`):")
    for p in packs:
        mark = "installed" if p["installed"] else "not pulled"
        stdout.print(f"  {p['id']:<32} {p['title']} [{p['license']}] - {mark}", highlight=False)


@models_app.command("pull")
def pull(model_id: Annotated[str, typer.Argument(help="A pack id, or a base model id / gallery id.")]) -> None:
    """Download a model's files into the models directory, checking sha256."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from lookalike.catalog.base_models import get_model_pack
    from lookalike.catalog.files import fetch
    from lookalike.config import get_settings

    with reporting_errors(as_json=False):
        packs = {p.id: p for p in _all_packs()}
        pack = packs.get(model_id.strip().lower()) or get_model_pack(model_id)
        models_dir = get_settings().models_dir
        with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                      TransferSpeedColumn()) as progress:
            task = progress.add_task(f"pull {pack.id}", total=None)

            def report(done: int, total: int | None) -> None:
                progress.update(task, completed=done, total=total)

            paths = fetch(pack, models_dir, progress=report)
        stdout.print(f"{pack.id}: {len(paths)} file(s) ready in {models_dir}", highlight=False)


@models_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The new base model's id (slug): lower-case letters, digits, dashes.")],
    path: Annotated[str, typer.Argument(help="Your checkpoint: one .safetensors file in the A1111/CompVis layout.")],
    family: Annotated[str, typer.Option("--family", help="Its architecture; sd15 for SD1.x checkpoints.")] = "sd15",
    title: Annotated[str | None, typer.Option("--title", help="A name for people; the id if left out.")] = None,
    config: Annotated[
        str | None,
        typer.Option("--config", help="A diffusers config folder, for a checkpoint not of the family's own shape."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add your own checkpoint as a base model: it gets a gallery id and loads offline with a bundled config."""
    from lookalike.catalog.user_models import add_user_model
    from lookalike.config import get_settings

    with reporting_errors(as_json=as_json):
        spec = add_user_model(get_settings(), name, path, family=family, name=title, config=config)
    if as_json:
        print_json({"id": spec.id, "gallery_id": spec.gallery_id, "name": spec.name, "family": spec.family,
                    "path": spec.source.path, "config": spec.source.config, "pull_command": spec.pack.pull_command})
        return
    stdout.print(f"added {spec.id} (gallery id {spec.gallery_id}): {spec.source.path}", highlight=False)
    stdout.print(f"it uses the {spec.family} FaceID adapter: `{spec.pack.pull_command}` fetches it if "
                 "`lookalike models list` shows it not pulled", highlight=False)


@models_app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="The id or gallery id of a model you added.")],
    as_json: JsonFlag = False,
) -> None:
    """Take one of your own checkpoints out of the catalog (the file itself is left where it is)."""
    from lookalike.catalog.user_models import remove_user_model
    from lookalike.config import get_settings

    with reporting_errors(as_json=as_json):
        spec = remove_user_model(get_settings(), name)
    if as_json:
        print_json({"removed": spec.id, "gallery_id": spec.gallery_id})
        return
    stdout.print(f"removed {spec.id} (gallery id {spec.gallery_id}); {spec.source.path} is untouched", highlight=False)
