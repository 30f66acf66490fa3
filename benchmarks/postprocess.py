"""Post-processing figures: seconds per 512x512 image per step, super-resolution PSNR, face-swap likeness.

    python benchmarks/postprocess.py [--sr-size 128] [--skip-swap-pairs]

- Seconds per step on a 512x512 photo (astronaut), median of 3 runs after a
  warm-up. Face correct runs the full-size GFPGANv1Clean with random weights
  (the real file is not obtainable here; speed does not depend on the
  values). Super resolution runs the real x4plus weights on an --sr-size
  input and scales per pixel to 512x512 (the network is convolutional and
  tiled, so its cost is linear in pixels); pass --sr-size 512 to time it whole.
- Super resolution PSNR: 512x512 portraits shrunk 4x (area) and brought back,
  against bicubic; luma PSNR with a 4 px border shaved (the usual measure) and RGB.
- Face swap (offline warp): every photo of person A in ../shared/data/faces as
  the "generated" image, a tune of person B (all of B's photos), for every
  A != B; offline encoder cosine similarity to B's identity before and after,
  and how many cross the same-person threshold.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import SHARED_FACES, header  # noqa: E402


def _timed(fn, runs: int = 3) -> float:
    fn()  # warm-up: model load, first-call allocations
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _photos():
    import matplotlib.cbook
    from skimage import data

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as fh:
        hopper = np.asarray(Image.open(fh).convert("RGB"))
    return data.astronaut(), np.ascontiguousarray(hopper[:512, :512])


def _y_psnr(a, b, shave=4):
    ya = cv2.cvtColor(a, cv2.COLOR_RGB2YCrCb)[shave:-shave, shave:-shave, 0].astype(np.float64)
    yb = cv2.cvtColor(b, cv2.COLOR_RGB2YCrCb)[shave:-shave, shave:-shave, 0].astype(np.float64)
    return 10 * np.log10(255.0**2 / np.mean((ya - yb) ** 2))


def _rgb_psnr(a, b, shave=4):
    d = a[shave:-shave, shave:-shave].astype(np.float64) - b[shave:-shave, shave:-shave]
    return 10 * np.log10(255.0**2 / np.mean(d**2))


def step_timings(settings, analyzer, sr_size: int) -> None:
    import torch

    from lookalike.catalog.files import ModelPack, RemoteFile
    from lookalike.postprocess.archs.gfpgan import GFPGANv1Clean
    from lookalike.postprocess.base import PostprocessContext
    from lookalike.postprocess.face_restore import FaceCorrect
    from lookalike.postprocess.face_swap.offline_warp import WarpFaceSwap
    from lookalike.postprocess.upscale import SuperResolution
    from tests.postprocess.helpers import tune_from_photos

    astronaut, hopper = _photos()
    tune, _ = tune_from_photos(analyzer, [hopper])
    context = PostprocessContext(settings=settings, analyzer=lambda: analyzer, tune=tune, seed=0)
    image = Image.fromarray(astronaut)
    print("\n## Seconds per 512x512 image (1 face), median of 3 after a warm-up")
    swap = WarpFaceSwap(settings)
    print(f"face_swap (warp, MediaPipe mesh + seamlessClone): {_timed(lambda: swap.run(image, context)):.2f} s")

    pack = ModelPack(id="gfpgan_random", title="full-size GFPGANv1Clean, random weights", license="-",
                     files=(RemoteFile(url="file:///", path="postprocess/gfpgan_random.pth"),))
    path = settings.models_dir / pack.files[0].path
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.save({"params_ema": GFPGANv1Clean().state_dict()}, path)
    restore = FaceCorrect(pack=pack)
    print(f"face_correct (GFPGANv1Clean full size, random weights): {_timed(lambda: restore.run(image, context)):.2f} s")

    upscale = SuperResolution(settings)
    small = Image.fromarray(cv2.resize(astronaut, (sr_size, sr_size), interpolation=cv2.INTER_AREA))
    seconds = _timed(lambda: upscale.run(small, context), runs=1 if sr_size > 128 else 3)
    scaled = seconds * (512 / sr_size) ** 2
    note = "measured" if sr_size == 512 else f"measured {seconds:.1f} s on {sr_size}x{sr_size}, scaled by pixels"
    print(f"super_resolution (Real-ESRGAN x4plus, 512 -> 2048): {scaled:.1f} s ({note})")


def sr_psnr(settings, analyzer) -> None:
    from lookalike.postprocess.base import PostprocessContext
    from lookalike.postprocess.upscale import SuperResolution

    step = SuperResolution(settings)
    context = PostprocessContext(settings=settings, analyzer=lambda: analyzer)
    print("\n## Super resolution x4 vs bicubic (512x512 portrait -> 128 -> 512)")
    print("| photo | Y-PSNR SR | Y-PSNR bicubic | gain | RGB-PSNR SR | RGB-PSNR bicubic |")
    print("|---|---|---|---|---|---|")
    astronaut, hopper = _photos()
    for name, original in (("hopper", hopper), ("astronaut", astronaut)):
        small = cv2.resize(original, (128, 128), interpolation=cv2.INTER_AREA)
        up = np.asarray(step.run(Image.fromarray(small), context).image)
        bic = cv2.resize(small, (512, 512), interpolation=cv2.INTER_CUBIC)
        ys, yb = _y_psnr(up, original), _y_psnr(bic, original)
        print(f"| {name} | {ys:.2f} | {yb:.2f} | {ys - yb:+.2f} | {_rgb_psnr(up, original):.2f} | "
              f"{_rgb_psnr(bic, original):.2f} |", flush=True)


def swap_pairs(settings, analyzer) -> None:
    from lookalike.faces.compare import SAME_PERSON_THRESHOLDS, cosine_similarity
    from lookalike.faces.decode import to_rgb8
    from lookalike.postprocess.base import PostprocessContext
    from lookalike.postprocess.face_swap.offline_warp import WarpFaceSwap
    from tests.postprocess.helpers import tune_from_photos

    print("\n## Face swap (warp): identity toward the tune's person, before -> after")
    if not SHARED_FACES.is_dir():
        print(f"skipped: {SHARED_FACES} is absent")
        return
    people = {d.name: [to_rgb8(Image.open(p)) for p in sorted(d.iterdir())]
              for d in sorted(SHARED_FACES.iterdir()) if d.is_dir() and d.name not in ("group", "edge")}
    encoder = analyzer.encoder.name
    threshold = SAME_PERSON_THRESHOLDS[encoder]

    def identity_of(image):
        faces = analyzer.analyse(image)
        return max(faces, key=lambda f: f.detection.size).embeddings[encoder] if faces else None

    rows = []
    for b, photos in people.items():
        tune, identity = tune_from_photos(analyzer, photos)
        step = WarpFaceSwap(settings)
        context = PostprocessContext(settings=settings, analyzer=lambda: analyzer, tune=tune)
        for a, targets in people.items():
            if a == b:
                continue
            for target in targets:
                result = step.run(Image.fromarray(target), context)
                after_vec = identity_of(np.asarray(result.image))
                before = cosine_similarity(identity_of(target), identity)
                after = cosine_similarity(after_vec, identity) if after_vec is not None else float("nan")
                rows.append((before, after, result.skipped_reason))
    arr = np.array([(r[0], r[1]) for r in rows])
    skipped = sum(1 for r in rows if r[2])
    print(f"pairs: {len(rows)} (persons: {len(people)}; skipped: {skipped}); encoder {encoder}, "
          f"same-person threshold {threshold}")
    print(f"mean similarity: {arr[:, 0].mean():.3f} -> {np.nanmean(arr[:, 1]):.3f}; "
          f"median {np.median(arr[:, 0]):.3f} -> {np.nanmedian(arr[:, 1]):.3f}")
    print(f"rose: {np.mean(arr[:, 1] > arr[:, 0]):.0%}; at/above threshold: before {np.mean(arr[:, 0] >= threshold):.0%}, "
          f"after {np.mean(arr[:, 1] >= threshold):.0%}; min after {np.nanmin(arr[:, 1]):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sr-size", type=int, default=128, help="input side for timing super resolution")
    parser.add_argument("--skip-swap-pairs", action="store_true")
    args = parser.parse_args()
    header("python benchmarks/postprocess.py " + " ".join(sys.argv[1:]))
    import torch

    from lookalike.config import Settings
    from lookalike.faces.backends.registry import build_analyzer

    print(f"torch threads: {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        # A throwaway data dir: the benchmark writes a random stand-in model there.
        settings = Settings(data_dir=Path(tmp))
        analyzer = build_analyzer(settings)
        step_timings(settings, analyzer, args.sr_size)
        sr_psnr(settings, analyzer)
        if not args.skip_swap_pairs:
            swap_pairs(settings, analyzer)


if __name__ == "__main__":
    main()
