"""`lookalike prompts create`: generate portraits from a prompt with <faceid:ID:W> tokens."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Annotated

import typer

from lookalike.cli.common import services
from lookalike.cli.output import print_json, reporting_errors, stdout
from lookalike.cli.remote import ApiKeyOption, ServerOption, connect, run_remote_prompt

prompts_app = typer.Typer(help="Generate images: text with <faceid:TUNE_ID:WEIGHT> tokens.", no_args_is_help=True)


def _run_id() -> str:
    """A local run's id: sortable by time, unique enough to name its files."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


@prompts_app.command("create")
def create(
    text: Annotated[str, typer.Argument(help="Prompt text, e.g. 'A headshot, blue blazer <faceid:1:1.0>'.")],
    negative: Annotated[str, typer.Option("--negative", help="Negative prompt.")] = "",
    base_model: Annotated[
        str | None, typer.Option("--base-model", help="Base model id or gallery id; default: the tune's.")
    ] = None,
    num_images: Annotated[int | None, typer.Option("--num-images", help="1 to 8.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Denoising steps (scheduler default if unset).")] = None,
    cfg_scale: Annotated[float | None, typer.Option("--cfg-scale", help="0 to 15.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Same seed and options, same pixels.")] = None,
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="euler, euler_a, dpm++2m, dpm++2m_karras, "
                                                   "dpm++sde, dpm++sde_karras, lcm, tcd, ddim.")] = None,
    width: Annotated[int | None, typer.Option("--width", help="Multiple of 8; with --height.")] = None,
    height: Annotated[int | None, typer.Option("--height", help="Multiple of 8; with --width.")] = None,
    aspect_ratio: Annotated[str | None, typer.Option("--aspect-ratio", help="1:1, 4:5, 2:3, 16:9, ...")] = None,
    face_swap: Annotated[bool, typer.Option("--face-swap", help="Put the tune's face on each realistic face "
                                              "(skipped, with the reason, on illustration styles).")] = False,
    face_correct: Annotated[bool, typer.Option("--face-correct", help="Restore every face (GFPGAN v1.4).")] = False,
    super_resolution: Annotated[bool, typer.Option("--super-resolution",
                                                   help="Upscale x4 (Real-ESRGAN x4plus), after the face steps.")] = False,
    out: Annotated[Path, typer.Option("--out", help="Directory for the PNGs.")] = Path("lookalike-out"),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="With --server: seconds to wait for the images.")] = 600,
) -> None:
    """Generate images of the tunes named in TEXT and write them as PNGs into --out."""
    if server:
        _create_remote(server, api_key, text, negative, base_model, out, as_json, timeout, {
            "num_images": num_images, "steps": steps, "cfg_scale": cfg_scale, "seed": seed, "scheduler": scheduler,
            "w": width, "h": height, "aspect_ratio": aspect_ratio,
            "face_swap": face_swap or None, "face_correct": face_correct or None,
            "super_resolution": super_resolution or None,
        })
        return
    from lookalike.generation.runner import check_prompt, run_prompt
    from lookalike.postprocess.pipeline import summary_from_parameters

    fields = {
        "num_images": num_images, "steps": steps, "cfg_scale": cfg_scale, "seed": seed,
        "scheduler": scheduler, "w": width, "h": height, "aspect_ratio": aspect_ratio,
        # Only flags that are on: an off flag is the default.
        "face_swap": face_swap or None, "face_correct": face_correct or None,
        "super_resolution": super_resolution or None,
    }
    with reporting_errors(as_json):
        svc = services()
        resolved = check_prompt(
            svc, account_id=None, tune_id=None, text=text, negative_prompt=negative,
            options={k: v for k, v in fields.items() if v is not None}, base_model=base_model,
        )
        result = run_prompt(svc, resolved)
        run_id = _run_id()
        out.mkdir(parents=True, exist_ok=True)
        images = []
        for n, image in enumerate(result.images):
            path = out / f"{run_id}-{n}.png"
            path.write_bytes(image.png_bytes())
            images.append({"path": str(path), "seed": image.seed, "identity_score": image.identity_score,
                           "width": image.image.width, "height": image.image.height,
                           "postprocess": summary_from_parameters(image.parameters)})
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


def _create_remote(server, api_key, text, negative, base_model, out, as_json, timeout, fields) -> None:
    with reporting_errors(as_json):
        with connect(server, api_key) as client:
            report = run_remote_prompt(
                client, text=text, negative=negative, base_model=base_model,
                fields={k: v for k, v in fields.items() if v is not None}, out=out, timeout=timeout,
            )
    if as_json:
        print_json(report)
        return
    stdout.print(f"prompt {report['id']} on {server}: {len(report['images'])} image(s), {report['w']}x{report['h']}, "
                 f"{report['steps']} steps {report['scheduler']}, base {report['base_model']}", highlight=False)
    for image in report["images"]:
        score = "no face found" if image["identity_score"] is None else f"identity {image['identity_score']}"
        stdout.print(f"  {image['path']}  seed {image['seed']}  {score}", highlight=False)
