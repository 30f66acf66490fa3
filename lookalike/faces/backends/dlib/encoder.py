"""dlib's face descriptor network run by onnxruntime, converted once per machine and cached."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from lookalike.faces.backends.dlib.network import CHIP_SIZE, DESCRIPTOR_DIM
from lookalike.faces.backends.dlib.to_onnx import CONVERTER_VERSION, MODEL_NAME, convert_dlib_resnet
from lookalike.fileio import atomic_write_bytes, sha256_file


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
        name = f"{MODEL_NAME}-{sha256_file(self.dat_path)[:16]}-c{CONVERTER_VERSION}.onnx"
        path = self.cache_dir / name
        if not path.is_file():
            self._convert_to(path)
        return path

    def _convert_to(self, path: Path) -> None:
        model = convert_dlib_resnet(self.dat_path)
        # Other processes may load the cache file at any moment, and a torn one
        # would cost them a conversion: written whole, and synced.
        atomic_write_bytes(path, model, fsync=True)
        self.converted = True

    @cached_property
    def _session(self):
        import onnxruntime as ort
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

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
        damaged = (ort_state.Fail, ort_state.InvalidGraph, ort_state.InvalidProtobuf, ort_state.RuntimeException)
        try:
            return load(str(path))
        except damaged:
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
