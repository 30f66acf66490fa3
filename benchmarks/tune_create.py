"""Time to make a 3-photo tune, warm and cold, against the face_recognition library.

    python benchmarks/tune_create.py [--runs 7]

The baseline encodes the same photos with the `face_recognition` library
(HOG detector + the same dlib ResNet encoder). Install it beside dlib-bin
without letting pip compile dlib:
    pip install --no-deps face_recognition "setuptools<81"
(its model package still imports pkg_resources, which newer setuptools lacks).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import header, median, require_shared_faces, run_child  # noqa: E402

PHOTOS = ("obama/obama_1.jpg", "obama/obama_2.jpg", "obama/obama_3.jpg")


def lookalike_once(services, paths: list[Path], title: str) -> float:
    from lookalike.tunes.photo_check import PhotoInput

    photos = [PhotoInput(p.read_bytes(), p.name) for p in paths]
    start = time.perf_counter()
    services.tunes.create(title=title, name="man", photos=photos)
    return time.perf_counter() - start


def baseline_once(face_recognition, paths: list[Path]) -> float:
    start = time.perf_counter()
    for p in paths:
        image = face_recognition.load_image_file(str(p))
        boxes = face_recognition.face_locations(image, model="hog")
        face_recognition.face_encodings(image, boxes)
    return time.perf_counter() - start


def child_cold(which: str, paths: list[Path]) -> None:
    """Runs in a fresh process: imports and model loads are part of the time."""
    start = time.perf_counter()
    if which == "lookalike":
        from lookalike.config import Settings
        from lookalike.services import Services

        with tempfile.TemporaryDirectory() as tmp:
            services = Services(Settings(data_dir=Path(tmp)))
            lookalike_once(services, paths, "cold")
    else:
        import face_recognition

        baseline_once(face_recognition, paths)
    print(f"{time.perf_counter() - start:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--child", choices=["lookalike", "baseline"])
    args = parser.parse_args()
    faces = require_shared_faces()
    paths = [faces / p for p in PHOTOS]
    if args.child:
        child_cold(args.child, paths)
        return

    header(f"python benchmarks/tune_create.py --runs {args.runs}")
    from lookalike.config import Settings
    from lookalike.services import Services

    try:
        import face_recognition
    except ImportError:
        face_recognition = None
        print("baseline: face_recognition not installed (see this file's docstring); ratios skipped")

    with tempfile.TemporaryDirectory() as tmp:
        services = Services(Settings(data_dir=Path(tmp)))
        lookalike_once(services, paths, "warm-up")
        ours, theirs = [], []
        # Interleave the two so machine noise hits both alike.
        for i in range(args.runs):
            ours.append(lookalike_once(services, paths, f"run {i}"))
            if face_recognition is not None:
                theirs.append(baseline_once(face_recognition, paths))
        services.close()

    cold_ours = [float(run_child([__file__, "--child", "lookalike"])) for _ in range(3)]
    print(f"photos: {', '.join(PHOTOS)}")
    print(f"lookalike warm: median {median(ours):.3f} s per 3-photo tune ({args.runs} runs; target < 0.3 s)")
    print(f"lookalike cold: median {median(cold_ours):.3f} s incl. imports and model load (3 runs; target < 3 s)")
    if face_recognition is not None:
        cold_theirs = [float(run_child([__file__, "--child", "baseline"])) for _ in range(3)]
        print(f"face_recognition warm: median {median(theirs):.3f} s for the same 3 photos (encode only, no storage)")
        print(f"face_recognition cold: median {median(cold_theirs):.3f} s")
        print(f"ratio warm lookalike/face_recognition: {median(ours) / median(theirs):.2f}")
        print(f"ratio cold lookalike/face_recognition: {median(cold_ours) / median(cold_theirs):.2f}")


if __name__ == "__main__":
    main()
