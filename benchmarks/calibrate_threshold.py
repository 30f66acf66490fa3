"""Calibrate the same-person threshold of the offline encoder on real photos.

    python benchmarks/calibrate_threshold.py

Every photo of ../shared/data/faces outside group/ gives its main face's
embedding; pairs from the same person are "same", every cross-person pair is
"different" (edge/ holds two more photos of Obama). Prints both similarity
ranges, the gap between them, and the errors at the threshold in use.
"""

from __future__ import annotations

import itertools
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import header, require_shared_faces  # noqa: E402

PERSON_OF_EDGE = {"obama_partial_face.jpg": "obama", "rgba_32bit.png": "obama"}


def person(path: Path) -> str:
    return PERSON_OF_EDGE.get(path.name, path.parent.name)


def main() -> None:
    faces_dir = require_shared_faces()
    header("python benchmarks/calibrate_threshold.py")
    from lookalike.config import Settings
    from lookalike.faces.backends.registry import build_analyzer
    from lookalike.faces.compare import SAME_PERSON_THRESHOLDS
    from lookalike.faces.decode import decode_image

    with tempfile.TemporaryDirectory() as tmp:
        analyzer = build_analyzer(Settings(data_dir=Path(tmp)))
    vectors = {}
    for path in sorted(faces_dir.glob("*/*")):
        if path.parent.name == "group" or path.suffix.lower() not in (".jpg", ".png"):
            continue
        image = decode_image(path.read_bytes(), max_pixels=40_000_000)
        detections = analyzer.detect(image)
        if not detections:
            print(f"  {path.relative_to(faces_dir)}: no face")
            continue
        face = analyzer.prepare(image, max(detections, key=lambda d: d.size))
        analyzer.embed(image, [face])
        vectors[path] = face.embeddings[analyzer.encoder.name]

    same, different = [], []
    for (a, va), (b, vb) in itertools.combinations(vectors.items(), 2):
        (same if person(a) == person(b) else different).append((float(va @ vb), a.name, b.name))
    threshold = SAME_PERSON_THRESHOLDS[analyzer.encoder.name]
    lowest_same, highest_diff = min(same), max(different)
    print(f"encoder: {analyzer.encoder.name}, {len(vectors)} photos, {len(same)} same pairs, {len(different)} different pairs")
    print(f"same person:      {lowest_same[0]:.3f} .. {max(same)[0]:.3f} (lowest: {lowest_same[1]} / {lowest_same[2]})")
    print(f"different people: {min(different)[0]:.3f} .. {highest_diff[0]:.3f} (highest: {highest_diff[1]} / {highest_diff[2]})")
    print(f"gap midpoint: {(lowest_same[0] + highest_diff[0]) / 2:.3f}")
    false_reject = sum(s < threshold for s, *_ in same)
    false_accept = sum(s >= threshold for s, *_ in different)
    print(f"threshold in use {threshold}: {false_reject}/{len(same)} same pairs rejected, "
          f"{false_accept}/{len(different)} different pairs accepted")


if __name__ == "__main__":
    main()
