"""The network dlib_face_recognition_resnet_model_v1 is, and reading its weights.

How dlib writes a network: layers nest, outermost first, and every wrapper
writes its version number and then its subnetwork before its own fields. So
the file starts with the loss layer and a run of version numbers (one per
add_layer, tag and skip, from the output down to the input), then the input
layer, then each computational layer's fields from the input up to the
output. Tags and skips carry no fields of their own and the ids they refer to
are not written at all: the topology lives in the C++ type. We therefore
check the file against the network definition dlib uses for this model
(dnn_face_recognition_ex.cpp) layer by layer, and refuse anything else with
ModelIntegrityError.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lookalike.faces.backends.dlib.serialized import DlibReader

CHIP_SIZE = 150
DESCRIPTOR_DIM = 128


# The network in forward order (input first), as a list of ops. Tags, skips
# and add_prev carry the ids the C++ type gives them.


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


@dataclass
class Layer:
    op: tuple
    params: dict = field(default_factory=dict)


@dataclass
class Network:
    means: tuple[float, float, float]
    size: tuple[int, int]
    layers: list[Layer]


def parse_dlib_network(data: bytes, ops: list[tuple] = FACE_NET) -> Network:
    """Read a serialized dlib network laid out as `ops` (forward order)."""
    r = DlibReader(data)
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

    layers: list[Layer] = []
    for i, op in enumerate(ops):
        if op[0] in ("tag", "skip"):
            layers.append(Layer(op))
            continue
        params = _read_details(r, op)
        if not all(np.isfinite(v).all() for v in params.values() if isinstance(v, np.ndarray)):
            raise r.fail(f"non-finite weights in layer {op[0]}")
        layers.append(Layer(op, params))
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
    if not r.at_end:
        raise r.fail(f"{len(r.data) - r.pos} unexpected bytes after the network")
    return Network(means=means, size=size, layers=layers)


def _read_details(r: DlibReader, op: tuple) -> dict:
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
