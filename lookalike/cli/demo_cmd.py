"""`lookalike demo`: the whole path on a sample photo, for a first run on a new machine."""

from __future__ import annotations

from lookalike.cli.output import reporting_errors, stdout


def demo() -> None:
    """Make a tune from a public-domain sample photo, then generate with it on the built-in tiny model.

    The tiny model has random weights: it proves the whole path (tune, prompt
    syntax, FaceID adapter, diffusers, PNGs) offline in seconds; its images
    are noise. Real portraits need `lookalike models pull realistic-vision-v5-1`.
    """
    import io

    from PIL import Image
    from skimage import data

    from lookalike.cli.common import services
    from lookalike.tunes.photo_check import PhotoInput

    with reporting_errors(as_json=False):
        svc = services()
        stdout.print(f"data directory: {svc.settings.data_dir}")
        photos = []
        for image in (data.astronaut(), data.astronaut()[:, ::-1]):
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="JPEG", quality=92)
            photos.append(PhotoInput(buffer.getvalue(), "astronaut.jpg"))
        tune = svc.tunes.create(title="Demo: Eileen Collins", name="woman", photos=photos)
        stdout.print(f"tune {tune['id']} ready: {len(tune['images'])} photos, identity "
                     f"{tune['identity'][0]['encoder']} ({tune['identity'][0]['dim']}-d)", highlight=False)
        for photo in tune["images"]:
            stdout.print(f"  photo {photo['index']}: box {photo['box']} quality {photo['quality']}", highlight=False)
        _generate(svc, tune["id"])
        stdout.print("Next: `lookalike tunes create --title NAME --name woman PHOTO...` with your own photos, "
                     "or `lookalike serve --open-signup` and the studio at http://127.0.0.1:8000/.")


def _generate(svc, tune_id: int) -> None:
    from lookalike.execution.runner import check_prompt, run_prompt

    text = f"A professional headshot of ohwx woman, blue blazer, studio lighting <faceid:{tune_id}:1.0>"
    resolved = check_prompt(
        svc.run_context, account_id=None, tune_id=None, text=text, negative_prompt="blurry, low resolution",
        options={"num_images": 2, "steps": 4, "seed": 42}, base_model="tiny",
    )
    result = run_prompt(svc.run_context, resolved)
    out = svc.settings.data_dir / "demo"
    out.mkdir(parents=True, exist_ok=True)
    stdout.print(f"prompt: {text}", highlight=False)
    for n, image in enumerate(result.images):
        path = out / f"tiny-{n}.png"
        path.write_bytes(image.png_bytes())
        stdout.print(f"  {path} ({result.width}x{result.height}, seed {image.seed}, "
                     f"{result.timings.get('total', 0.0):.1f} s for the prompt; tiny model: random weights, noise)",
                     highlight=False)
