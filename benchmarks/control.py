"""Issue 14's control images: seconds per 512x512 image for canny and pose, against decoding the image.

    python benchmarks/control.py              # --runs 15
    python benchmarks/control.py --runs 5

The photo is scikit-image's astronaut (public domain), 512x512, as a JPEG
(quality 90) in memory. In one loop, after a warm-up of each, alternated:

1. decoding it as an input image is decoded (``faces.decode.decode_image``:
   format and size checks, EXIF orientation, RGB) - the baseline;
2. its canny control image at 512x512 (``make_control_image("canny", ...)``:
   fit to the output size, ``cv2.Canny`` 100/200);
3. its pose control image at 512x512 (MediaPipe's detector and full landmark
   model with LiteRT on 2 threads, the OpenPose skeleton drawn); the models
   are loaded once before the loop, as a worker keeps them.

Prints the median seconds of each and its ratio to the decode.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import header  # noqa: E402
from lookalike.control import make_control_image  # noqa: E402
from lookalike.control.pose import pose_estimator  # noqa: E402
from lookalike.faces.decode import decode_image  # noqa: E402

SIZE = (512, 512)
MAX_PIXELS = 40_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    header(f"python benchmarks/control.py --runs {args.runs}")
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, format="JPEG", quality=90)
    jpeg = buffer.getvalue()
    pixels = decode_image(jpeg, max_pixels=MAX_PIXELS)
    pose_estimator(None)  # loaded once, as a worker keeps it

    tasks = {
        "decode (baseline)": lambda: decode_image(jpeg, max_pixels=MAX_PIXELS),
        "canny": lambda: make_control_image("canny", pixels, SIZE, models_dir=None),
        "pose": lambda: make_control_image("pose", pixels, SIZE, models_dir=None),
    }
    times: dict[str, list[float]] = {name: [] for name in tasks}
    for task in tasks.values():
        task()
    for _ in range(args.runs):
        for name, task in tasks.items():
            t0 = time.perf_counter()
            task()
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["decode (baseline)"])
    print(f"photo: astronaut 512x512 JPEG, {len(jpeg)} bytes; control images at {SIZE[0]}x{SIZE[1]}; {args.runs} runs")
    print("| step | seconds (median) | ratio to decoding |")
    print("|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.4f} | {median / base:.1f}x |")
    people = len(pose_estimator(None).people(np.asarray(pixels)))
    print(f"pose found {people} person(s)")


if __name__ == "__main__":
    main()
