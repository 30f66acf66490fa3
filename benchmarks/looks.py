"""Issue 14's looks on a fixed photo: what each colour grading and the film grain do, and what they cost.

    python benchmarks/looks.py            # table to stdout, pictures into docs/screenshots/
    python benchmarks/looks.py --no-pictures --runs 5

The photo is scikit-image's astronaut (public domain), 512x512. For each
value of ``color_grading`` and for ``film_grain`` (seed 1234), through the
real finishing steps (``ColorGrading.run``, ``FilmGrain.run``):

1. mean and standard deviation of each channel (0-255) before and after;
2. seconds per 512x512 image, the median of ``--runs`` after a warm-up, and
   its ratio to a plain copy of the same image (``Image.copy``) timed in
   the same loop;
3. a picture of each in docs/screenshots/: ``look-<value>.jpg``, the photo
   and the graded photo side by side (halved); for the grain, a 1:1 crop of
   the face before and after (``look-film-grain.jpg``), and the same part of the
   picture at the same print size from a 512 px image and from a 2048 px one
   (``look-film-grain-x4.jpg``, bicubic x4 standing in for super resolution):
   the grain should look alike in both halves.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, header  # noqa: E402
from lookalike.config import Settings  # noqa: E402
from lookalike.postprocess.base import PostprocessContext  # noqa: E402
from lookalike.postprocess.color_grading import ColorGrading  # noqa: E402
from lookalike.postprocess.film_grain import FilmGrain  # noqa: E402
from lookalike.postprocess.grading.looks import slug  # noqa: E402
from lookalike.prompts.looks import COLOR_GRADINGS  # noqa: E402

SCREENSHOTS = REPO / "docs" / "screenshots"
SEED = 1234
FACE = (112, 0, 368, 256)  # x0, y0, x1, y1 around the astronaut's face, 256 px square


def timed(run, copy, runs: int) -> tuple[float, float]:
    """Median seconds of ``run()`` and of ``copy()``, alternated in one loop after a warm-up of each."""
    run(), copy()
    steps, copies = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        run()
        steps.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        copy()
        copies.append(time.perf_counter() - t0)
    return statistics.median(steps), statistics.median(copies)


def stats(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    pixels = np.asarray(image, dtype=np.float64)
    return pixels.mean(axis=(0, 1)), pixels.std(axis=(0, 1))


def side_by_side(*images: Image.Image) -> Image.Image:
    strip = Image.new("RGB", (sum(i.width for i in images) + 8 * (len(images) - 1), images[0].height), "white")
    x = 0
    for image in images:
        strip.paste(image, (x, 0))
        x += image.width + 8
    return strip


def save(image: Image.Image, name: str) -> Path:
    path = SCREENSHOTS / name
    image.save(path, quality=90, optimize=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-pictures", action="store_true")
    args = parser.parse_args()
    header(f"python benchmarks/looks.py --runs {args.runs}")
    from skimage import data

    photo = Image.fromarray(data.astronaut())
    context = PostprocessContext(settings=Settings(), analyzer=lambda: None, seed=SEED)
    steps = [(name, ColorGrading(name)) for name in COLOR_GRADINGS] + [("film grain", FilmGrain())]

    before_mean, before_std = stats(photo)
    print()
    print("| value | channel | mean before -> after | std before -> after |")
    print("|---|---|---|---|")
    results = {}
    for name, step in steps:
        after = step.run(photo, context).image
        results[name] = after
        mean, std = stats(after)
        for channel, letter in enumerate("RGB"):
            label = f"`{name}`" if name in COLOR_GRADINGS else "`film_grain`"
            print(f"| {label if channel == 0 else ''} | {letter} | {before_mean[channel]:.1f} -> {mean[channel]:.1f} "
                  f"| {before_std[channel]:.1f} -> {std[channel]:.1f} |")

    print()
    print("| value | seconds per 512x512 image | plain copy (s) | ratio to the copy |")
    print("|---|---|---|---|")
    for name, step in steps:
        seconds, copy = timed(lambda step=step: step.run(photo, context), photo.copy, args.runs)
        print(f"| {name} | {seconds:.4f} | {copy:.6f} | {seconds / copy:,.0f}x |")

    if args.no_pictures:
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    half = (256, 256)
    written = []
    for name in COLOR_GRADINGS:
        strip = side_by_side(photo.resize(half, Image.LANCZOS), results[name].resize(half, Image.LANCZOS))
        written.append(save(strip, f"look-{slug(name).replace('_', '-')}.jpg"))
    written.append(save(side_by_side(photo.crop(FACE), results["film grain"].crop(FACE)), "look-film-grain.jpg"))
    # The same 64x64 patch of the picture at the same print size: from the 512 px image (x4 pixels) and from a
    # 2048 px one (1:1). Grain that scales with the image looks the same in both.
    big = photo.resize((2048, 2048), Image.BICUBIC)
    big_grain = FilmGrain().run(big, context).image
    patch = (208, 72, 272, 136)
    small_view = results["film grain"].crop(patch).resize(half, Image.NEAREST)
    big_view = big_grain.crop(tuple(4 * v for v in patch))
    written.append(save(side_by_side(small_view, big_view), "look-film-grain-x4.jpg"))
    print()
    for path in written:
        print(f"wrote {path.relative_to(REPO)} ({path.stat().st_size // 1024} kB)")


if __name__ == "__main__":
    main()
