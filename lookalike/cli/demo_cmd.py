"""`lookalike demo`: the whole path on a sample photo, for a first run on a new machine."""

from __future__ import annotations

from lookalike.cli.output import reporting_errors, stdout


def demo() -> None:
    """Make a tune from a public-domain sample photo and show what was found."""
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
        stdout.print("Next: `lookalike tunes create --title NAME --name woman PHOTO...` with your own photos.")
