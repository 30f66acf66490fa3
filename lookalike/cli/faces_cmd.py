"""`lookalike faces ...`: look at faces in photos without making a tune."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lookalike.cli.common import read_file
from lookalike.cli.output import print_json, reporting_errors, stdout

faces_app = typer.Typer(help="Detect and compare faces in photos.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _analyzer_and_limits():
    from lookalike.config import get_settings
    from lookalike.faces.backends.registry import cached_analyzer

    settings = get_settings()
    return cached_analyzer(settings), settings


def _decode(path: Path, index: int, settings):
    from lookalike.faces.decode import decode_image

    return decode_image(
        read_file(path, image_index=index),
        max_pixels=settings.max_image_pixels,
        max_bytes=settings.max_upload_bytes,
        image_index=index,
    )


@faces_app.command("detect")
def detect(photo: Path, as_json: JsonFlag = False) -> None:
    """Find the faces in PHOTO, with landmarks and a quality verdict for each."""
    with reporting_errors(as_json):
        analyzer, settings = _analyzer_and_limits()
        image = _decode(photo, 0, settings)
        faces = [analyzer.prepare(image, d) for d in analyzer.detect(image)]
        result = {
            "path": str(photo),
            "width": int(image.shape[1]),
            "height": int(image.shape[0]),
            "detector": analyzer.detector.name,
            "faces": [
                {
                    "box": f.detection.box_dict(),
                    "score": round(f.detection.score, 4),
                    "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in f.detection.landmarks],
                    "quality": f.quality.to_dict(),
                }
                for f in faces
            ],
        }
    if as_json:
        print_json(result)
        return
    stdout.print(f"{photo}: {len(faces)} face(s) in a {result['width']}x{result['height']} image")
    for i, face in enumerate(result["faces"]):
        q = face["quality"]
        verdict = "ok" if q["ok"] else ", ".join(q["problems"])
        stdout.print(f"  face {i}: box {face['box']} score {face['score']} size {q['size_px']}px "
                     f"sharpness {q['sharpness']} yaw {q['yaw']} -> {verdict}", highlight=False)


@faces_app.command("compare")
def compare(photo_a: Path, photo_b: Path, as_json: JsonFlag = False) -> None:
    """Say whether the main faces of two photos are the same person."""
    from lookalike.errors import NoFaceError
    from lookalike.faces.compare import compare as compare_vectors

    with reporting_errors(as_json):
        analyzer, settings = _analyzer_and_limits()
        vectors = []
        for index, path in enumerate((photo_a, photo_b)):
            image = _decode(path, index, settings)
            detections = analyzer.detect(image)
            if not detections:
                raise NoFaceError(f"{path} has no human face we can find.", image_index=index)
            face = analyzer.prepare(image, max(detections, key=lambda d: d.size))
            analyzer.embed(image, [face])
            vectors.append(face.embeddings[analyzer.encoder.name])
        result = compare_vectors(vectors[0], vectors[1], analyzer.encoder.name).to_dict()
    if as_json:
        print_json(result)
        return
    verdict = "same person" if result["same_person"] else "different people"
    stdout.print(f"{verdict}: similarity {result['similarity']} (threshold {result['threshold']}, {result['encoder']})")
