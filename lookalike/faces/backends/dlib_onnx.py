"""dlib's ResNet face descriptor, converted to ONNX and run with onnxruntime.

`dlib-bin` is built without BLAS, so dlib's own forward pass spends about
100 ms on each 150x150 chip. This module reads dlib's serialized network
(``dlib_face_recognition_resnet_model_v1.dat``) itself, builds an ONNX graph
with the same weights and runs it with onnxruntime; the descriptors match
dlib's to within float rounding (see tests/faces/test_dlib_onnx.py).

How dlib writes a network (dlib/serialize.h, dlib/dnn/core.h, layers.h):

- An integer is a control byte (low 4 bits: byte count, bit 0x80: negative)
  followed by that many little-endian bytes. A string is its length as such
  an integer, then its bytes. A bool is the character '0' or '1'.
- A float (outside tensors) is an integer mantissa and an integer exponent,
  value = mantissa * 2**exponent; exponents 32000/32001/32002 mean +inf,
  -inf and NaN.
- A tensor (version 2) is its four dimensions as integers and then raw
  little-endian float32 data; version 1 wrote each value as a float as above.
- Layers nest, outermost first: every wrapper writes its version number and
  then its subnetwork before its own fields. So the file starts with the loss
  layer and a run of version numbers (one per add_layer, tag and skip, from
  the output down to the input), then the input layer, then each computational
  layer's fields from the input up to the output. Tags and skips carry no
  fields of their own and the ids they refer to are not written at all: the
  topology lives in the C++ type. We therefore check the file against the
  network definition dlib uses for this model (dnn_face_recognition_ex.cpp)
  layer by layer, and refuse anything else with ModelIntegrityError.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from lookalike.errors import ModelIntegrityError

MODEL_NAME = "dlib_resnet_v1"
# Bump when the graph this module builds changes, so stale cached conversions
# are not reused.
CONVERTER_VERSION = 1
CHIP_SIZE = 150
DESCRIPTOR_DIM = 128

_IS_INF, _IS_NINF, _IS_NAN = 32000, 32001, 32002


# --------------------------------------------------------------------------
# The network definition of dlib_face_recognition_resnet_model_v1, in forward
# order (input first), as a list of ops. Tags, skips and add_prev carry the
# ids the C++ type gives them.


def _block(n: int, stride: int) -> list[tuple]:
    return [("con", n, 3, 3, stride, stride), ("affine",), ("relu",), ("con", n, 3, 3, 1, 1), ("affine",)]


def _ares(n: int) -> list[tuple]:
    # relu<add_prev1<block<N,affine,1,tag1<SUBNET>>>>
    return [("tag", 1), *_block(n, 1), ("add_prev", 1), ("relu",)]


def _ares_down(n: int) -> list[tuple]:
    # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,affine,2,tag1<SUBNET>>>>>>>
    return [
        ("tag", 1),
        *_block(n, 2),
        ("tag", 2),
        ("skip", 1),
        ("avg_pool", 2, 2, 2, 2),
        ("add_prev", 2),
        ("relu",),
    ]


def _face_net() -> list[tuple]:
    ops: list[tuple] = [("con", 32, 7, 7, 2, 2), ("affine",), ("relu",), ("max_pool", 3, 3, 2, 2)]
    ops += _ares(32) * 3  # alevel4
    ops += _ares_down(64) + _ares(64) * 3  # alevel3
    ops += _ares_down(128) + _ares(128) * 2  # alevel2
    ops += _ares_down(256) + _ares(256) * 2  # alevel1
    ops += _ares_down(256)  # alevel0
    ops += [("avg_pool", 0, 0, 1, 1), ("fc_no_bias", DESCRIPTOR_DIM)]
    return ops


FACE_NET = _face_net()


# --------------------------------------------------------------------------
# Reading dlib's serialization format.


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def fail(self, what: str) -> ModelIntegrityError:
        return ModelIntegrityError(
            f"Cannot read dlib's face descriptor network: {what} (at byte {self.pos}).",
            hint="The file dlib_face_recognition_resnet_model_v1.dat is damaged or not the "
            "network this converter knows; reinstall face-recognition-models.",
        )

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"the file ends early (wanted {n} more bytes)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def int(self) -> int:
        ctrl = self.take(1)[0]
        if ctrl & 0x70:
            raise self.fail(f"bad integer control byte 0x{ctrl:02x}")
        size = ctrl & 0x0F
        if size > 8:
            raise self.fail(f"integer of {size} bytes")
        value = int.from_bytes(self.take(size), "little") if size else 0
        return -value if ctrl & 0x80 else value

    def string(self, limit: int = 256) -> str:
        size = self.int()
        if not 0 <= size <= limit:
            raise self.fail(f"implausible string length {size}")
        raw = bytes(self.take(size))
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.fail("a layer name that is not text") from None

    def bool(self) -> bool:
        ch = self.take(1)[0]
        if ch not in (0x30, 0x31):
            raise self.fail(f"bad bool byte 0x{ch:02x}")
        return ch == 0x31

    def float(self) -> float:
        if self.pos < len(self.data) and self.data[self.pos] & 0x70:
            raise self.fail("an old text-format float")
        mantissa = self.int()
        exponent = self.int()
        if exponent == _IS_INF:
            return math.inf
        if exponent == _IS_NINF:
            return -math.inf
        if exponent == _IS_NAN:
            return math.nan
        return math.ldexp(float(mantissa), exponent)

    def tensor(self) -> np.ndarray:
        version = self.int()
        if version not in (1, 2):
            raise self.fail(f"tensor version {version}")
        shape = tuple(self.int() for _ in range(4))
        if any(d < 0 for d in shape):
            raise self.fail(f"negative tensor shape {shape}")
        count = math.prod(shape)
        if version == 2:
            raw = self.take(4 * count)
            values = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        else:
            values = np.array([self.float() for _ in range(count)], dtype=np.float32)
        return values.reshape(shape)

    def alias_tensor(self) -> tuple[int, int, int, int]:
        version = self.int()
        if version != 1:
            raise self.fail(f"alias_tensor version {version}")
        return tuple(self.int() for _ in range(4))

    def expect_version(self, allowed: tuple[int, ...], what: str) -> int:
        version = self.int()
        if version not in allowed:
            raise self.fail(f"{what} has version {version}, expected one of {allowed}")
        return version


@dataclass
class _Layer:
    op: tuple
    params: dict = field(default_factory=dict)


@dataclass
class _Network:
    means: tuple[float, float, float]
    size: tuple[int, int]
    layers: list[_Layer]


def parse_dlib_network(data: bytes, ops: list[tuple] = FACE_NET) -> _Network:
    """Read a serialized dlib network laid out as `ops` (forward order)."""
    r = _Reader(data)
    r.expect_version((1,), "the loss layer")
    loss = r.string()
    if loss != "loss_metric_2":
        raise r.fail(f"loss layer '{loss}', expected loss_metric_2")
    r.float()  # margin
    r.float()  # distance threshold

    # Wrapper versions, from the output down to the input.
    first = next(i for i, op in enumerate(ops) if op[0] not in ("tag", "skip"))
    versions: dict[int, int] = {}
    for i in reversed(range(len(ops))):
        kind = ops[i][0]
        if kind in ("tag", "skip"):
            r.expect_version((1,), f"{kind}{ops[i][1]}")
        elif i == first:
            # add_layer directly on the input layer: version 3 added a field.
            versions[i] = r.expect_version((2, 3), "the first layer")
        else:
            # Version 2 added params_grad to add_layer.
            versions[i] = r.expect_version((1, 2), f"layer {kind}")

    name = r.string()
    if name != "input_rgb_image_sized":
        raise r.fail(f"input layer '{name}', expected input_rgb_image_sized")
    means = (r.float(), r.float(), r.float())
    size = (r.int(), r.int())
    if size != (CHIP_SIZE, CHIP_SIZE):
        raise r.fail(f"input size {size}, expected {CHIP_SIZE}x{CHIP_SIZE}")

    layers: list[_Layer] = []
    for i, op in enumerate(ops):
        if op[0] in ("tag", "skip"):
            layers.append(_Layer(op))
            continue
        params = _read_details(r, op)
        if not all(np.isfinite(v).all() for v in params.values() if isinstance(v, np.ndarray)):
            raise r.fail(f"non-finite weights in layer {op[0]}")
        layers.append(_Layer(op, params))
        # add_layer's own state: three bools and scratch tensors we ignore.
        r.bool(), r.bool(), r.bool()
        r.tensor()  # x_grad
        r.tensor()  # cached_output
        if i == first:
            r.tensor()  # grad_final
            if versions[i] >= 3:
                r.int()  # sample expansion factor
        elif versions[i] >= 2:
            r.tensor()  # params_grad
    if r.pos != len(r.data):
        raise r.fail(f"{len(r.data) - r.pos} unexpected bytes after the network")
    return _Network(means=means, size=size, layers=layers)


def _read_details(r: _Reader, op: tuple) -> dict:
    kind = op[0]
    name = r.string()
    if kind == "con":
        if name != "con_4":
            raise r.fail(f"layer '{name}' where con_4 was expected")
        params = r.tensor()
        num_filters, nr, nc, stride_y, stride_x = (r.int() for _ in range(5))
        pad_y, pad_x = r.int(), r.int()
        filters = r.alias_tensor()
        biases = r.alias_tensor()
        for _ in range(4):
            r.float()  # learning rate / weight decay multipliers
        want = op[1:]
        if (num_filters, nr, nc, stride_y, stride_x) != want:
            raise r.fail(f"con{(num_filters, nr, nc, stride_y, stride_x)} where con{want} was expected")
        if filters[0] != num_filters or filters[2:] != (nr, nc) or biases[1] != num_filters:
            raise r.fail("con filter shapes disagree")
        n_w = math.prod(filters)
        flat = params.reshape(-1)
        if flat.size != n_w + num_filters:
            raise r.fail("con parameter count disagrees with its filters")
        return {
            "weight": flat[:n_w].reshape(filters),
            "bias": flat[n_w:].copy(),
            "stride": (stride_y, stride_x),
            "pad": (pad_y, pad_x),
        }
    if kind == "affine":
        if name != "affine_":
            raise r.fail(f"layer '{name}' where affine_ was expected")
        params = r.tensor().reshape(-1)
        gamma = r.alias_tensor()
        beta = r.alias_tensor()
        mode = r.int()
        n = math.prod(gamma)
        if gamma != beta or params.size != 2 * n:
            raise r.fail("affine parameter shapes disagree")
        return {"gamma": params[:n].reshape(gamma), "beta": params[n:].reshape(beta), "mode": mode}
    if kind == "relu":
        if name != "relu_":
            raise r.fail(f"layer '{name}' where relu_ was expected")
        return {}
    if kind in ("max_pool", "avg_pool"):
        want_name = f"{kind}_2"
        if name != want_name:
            raise r.fail(f"layer '{name}' where {want_name} was expected")
        nr, nc, stride_y, stride_x = (r.int() for _ in range(4))
        pad_y, pad_x = r.int(), r.int()
        if (nr, nc, stride_y, stride_x) != op[1:]:
            raise r.fail(f"{kind}{(nr, nc, stride_y, stride_x)} where {kind}{op[1:]} was expected")
        return {"window": (nr, nc), "stride": (stride_y, stride_x), "pad": (pad_y, pad_x)}
    if kind == "add_prev":
        if name != "add_prev_":
            raise r.fail(f"layer '{name}' where add_prev_ was expected")
        return {}
    if kind == "fc_no_bias":
        if name != "fc_2":
            raise r.fail(f"layer '{name}' where fc_2 was expected")
        num_outputs, num_inputs = r.int(), r.int()
        params = r.tensor().reshape(-1)
        weights = r.alias_tensor()
        r.alias_tensor()  # biases (unused without bias)
        bias_mode = r.int()
        for _ in range(4):
            r.float()
        if num_outputs != op[1] or bias_mode != 1:
            raise r.fail(f"fc layer with {num_outputs} outputs and bias mode {bias_mode}")
        if weights[:2] != (num_inputs, num_outputs) or params.size != num_inputs * num_outputs:
            raise r.fail("fc parameter shapes disagree")
        return {"weight": params.reshape(num_inputs, num_outputs)}
    raise r.fail(f"unsupported layer kind {kind}")


# --------------------------------------------------------------------------
# Building the ONNX graph.


def build_onnx(net: _Network) -> bytes:
    """The serialized ONNX model (opset 13) computing `net`'s raw descriptors from uint8 chips."""
    nodes: list[bytes] = []
    inits: list[bytes] = []
    counter = iter(range(1_000_000))

    def fresh(prefix: str) -> str:
        return f"{prefix}_{next(counter)}"

    def const(prefix: str, array: np.ndarray) -> str:
        name = fresh(prefix)
        inits.append(_pb_tensor(name, array))
        return name

    def node(op: str, inputs: list[str], prefix: str, **attrs) -> str:
        out = fresh(prefix)
        nodes.append(_pb_node(op, inputs, out, attrs))
        return out

    nr, nc = net.size
    # Input: RGB uint8 chips, NHWC, exactly as dlib.get_face_chip returns them.
    x = node("Cast", ["chips"], "cast", to=_FLOAT)
    x = node("Sub", [x, const("mean", np.array(net.means, dtype=np.float32))], "center")
    # dlib divides by 256.0; a power of two, so multiplying is exact.
    x = node("Mul", [x, const("scale", np.array(1 / 256, dtype=np.float32))], "scale")
    x = node("Transpose", [x], "nchw", perm=[0, 3, 1, 2])
    shape = (3, nr, nc)  # (channels, rows, cols), batch is dynamic

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
            x = node(
                "Conv",
                [x, const("w", w.astype(np.float32)), const("b", b.astype(np.float32))],
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
            x = node("Mul", [x, const("gamma", g.astype(np.float32))], "affine_mul")
            x = node("Add", [x, const("beta", beta.astype(np.float32))], "affine_add")
        elif kind == "relu":
            x = node("Relu", [x], "relu")
        elif kind in ("max_pool", "avg_pool"):
            (wy, wx), (sy, sx), (py, px) = p["window"], p["stride"], p["pad"]
            if wy == 0 and wx == 0 and py == 0 and px == 0:
                x = node("GlobalMaxPool" if kind == "max_pool" else "GlobalAveragePool", [x], kind)
                shape = (shape[0], 1, 1)
            else:
                wy, wx = wy or shape[1], wx or shape[2]
                attrs = dict(kernel_shape=[wy, wx], strides=[sy, sx], pads=[py, px, py, px])
                if kind == "avg_pool":
                    # dlib averages only the in-bounds part of a window.
                    attrs["count_include_pad"] = 0
                x = node("MaxPool" if kind == "max_pool" else "AveragePool", [x], kind, **attrs)
                shape = (shape[0], 1 + (shape[1] + 2 * py - wy) // sy, 1 + (shape[2] + 2 * px - wx) // sx)
        elif kind == "add_prev":
            other, other_shape = tags[layer.op[1]]
            # dlib adds tensors of different sizes as if the smaller were
            # zero-padded at the end of each dimension (channels, rows, cols).
            out_shape = tuple(max(a, b) for a, b in zip(shape, other_shape))
            x = _pad_to(x, shape, out_shape, node, const)
            other = _pad_to(other, other_shape, out_shape, node, const)
            x = node("Add", [x, other], "add_prev")
            shape = out_shape
        elif kind == "fc_no_bias":
            w = p["weight"]
            if w.shape[0] != math.prod(shape):
                raise ModelIntegrityError(
                    f"dlib network fc layer expects {w.shape[0]} inputs but gets {math.prod(shape)}."
                )
            x = node("Flatten", [x], "flatten", axis=1)
            x = node("MatMul", [x, const("fc", w.astype(np.float32))], "fc")
            shape = (w.shape[1],)
        else:  # pragma: no cover - parse_dlib_network only yields the kinds above
            raise ModelIntegrityError(f"dlib network has an unsupported layer '{kind}'.")
        i += 1

    nodes.append(_pb_node("Identity", [x], "descriptors", {}))
    graph = b"".join(
        [
            *(_pb_bytes(1, n) for n in nodes),
            _pb_bytes(2, MODEL_NAME.encode()),
            *(_pb_bytes(5, t) for t in inits),
            _pb_bytes(11, _pb_value_info("chips", _UINT8, ["N", nr, nc, 3])),
            _pb_bytes(12, _pb_value_info("descriptors", _FLOAT, ["N", shape[0]])),
        ]
    )
    opset = _pb_bytes(1, b"") + _pb_int(2, 13)
    return b"".join(
        [
            _pb_int(1, 7),  # ir_version
            _pb_bytes(2, b"lookalike.dlib_onnx"),  # producer_name
            _pb_bytes(7, graph),
            _pb_bytes(8, opset),
        ]
    )


# A minimal protobuf writer for the few ONNX messages we need (field numbers
# from onnx/onnx.proto), so that converting needs only onnxruntime at run time,
# not the `onnx` package.
_FLOAT, _UINT8, _INT64 = 1, 2, 7  # TensorProto.DataType
_ATTR_INT, _ATTR_INTS = 2, 7  # AttributeProto.AttributeType
_ONNX_DTYPES = {np.dtype(np.float32): _FLOAT, np.dtype(np.uint8): _UINT8, np.dtype(np.int64): _INT64}


def _pb_varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64s as two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _pb_int(field_number: int, value: int) -> bytes:
    return _pb_varint(field_number << 3) + _pb_varint(value)


def _pb_bytes(field_number: int, payload: bytes) -> bytes:
    return _pb_varint(field_number << 3 | 2) + _pb_varint(len(payload)) + payload


def _pb_tensor(name: str, array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array)
    dtype = _ONNX_DTYPES[array.dtype]
    return b"".join(
        [
            *(_pb_int(1, d) for d in array.shape),  # dims
            _pb_int(2, dtype),  # data_type
            _pb_bytes(8, name.encode()),  # name
            _pb_bytes(9, array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()),  # raw_data
        ]
    )


def _pb_node(op: str, inputs: list[str], output: str, attrs: dict) -> bytes:
    parts = [_pb_bytes(1, i.encode()) for i in inputs]
    parts += [_pb_bytes(2, output.encode()), _pb_bytes(3, output.encode()), _pb_bytes(4, op.encode())]
    for key, value in attrs.items():
        if isinstance(value, (list, tuple)):
            attr = _pb_bytes(1, key.encode()) + b"".join(_pb_int(8, int(v)) for v in value) + _pb_int(20, _ATTR_INTS)
        else:
            attr = _pb_bytes(1, key.encode()) + _pb_int(3, int(value)) + _pb_int(20, _ATTR_INT)
        parts.append(_pb_bytes(5, attr))
    return b"".join(parts)


def _pb_value_info(name: str, elem_type: int, dims: list) -> bytes:
    shape = b"".join(
        _pb_bytes(1, _pb_bytes(2, d.encode()) if isinstance(d, str) else _pb_int(1, d)) for d in dims
    )
    tensor_type = _pb_int(1, elem_type) + _pb_bytes(2, shape)
    return _pb_bytes(1, name.encode()) + _pb_bytes(2, _pb_bytes(1, tensor_type))


def _pad_to(x: str, shape: tuple, target: tuple, node, const) -> str:
    if shape == target:
        return x
    extra = [t - s for s, t in zip(shape, target)]
    pads = np.array([0, 0, 0, 0, 0, *extra], dtype=np.int64)  # begins (N,C,H,W), then ends
    return node("Pad", [x, const("pads", pads)], "pad")  # mode defaults to constant zeros


def convert_dlib_resnet(dat_path: Path) -> bytes:
    """The ONNX model (serialized) equivalent to dlib's face descriptor network in `dat_path`."""
    try:
        data = Path(dat_path).read_bytes()
    except OSError as exc:
        raise ModelIntegrityError(f"Cannot read {dat_path}: {exc}") from exc
    return build_onnx(parse_dlib_network(data))


# --------------------------------------------------------------------------


def _sha256_16(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


class DlibResNetOnnx:
    """dlib's face descriptor network through onnxruntime; same raw (unnormalised) output as dlib.

    The converted model is cached as
    ``<cache_dir>/dlib_resnet_v1-<sha256 of the .dat, 16 hex>-c<converter version>.onnx``
    so the conversion (about a second) happens once per machine.
    """

    def __init__(self, dat_path: Path, cache_dir: Path) -> None:
        self.dat_path = Path(dat_path)
        self.cache_dir = Path(cache_dir)
        self.converted = False  # whether this instance had to run the converter

    @cached_property
    def model_path(self) -> Path:
        name = f"{MODEL_NAME}-{_sha256_16(self.dat_path)}-c{CONVERTER_VERSION}.onnx"
        path = self.cache_dir / name
        if not path.is_file():
            self._convert_to(path)
        return path

    def _convert_to(self, path: Path) -> None:
        model = convert_dlib_resnet(self.dat_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(model)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.converted = True

    @cached_property
    def _session(self):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3

        def load(model):
            return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])

        try:
            path = self.model_path
        except OSError:
            # The cache directory is not writable: convert in memory (each process).
            self.converted = True
            return load(convert_dlib_resnet(self.dat_path))
        try:
            return load(str(path))
        except Exception:
            # A damaged cache file: convert again, once.
            path.unlink(missing_ok=True)
            self._convert_to(path)
            return load(str(path))

    def warmup(self) -> None:
        self.describe([np.zeros((CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)])

    def describe(self, chips: list[np.ndarray]) -> np.ndarray:
        """Raw 128-d descriptors, (N, 128) float32, for RGB uint8 150x150 face chips."""
        if len(chips) == 0:
            return np.zeros((0, DESCRIPTOR_DIM), dtype=np.float32)
        batch = np.stack([np.asarray(c) for c in chips])
        if batch.dtype != np.uint8 or batch.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(f"face chips must be uint8 arrays of shape (150, 150, 3), got {batch.dtype} {batch.shape[1:]}")
        (out,) = self._session.run(None, {"chips": np.ascontiguousarray(batch)})
        return out.astype(np.float32, copy=False)
