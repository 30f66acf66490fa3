"""dlib's ResNet face descriptor, converted to ONNX and run with onnxruntime.

`dlib-bin` is built without BLAS, so dlib's own forward pass spends about
100 ms on each 150x150 chip. This package reads dlib's serialized network
(``dlib_face_recognition_resnet_model_v1.dat``) itself, builds an ONNX graph
with the same weights and runs it with onnxruntime; the descriptors match
dlib's to within float rounding (see tests/faces/test_dlib_onnx.py).

One job per module: ``serialized`` reads dlib's format, ``network`` knows the
network and parses it, ``to_onnx`` builds the graph, ``encoder`` caches the
conversion and runs it.
"""

from lookalike.faces.backends.dlib.encoder import DlibResNetOnnx
from lookalike.faces.backends.dlib.network import CHIP_SIZE, DESCRIPTOR_DIM, FACE_NET, parse_dlib_network
from lookalike.faces.backends.dlib.to_onnx import CONVERTER_VERSION, MODEL_NAME, build_onnx, convert_dlib_resnet

__all__ = [
    "CHIP_SIZE",
    "CONVERTER_VERSION",
    "DESCRIPTOR_DIM",
    "FACE_NET",
    "MODEL_NAME",
    "DlibResNetOnnx",
    "build_onnx",
    "convert_dlib_resnet",
    "parse_dlib_network",
]
