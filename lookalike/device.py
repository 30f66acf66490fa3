"""Which device and dtype to run on: CUDA in fp16 where there is one, else the CPU in fp32."""

from __future__ import annotations

from lookalike.errors import InvalidFieldError

_DTYPES = {"float16": "float16", "fp16": "float16", "half": "float16", "bfloat16": "bfloat16",
           "bf16": "bfloat16", "float32": "float32", "fp32": "float32", "float": "float32"}


def resolve_device(device: str | None = None, dtype: str | None = None):
    """(torch.device, torch.dtype) from the settings' strings; None means "pick"."""
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch_device = torch.device(device)
    except RuntimeError as exc:
        raise InvalidFieldError(f"Unknown device {device!r}: {exc}", field="device") from exc
    if torch_device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidFieldError(
            f"Device {device!r} was asked for but CUDA is not available here.",
            field="device",
            hint="Unset LOOKALIKE_DEVICE to run on the CPU.",
        )
    if dtype is None:
        # fp16 on the CPU is slow and some ops lack kernels; fp32 there.
        name = "float16" if torch_device.type == "cuda" else "float32"
    else:
        name = _DTYPES.get(dtype.lower())
        if name is None:
            raise InvalidFieldError(
                f"Unknown dtype {dtype!r}; use float16, bfloat16 or float32.", field="dtype"
            )
    return torch_device, getattr(torch, name)
