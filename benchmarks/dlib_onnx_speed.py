"""Face descriptor time per chip: dlib's own forward pass against our ONNX conversion.

    python benchmarks/dlib_onnx_speed.py [--runs 10]

Both run in this process on the same real face chips (skimage's astronaut,
matplotlib's Grace Hopper and a mirrored astronaut), at batch 1 and batch 3.
Prints the median time per chip of each and the ratio, plus the one-off
conversion time and the largest descriptor difference.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import header, median  # noqa: E402


def real_chips(dlib, predictor) -> list[np.ndarray]:
    import matplotlib.cbook
    from PIL import Image
    from skimage import data

    astronaut = data.astronaut()
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as fh:
        hopper = np.asarray(Image.open(fh).convert("RGB"))
    detector = dlib.get_frontal_face_detector()
    chips = []
    for image in (astronaut, hopper, np.ascontiguousarray(astronaut[:, ::-1])):
        rect = max(detector(image, 1), key=lambda r: r.area())
        chips.append(dlib.get_face_chip(image, predictor(image, rect), size=150, padding=0.25))
    return chips


def per_chip(fn, chips: list[np.ndarray], runs: int) -> float:
    fn(chips)  # warm
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(chips)
        times.append((time.perf_counter() - start) / len(chips))
    return median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    header(f"python benchmarks/dlib_onnx_speed.py --runs {args.runs}")

    import dlib

    from lookalike.faces.backends.dlib import DlibResNetOnnx
    from lookalike.faces.backends.offline import _face_models_dir

    root = _face_models_dir()
    predictor = dlib.shape_predictor(str(root / "shape_predictor_5_face_landmarks.dat"))
    net = dlib.face_recognition_model_v1(str(root / "dlib_face_recognition_resnet_model_v1.dat"))
    chips = real_chips(dlib, predictor)

    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        ours = DlibResNetOnnx(root / "dlib_face_recognition_resnet_model_v1.dat", Path(cache))
        ours.warmup()
        first_use = time.perf_counter() - start
        start = time.perf_counter()
        DlibResNetOnnx(root / "dlib_face_recognition_resnet_model_v1.dat", Path(cache)).warmup()
        cached_use = time.perf_counter() - start

        def dlib_fn(batch):
            return np.asarray(net.compute_face_descriptor(batch), dtype=np.float32)

        diff = float(np.abs(ours.describe(chips) - dlib_fn(chips)).max())
        print(f"first use (convert + load + 1 chip): {first_use:.2f} s; cached (load + 1 chip): {cached_use:.2f} s")
        print(f"max |onnx - dlib| over {len(chips)} chips: {diff:.3g}")
        print(f"{'batch':>5}  {'dlib ms/chip':>12}  {'onnx ms/chip':>12}  {'speed-up':>8}")
        for size in (1, 3):
            batch = chips[:size]
            t_dlib = per_chip(dlib_fn, batch, args.runs)
            t_ours = per_chip(ours.describe, batch, args.runs)
            print(f"{size:>5}  {t_dlib * 1e3:>12.1f}  {t_ours * 1e3:>12.1f}  {t_dlib / t_ours:>7.1f}x")


if __name__ == "__main__":
    main()
