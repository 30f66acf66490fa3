"""dlib's face network as an ONNX graph (opset 13), built with onnx.helper.

The graph takes RGB uint8 chips, NHWC, exactly as ``dlib.get_face_chip``
returns them, and gives dlib's raw (unnormalised) 128-d descriptors.
``onnx`` is imported inside the builder: only a conversion needs it, loading
a cached conversion needs onnxruntime alone.
"""

from __future__ import annotations

import math
from itertools import count
from pathlib import Path

import numpy as np

from lookalike.errors import ModelIntegrityError
from lookalike.faces.backends.dlib.network import Network, parse_dlib_network

MODEL_NAME = "dlib_resnet_v1"
# Bump when the graph this module builds changes, so stale cached conversions
# are not reused. 2: built with onnx.helper (1 was a hand-written protobuf).
CONVERTER_VERSION = 2
OPSET = 13
IR_VERSION = 7  # what opset 13 came with; every onnxruntime we support reads it


def convert_dlib_resnet(dat_path: Path) -> bytes:
    """The ONNX model (serialized) equivalent to dlib's face descriptor network in `dat_path`."""
    try:
        data = Path(dat_path).read_bytes()
    except OSError as exc:
        raise ModelIntegrityError(f"Cannot read {dat_path}: {exc}") from exc
    return build_onnx(parse_dlib_network(data))


def build_onnx(net: Network) -> bytes:
    """The serialized ONNX model computing `net`'s raw descriptors from uint8 chips."""
    from onnx import TensorProto, helper

    graph = _GraphBuilder()
    nr, nc = net.size
    x = graph.node("Cast", ["chips"], "cast", to=TensorProto.FLOAT)
    x = graph.node("Sub", [x, graph.const("mean", np.array(net.means, dtype=np.float32))], "center")
    # dlib divides by 256.0; a power of two, so multiplying is exact.
    x = graph.node("Mul", [x, graph.const("scale", np.array(1 / 256, dtype=np.float32))], "scale")
    x = graph.node("Transpose", [x], "nchw", perm=[0, 3, 1, 2])
    x, width = _layers(graph, net, x, (3, nr, nc))
    graph.node("Identity", [x], "descriptors", output="descriptors")

    model = helper.make_model(
        helper.make_graph(
            graph.nodes,
            MODEL_NAME,
            [helper.make_tensor_value_info("chips", TensorProto.UINT8, ["N", nr, nc, 3])],
            [helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, ["N", width])],
            initializer=graph.initializers,
        ),
        producer_name="lookalike.faces.backends.dlib",
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
    )
    return model.SerializeToString()


class _GraphBuilder:
    """Nodes and initializers with fresh, readable names."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self._helper, self._numpy_helper = helper, numpy_helper
        self.nodes: list = []
        self.initializers: list = []
        self._ids = count()

    def _fresh(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids)}"

    def const(self, prefix: str, array: np.ndarray) -> str:
        name = self._fresh(prefix)
        self.initializers.append(self._numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], prefix: str, *, output: str | None = None, **attrs) -> str:
        out = output or self._fresh(prefix)
        self.nodes.append(self._helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


def _layers(graph: _GraphBuilder, net: Network, x: str, shape: tuple) -> tuple[str, int]:
    """Append every layer of `net` after `x` (shape: channels, rows, cols); the output and its width."""
    tags: dict[int, tuple[str, tuple]] = {}
    layers = net.layers
    i = 0
    while i < len(layers):
        layer = layers[i]
        kind = layer.op[0]
        p = layer.params
        if kind == "tag":
            tags[layer.op[1]] = (x, shape)
        elif kind == "skip":
            x, shape = tags[layer.op[1]]
        elif kind == "con":
            w = p["weight"].astype(np.float64)
            b = p["bias"].astype(np.float64)
            # Fold an affine_ that directly follows (batch norm frozen to
            # per-channel gamma/beta) into the convolution.
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            if nxt is not None and nxt.op[0] == "affine" and nxt.params["mode"] == 0:
                g = nxt.params["gamma"].reshape(-1).astype(np.float64)
                beta = nxt.params["beta"].reshape(-1).astype(np.float64)
                w = w * g[:, None, None, None]
                b = b * g + beta
                i += 1
            (sy, sx), (py, px) = p["stride"], p["pad"]
            kh, kw = w.shape[2:]
            x = graph.node(
                "Conv",
                [x, graph.const("w", w.astype(np.float32)), graph.const("b", b.astype(np.float32))],
                "conv",
                kernel_shape=[kh, kw],
                strides=[sy, sx],
                pads=[py, px, py, px],
            )
            shape = (w.shape[0], 1 + (shape[1] + 2 * py - kh) // sy, 1 + (shape[2] + 2 * px - kw) // sx)
        elif kind == "affine":
            g, beta = p["gamma"], p["beta"]
            if p["mode"] == 0:  # CONV_MODE: per channel
                g = g.reshape(1, -1, 1, 1)
                beta = beta.reshape(1, -1, 1, 1)
            else:  # FC_MODE: per element
                g = g.reshape(1, *g.shape[1:])
                beta = beta.reshape(1, *beta.shape[1:])
            x = graph.node("Mul", [x, graph.const("gamma", g.astype(np.float32))], "affine_mul")
            x = graph.node("Add", [x, graph.const("beta", beta.astype(np.float32))], "affine_add")
        elif kind == "relu":
            x = graph.node("Relu", [x], "relu")
        elif kind in ("max_pool", "avg_pool"):
            x, shape = _pool(graph, kind, p, x, shape)
        elif kind == "add_prev":
            other, other_shape = tags[layer.op[1]]
            # dlib adds tensors of different sizes as if the smaller were
            # zero-padded at the end of each dimension (channels, rows, cols).
            out_shape = tuple(max(a, b) for a, b in zip(shape, other_shape))
            x = _pad_to(graph, x, shape, out_shape)
            other = _pad_to(graph, other, other_shape, out_shape)
            x = graph.node("Add", [x, other], "add_prev")
            shape = out_shape
        elif kind == "fc_no_bias":
            w = p["weight"]
            if w.shape[0] != math.prod(shape):
                raise ModelIntegrityError(
                    f"dlib network fc layer expects {w.shape[0]} inputs but gets {math.prod(shape)}."
                )
            x = graph.node("Flatten", [x], "flatten", axis=1)
            x = graph.node("MatMul", [x, graph.const("fc", w.astype(np.float32))], "fc")
            shape = (w.shape[1],)
        else:  # pragma: no cover - parse_dlib_network only yields the kinds above
            raise ModelIntegrityError(f"dlib network has an unsupported layer '{kind}'.")
        i += 1
    return x, shape[0]


def _pool(graph: _GraphBuilder, kind: str, p: dict, x: str, shape: tuple) -> tuple[str, tuple]:
    (wy, wx), (sy, sx), (py, px) = p["window"], p["stride"], p["pad"]
    if wy == 0 and wx == 0 and py == 0 and px == 0:
        x = graph.node("GlobalMaxPool" if kind == "max_pool" else "GlobalAveragePool", [x], kind)
        return x, (shape[0], 1, 1)
    wy, wx = wy or shape[1], wx or shape[2]
    attrs = {"kernel_shape": [wy, wx], "strides": [sy, sx], "pads": [py, px, py, px]}
    if kind == "avg_pool":
        # dlib averages only the in-bounds part of a window.
        attrs["count_include_pad"] = 0
    x = graph.node("MaxPool" if kind == "max_pool" else "AveragePool", [x], kind, **attrs)
    return x, (shape[0], 1 + (shape[1] + 2 * py - wy) // sy, 1 + (shape[2] + 2 * px - wx) // sx)


def _pad_to(graph: _GraphBuilder, x: str, shape: tuple, target: tuple) -> str:
    if shape == target:
        return x
    extra = [t - s for s, t in zip(shape, target)]
    pads = np.array([0, 0, 0, 0, 0, *extra], dtype=np.int64)  # begins (N,C,H,W), then ends
    return graph.node("Pad", [x, graph.const("pads", pads)], "pad")  # mode defaults to constant zeros
