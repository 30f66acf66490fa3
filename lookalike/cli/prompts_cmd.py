"""`lookalike prompts create`: generate portraits from a prompt with <faceid:ID:W> tokens."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Annotated

import typer

from lookalike.cli.common import services
from lookalike.cli.output import print_json, reporting_errors, stderr, stdout
from lookalike.cli.progress_bar import prompt_bar
from lookalike.cli.prompt_options import with_prompt_options
from lookalike.cli.remote import ApiKeyOption, ServerOption, connect, run_remote_prompt

prompts_app = typer.Typer(help="Generate images: text with <faceid:TUNE_ID:WEIGHT> tokens.", no_args_is_help=True)


def _run_id() -> str:
    """A local run's id: sortable by time, unique enough to name its files."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


@prompts_app.command("create")
@with_prompt_options
def create(
    text: Annotated[str, typer.Argument(help="Prompt text, e.g. 'A headshot, blue blazer <faceid:1:1.0>'.")],
    options: dict,
    negative: Annotated[str, typer.Option("--negative", help="Negative prompt.")] = "",
    base_model: Annotated[
        str | None, typer.Option("--base-model", help="Base model id or gallery id; default: the tune's.")
    ] = None,
    input_image: Annotated[
        Path | None,
        typer.Option("--input-image", help="img2img / ControlNet input: a JPEG, PNG or WebP file (uploaded with --server).",
                     show_default=False),
    ] = None,
    input_image_url: Annotated[
        str | None,
        typer.Option("--input-image-url", help="The input image by URL, fetched under the tune photo rules.",
                     show_default=False),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Directory for the PNGs.")] = Path("lookalike-out"),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="With --server: seconds to wait for the images.")] = 600,
) -> None:
    """Generate images of the tunes named in TEXT and write them as PNGs into --out."""
    if server:
        remote_fields = dict(options)
        if input_image is not None:
            remote_fields["input_image"] = input_image
        if input_image_url is not None:
            remote_fields["input_image_url"] = input_image_url
        _create_remote(server, api_key, text, negative, base_model, out, as_json, timeout, remote_fields)
        return
    from lookalike.execution.runner import check_prompt, run_prompt
    from lookalike.postprocess.pipeline import summary_from_parameters

    with reporting_errors(as_json):
        local = services()
        context = local.run_context
        image = _local_input_image(local, input_image, input_image_url)
        resolved = check_prompt(
            context, account_id=None, tune_id=None, text=text, negative_prompt=negative,
            options=options, base_model=base_model, input_image=image,
        )
        with prompt_bar(stderr, enabled=not as_json) as bar:
            if bar is not None:
                bar.update({"phase": "denoising"})  # "starting": the models load before the first step
            result = run_prompt(context, resolved, on_progress=None if bar is None else bar.on_step)
        run_id = _run_id()
        out.mkdir(parents=True, exist_ok=True)
        images = []
        for n, image in enumerate(result.images):
            path = out / f"{run_id}-{n}.png"
            path.write_bytes(image.png_bytes())
            images.append({"path": str(path), "seed": image.seed, "identity_score": image.identity_score,
                           "width": image.image.width, "height": image.image.height,
                           "postprocess": summary_from_parameters(image.parameters),
                           "identity_scores": image.identity_scores})
    report = {
        "id": run_id,
        "text": text,
        "negative_prompt": negative,
        "base_model": result.base_model_id,
        "num_images": len(images),
        "seed": result.seed,
        "steps": result.steps,
        "cfg_scale": result.cfg_scale,
        "scheduler": result.scheduler,
        "w": result.width,
        "h": result.height,
        "adapter_scale": result.adapter_scale,
        "tunes": [{"tune_id": t, "weight": w} for t, w in resolved.identities],
        "images": images,
        "seconds": round(result.timings.get("total", 0.0), 3),
    }
    if as_json:
        print_json(report)
        return
    stdout.print(f"prompt {run_id}: {len(images)} image(s), {result.width}x{result.height}, {result.steps} steps "
                 f"{result.scheduler}, cfg {result.cfg_scale}, base {result.base_model_id}")
    for image in images:
        score = "no face found" if image["identity_score"] is None else f"identity {image['identity_score']}"
        stdout.print(f"  {image['path']}  seed {image['seed']}  {score}", highlight=False)
        if image["postprocess"]:
            stdout.print(f"    {image['postprocess']}", highlight=False)


def _local_input_image(local, path: Path | None, url: str | None):
    """The input image of a local run, checked as the server checks it; None without one."""
    from lookalike.execution.input_image import InputImageRef
    from lookalike.schemas.common import Upload
    from lookalike.schemas.input_image import input_image_source

    upload = None
    if path is not None:
        from lookalike.errors import FileUnreadableError

        try:
            upload = Upload(path.read_bytes(), path.name)
        except OSError as exc:
            raise FileUnreadableError(f"Cannot read --input-image {path}: {exc.strerror}.", field="input_image") from exc
    source = input_image_source(upload, url, None)
    if source is None:
        return None
    image = local.prompts.input_images.receive(source)
    return InputImageRef(width=image.width, height=image.height, sha256=image.sha256, data=image.data)


def _create_remote(server, api_key, text, negative, base_model, out, as_json, timeout, fields) -> None:
    with reporting_errors(as_json):
        with connect(server, api_key) as client, prompt_bar(stderr, enabled=not as_json) as bar:
            report = run_remote_prompt(
                client, text=text, negative=negative, base_model=base_model,
                fields=fields, out=out, timeout=timeout, on_progress=None if bar is None else bar.update,
            )
    if as_json:
        print_json(report)
        return
    stdout.print(f"prompt {report['id']} on {server}: {len(report['images'])} image(s), {report['w']}x{report['h']}, "
                 f"{report['steps']} steps {report['scheduler']}, base {report['base_model']}", highlight=False)
    for image in report["images"]:
        score = "no face found" if image["identity_score"] is None else f"identity {image['identity_score']}"
        stdout.print(f"  {image['path']}  seed {image['seed']}  {score}", highlight=False)
