"""Device choice and model caching shared by the torch-based steps."""

from __future__ import annotations

from collections.abc import Callable
from threading import Lock
from typing import Any

from lookalike.config import Settings

_cache: dict[tuple, Any] = {}
_cache_lock = Lock()
# A restorer (~330 MB) and an upscaler (~67 MB) for one device: enough for
# every step at once without letting a changing device fill memory.
_MAX_ENTRIES = 4


def device_and_dtype(settings: Settings, *, allow_half: bool = True):
    """The generator's device, and its dtype unless the network has no half kernels to trust."""
    import torch

    from lookalike.device import resolve_device

    device, dtype = resolve_device(settings.device, settings.dtype)
    if not allow_half or device.type == "cpu":
        dtype = torch.float32
    return device, dtype


def cached(key: tuple, build: Callable[[], Any]) -> Any:
    """One loaded network per key for the process: a worker runs many jobs with the same steps."""
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    value = build()
    with _cache_lock:
        if len(_cache) >= _MAX_ENTRIES:
            _cache.pop(next(iter(_cache)))
        _cache[key] = value
    return value


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
