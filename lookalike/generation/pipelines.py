"""Load a base model with its FaceID adapter into a diffusers pipeline, and keep it.

One loading path serves every model: the files are located (or the tiny
model written) under the models directory, each component is read from its
diffusers folder, and the adapter is loaded with ``load_ip_adapter`` (its
LoRA goes in through PEFT). Loaded pipelines are cached by (base model,
device, dtype); a new tune, weight or scheduler reuses the cached one.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lookalike.catalog.base_models import BaseModelSpec, SchedulerLora
from lookalike.catalog.files import ModelPack, locate
from lookalike.errors import ModelUnavailableError, UnsupportedBaseModelError
from lookalike.generation.schedulers import make_scheduler

FACEID_ADAPTER_NAME = "faceid_0"  # the name diffusers gives the first FaceID LoRA


@dataclass(frozen=True)
class ModelPaths:
    base: Path  # a diffusers folder, or a single .safetensors checkpoint
    adapter_dir: Path
    adapter_weight: str
    vae: Path | None = None
    single_file: bool = False


def model_paths(spec: BaseModelSpec, models_dir: Path) -> ModelPaths:
    """Where the spec's files are; raises ``ModelUnavailableError`` naming the pull command."""
    models_dir = Path(models_dir)
    if not spec.engine_supported:
        raise UnsupportedBaseModelError(
            f"Base model '{spec.id}' ({spec.name}) is catalogued but the engine cannot run it yet.",
            field="base_tune_id",
        )
    source = spec.source
    if source.kind == "builtin":
        from lookalike.catalog.tiny import ensure_tiny_model

        base = ensure_tiny_model(models_dir)
    else:
        locate(spec.pack, models_dir)
        if source.kind == "hub":
            base = models_dir / source.local_dir
        else:
            base = _user_path(spec, models_dir)
    return ModelPaths(
        base=base,
        adapter_dir=models_dir / spec.adapter.source.local_dir,
        adapter_weight=spec.adapter.weight_name,
        vae=models_dir / spec.vae.local_dir if spec.vae is not None else None,
        single_file=source.kind == "single_file",
    )


def _user_path(spec: BaseModelSpec, models_dir: Path) -> Path:
    path = Path(spec.source.path or "").expanduser()
    if not path.is_absolute():
        path = models_dir / path
    ok = path.is_file() if spec.source.kind == "single_file" else (path / "unet" / "config.json").is_file()
    if not ok:
        raise ModelUnavailableError(
            f"Base model '{spec.id}' points at {path}, which is not a "
            + ("checkpoint file." if spec.source.kind == "single_file" else "diffusers model folder."),
            hint="Fix the path in the model's entry, or copy the model there.",
            details={"model": spec.id, "missing": str(path)},
        )
    return path


def scheduler_lora_path(lora: SchedulerLora, models_dir: Path) -> Path:
    pack: ModelPack = lora.pack
    locate(pack, models_dir)
    return Path(models_dir) / lora.path


@dataclass
class LoadedPipeline:
    """A pipeline plus what the engine needs to drive it; used under ``lock`` only."""

    spec: BaseModelSpec
    device: Any
    dtype: Any
    pipe: Any
    scheduler_config: dict[str, Any]
    embedding_dim: int
    compel: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    loaded_loras: set[str] = field(default_factory=set)
    active_loras: tuple[tuple[str, float], ...] | None = None  # None: unknown, set on first use
    # The fast path's state (generation/fast.py): what each switch did, and
    # the weight rewriters that must follow every LoRA change.
    fast: dict[str, str] | None = None  # None: the fast path was not considered yet
    folder: Any = None  # fusion.LoraFolder while LoRAs are folded into the weights
    fuser: Any = None  # fusion.QkvFuser while self-attention q/k/v are fused
    preview_vae: Any = None  # the tiny VAE, loaded on first use
    ip_scaler: Any = None  # ip_scale.IpScaler while the adapter's scale lives in tensors

    def ensure_scheduler_lora(self, lora: SchedulerLora, models_dir: Path) -> str:
        name = f"sched_{lora.scheduler}"
        if name not in self.loaded_loras:
            path = scheduler_lora_path(lora, models_dir)
            self.pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=name)
            self.loaded_loras.add(name)
        return name

    def set_loras(self, wanted: tuple[tuple[str, float], ...]) -> None:
        """Activate exactly these (adapter name, weight) pairs; none at all disables LoRA layers.

        Disabled LoRA layers run only their base layer, so "no adapter" gives
        the same pixels as a pipeline that never loaded one.
        """
        if wanted == self.active_loras:
            return
        if self.folder is not None:
            self.folder.restore()
        if not wanted:
            self.pipe.disable_lora()
        else:
            self.pipe.enable_lora()
            self.pipe.set_adapters([n for n, _ in wanted], adapter_weights=[w for _, w in wanted])
        if self.folder is not None and wanted:
            self.folder.fold()
            # The deltas are in the weights now; PEFT must not add them again.
            self.pipe.disable_lora()
        if self.fuser is not None:
            self.fuser.refresh()
        self.active_loras = wanted


def _quiet_libraries() -> None:
    """Keep the libraries' progress bars and advice out of our CLI output and logs.

    Their warnings are about options we set on purpose (no image encoder,
    no safety checker) and their bars would garble `--json` on a terminal.
    """
    import os

    # Read by transformers when first imported; some of its notices come then.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def load_pipeline(spec: BaseModelSpec, models_dir: Path, device, dtype) -> LoadedPipeline:
    _quiet_libraries()
    import torch
    from compel import Compel
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    # diffusers' pipeline, except that the adapter input is one row per image (batches of people).
    from lookalike.generation.batched_pipeline import PerImageAdapterPipeline as StableDiffusionPipeline

    paths = model_paths(spec, models_dir)
    weight_file = paths.adapter_dir / paths.adapter_weight
    if not weight_file.is_file():
        raise ModelUnavailableError(
            f"FaceID adapter {weight_file} is missing.",
            hint=f"Run `lookalike models pull {spec.id}`.",
            details={"model": spec.id, "missing": str(weight_file)},
        )
    if paths.single_file:
        pipe = StableDiffusionPipeline.from_single_file(
            str(paths.base), torch_dtype=dtype, safety_checker=None, requires_safety_checker=False
        )
        if paths.vae is not None:
            pipe.vae = AutoencoderKL.from_pretrained(str(paths.vae), torch_dtype=dtype, local_files_only=True)
    else:
        base = str(paths.base)
        vae = (
            AutoencoderKL.from_pretrained(str(paths.vae), torch_dtype=dtype, local_files_only=True)
            if paths.vae is not None
            else AutoencoderKL.from_pretrained(base, subfolder="vae", torch_dtype=dtype, local_files_only=True)
        )
        # Built from components rather than from_pretrained(folder) so that the
        # safety checker and feature extractor are not required on disk.
        pipe = StableDiffusionPipeline(
            vae=vae,
            text_encoder=CLIPTextModel.from_pretrained(
                base, subfolder="text_encoder", dtype=dtype, local_files_only=True
            ),
            tokenizer=CLIPTokenizer.from_pretrained(base, subfolder="tokenizer", local_files_only=True),
            unet=UNet2DConditionModel.from_pretrained(
                base, subfolder="unet", torch_dtype=dtype, local_files_only=True
            ),
            scheduler=make_scheduler("ddim", _read_scheduler_config(paths.base)),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    scheduler_config = (
        _read_scheduler_config(paths.base) if not paths.single_file else dict(pipe.scheduler.config)
    )
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    pipe.load_ip_adapter(
        str(paths.adapter_dir),
        subfolder="",
        weight_name=paths.adapter_weight,
        image_encoder_folder=None,
        local_files_only=True,
    )
    loaded_loras = {FACEID_ADAPTER_NAME} if FACEID_ADAPTER_NAME in getattr(pipe.unet, "peft_config", {}) else set()
    compel = Compel(
        tokenizer=pipe.tokenizer,
        text_encoder=pipe.text_encoder,
        truncate_long_prompts=False,
        dtype_for_device_getter=lambda _device: dtype,
    )
    projection = pipe.unet.encoder_hid_proj.image_projection_layers[0]
    return LoadedPipeline(
        spec=spec,
        device=device,
        dtype=dtype,
        pipe=pipe,
        scheduler_config=scheduler_config,
        embedding_dim=_input_dim(projection, torch),
        compel=compel,
        loaded_loras=loaded_loras,
    )


def _read_scheduler_config(base: Path) -> dict[str, Any]:
    return json.loads((Path(base) / "scheduler" / "scheduler_config.json").read_text())


def _input_dim(projection, torch) -> int:
    for module in projection.modules():
        if isinstance(module, torch.nn.Linear):
            return module.in_features
    raise ValueError("the FaceID image projection has no linear layer")


class PipelineCache:
    """Loaded pipelines by (base model id, device, dtype), least recently used evicted.

    ``loads`` counts real model loads, so callers and tests can check that
    a new tune, weight or scheduler never reloads a model.
    """

    def __init__(self, models_dir: Path, max_entries: int = 1) -> None:
        self.models_dir = Path(models_dir)
        self.max_entries = max(1, max_entries)
        self.loads = 0
        self._entries: OrderedDict[tuple[str, str, str], LoadedPipeline] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, spec: BaseModelSpec, device, dtype) -> LoadedPipeline:
        key = (spec.id, str(device), str(dtype))
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry
            # Loading under the lock: two requests for one model must not load it twice.
            while len(self._entries) >= self.max_entries:
                _, evicted = self._entries.popitem(last=False)
                _release(evicted)
            entry = load_pipeline(spec, self.models_dir, device, dtype)
            self.loads += 1
            self._entries[key] = entry
            return entry

    def clear(self) -> None:
        with self._lock:
            while self._entries:
                _, evicted = self._entries.popitem()
                _release(evicted)

    def __len__(self) -> int:
        return len(self._entries)


def _release(entry: LoadedPipeline) -> None:
    import torch

    with entry.lock:
        entry.pipe = None
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
