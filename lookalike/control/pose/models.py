"""MediaPipe's pose models as a pack, and finding them: pulled, or inside the installed wheel.

The two ``.tflite`` files (Apache-2.0) ship in the PyPI wheel of
``mediapipe==0.10.14``; its Python code is never imported (it needs
opencv-contrib-python, a second cv2, and more). ``make install`` installs the
wheel with ``--no-deps`` so the files are present; on a machine without it,
``lookalike models pull mediapipe_pose`` takes them out of the same wheel
(the URL is the one PyPI's index gives for it), checking each file's sha256,
computed here from that wheel.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from lookalike.catalog.files import ModelPack, RemoteFile, verify
from lookalike.errors import ModelUnavailableError

_WHEEL = (
    "https://files.pythonhosted.org/packages/2f/ee/2e9e730dc4d98c8a9541b57bad173bebddf0e4c78f179acc100248c58066/"
    "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
)
DETECTOR_MEMBER = "mediapipe/modules/pose_detection/pose_detection.tflite"
LANDMARK_MEMBER = "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"

MEDIAPIPE_POSE = ModelPack(
    id="mediapipe_pose",
    title="MediaPipe pose (BlazePose detector + pose_landmark_full, 33 points) from PyPI mediapipe 0.10.14",
    license="Apache-2.0",
    files=(
        RemoteFile(
            url=_WHEEL,
            path="control/pose_detection.tflite",
            sha256="9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
            archive_member=DETECTOR_MEMBER,
        ),
        RemoteFile(
            url=_WHEEL,
            path="control/pose_landmark_full.tflite",
            sha256="e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
            archive_member=LANDMARK_MEMBER,
        ),
    ),
)


def control_packs() -> tuple[ModelPack, ...]:
    """The packs the control-image makers may need, for `lookalike models list/pull`."""
    return (MEDIAPIPE_POSE,)


def find_pose_models(models_dir: Path | None, *, check: bool = True) -> tuple[Path, Path]:
    """(detector, landmark model): pulled into ``models_dir``, else the installed wheel's.

    ``check``: compare each file with its digest (at load; the POST-time
    check only looks for the files).
    """
    found = []
    package = _installed_package_dir()
    for remote in MEDIAPIPE_POSE.files:
        pulled = Path(models_dir) / remote.path if models_dir is not None else None
        if pulled is not None and pulled.is_file():
            path = pulled
        elif package is not None and (package.parent / remote.archive_member).is_file():
            path = package.parent / remote.archive_member
        else:
            raise ModelUnavailableError(
                "controlnet=pose needs MediaPipe's pose models (pose_detection.tflite, pose_landmark_full.tflite), "
                "and they are not here.",
                hint=f"Run `{MEDIAPIPE_POSE.pull_command}`, or `pip install --no-deps mediapipe==0.10.14` "
                "(--no-deps: only its model files are read).",
                details={"model": MEDIAPIPE_POSE.id},
            )
        if check:
            verify(path, remote.sha256)  # another mediapipe version's file is a different model: say so
        found.append(path)
    return found[0], found[1]


def check_pose_runtime(models_dir: Path | None) -> None:
    """Raise what would stop pose estimation (the files, LiteRT), without loading anything."""
    find_pose_models(models_dir, check=False)
    if importlib.util.find_spec("ai_edge_litert") is None:
        raise ModelUnavailableError(
            "controlnet=pose runs MediaPipe's pose models with LiteRT, which is not installed.",
            hint="Run `pip install ai-edge-litert`.",
        )


def _installed_package_dir() -> Path | None:
    # The folder only: importing mediapipe would pull in its own dependencies.
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))
