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

from lookalike.catalog.base_models import AdapterSpec, BaseModelSpec, SchedulerLora
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
    image_encoder: Path | None = None  # FaceID PlusV2's CLIP image encoder folder


def model_paths(spec: BaseModelSpec, models_dir: Path, adapter: AdapterSpec | None = None) -> ModelPaths:
    """Where the spec's files are (with ``adapter`` instead of its default one); raises ``ModelUnavailableError`` naming the pull command."""
    models_dir = Path(models_dir)
    adapter = adapter or spec.adapter
    if not spec.engine_supported:
        raise UnsupportedBaseModelError(
            f"Base model '{spec.id}' ({spec.name}) is catalogued but the engine cannot run it yet.",
            field="base_tune_id",
        )
    source = spec.source
    if source.kind == "builtin":
        from lookalike.catalog.tiny import ensure_tiny_model

        base = ensure_tiny_model(models_dir, spec)
    else:
        locate(spec.pack, models_dir)
        if source.kind == "hub":
            base = models_dir / source.local_dir
        else:
            base = _user_path(spec, models_dir)
        if adapter is not spec.adapter:
            locate(spec.adapter_pack(adapter), models_dir)
    return ModelPaths(
        base=base,
        adapter_dir=models_dir / adapter.source.local_dir,
        adapter_weight=adapter.weight_name,
        vae=models_dir / spec.vae.local_dir if spec.vae is not None else None,
        single_file=source.kind == "single_file",
        image_encoder=models_dir / adapter.image_encoder.local_dir if adapter.image_encoder is not None else None,
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
    adapter: AdapterSpec | None = None  # the FaceID adapter loaded (the spec's default or PlusV2)
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
    family: Any = None  # families.SD15Family or SDXLFamily
    # Pipelines of other modes (img2img, inpaint, ControlNet) on the same modules, by (mode, controlnet id).
    variants: dict[tuple[str, str | None], Any] = field(default_factory=dict)
    controlnets: dict[str, Any] = field(default_factory=dict)  # loaded ControlNets by catalog id
    # PlusV2: the CLIP image encoder's states of an all-zero input (every negative row's), computed once.
    clip_zero_states: Any = None
    # The inpainting pipeline on the model's inpainting UNet (False: looked for, there is none on disk).
    inpainting: Any = None
    # Users' LoRAs (trained tunes) loaded into this pipeline, least recently used first.
    user_loras: OrderedDict[str, str] = field(default_factory=OrderedDict)  # adapter name -> file

    def pipeline_for(self, mode: str, controlnet=None):
        """The pipeline of ``mode`` ("txt2img", "img2img", "inpaint"), with ``controlnet`` if given.

        Built once on the loaded pipeline's own modules (UNet with its adapter
        and LoRAs, VAE, text encoders), so every mode sees the same identity,
        scales and speed-ups.
        """
        if mode == "txt2img" and controlnet is None:
            return self.pipe
        key = (mode, None if controlnet is None else str(id(controlnet)))
        variant = self.variants.get(key)
        if variant is None:
            variant = self.family.variant(self.pipe, mode, controlnet)
            self.variants[key] = variant
        return variant

    def inpainting_pipeline(self, models_dir: Path):
        """diffusers' inpainting pipeline on the model's inpainting UNet, its FaceID adapter loaded; None without one.

        Built once, on the same text encoder and VAE; the UNet is the
        catalog's ``inpaint_unet`` (9 input channels), so the FaceID adapter
        and its LoRA are loaded into it as into the main UNet.
        """
        if self.inpainting is None:
            self.inpainting = _load_inpainting(self, Path(models_dir)) or False
        return self.inpainting or None

    def ensure_scheduler_lora(self, lora: SchedulerLora, models_dir: Path) -> str:
        name = f"sched_{lora.scheduler}"
        if name not in self.loaded_loras:
            path = scheduler_lora_path(lora, models_dir)
            self.pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=name)
            self.loaded_loras.add(name)
        return name

    def ensure_user_lora(self, name: str, path: str, *, keep: int, in_use: set[str]) -> str:
        """Load a user's LoRA file under ``name`` once; keep at most ``keep`` such files loaded.

        The least recently used ones not ``in_use`` by the current request are
        deleted from the pipeline first, so a long-running worker serving many
        trained tunes does not grow without bound.
        """
        if name in self.user_loras:
            if self.user_loras[name] != str(path):
                # Same tune, new file (retrained): the old weights must go.
                self._delete_user_lora(name)
            else:
                self.user_loras.move_to_end(name)
                return name
        while len(self.user_loras) >= max(1, keep):
            victim = next((n for n in self.user_loras if n not in in_use), None)
            if victim is None:
                break
            self._delete_user_lora(victim)
        if self.folder is not None:
            # Folded deltas live in the base weights; PEFT must see the loaded originals before it wraps more layers.
            self.folder.restore()
            self.active_loras = None
        file = Path(path)
        self.pipe.load_lora_weights(str(file.parent), weight_name=file.name, adapter_name=name)
        self.loaded_loras.add(name)
        self.user_loras[name] = str(path)
        return name

    def _delete_user_lora(self, name: str) -> None:
        if self.folder is not None:
            self.folder.restore()
        self.pipe.delete_adapters([name])
        self.loaded_loras.discard(name)
        self.user_loras.pop(name, None)
        self.active_loras = None

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


def load_pipeline(spec: BaseModelSpec, models_dir: Path, device, dtype, adapter: AdapterSpec | None = None) -> LoadedPipeline:
    _quiet_libraries()
    from diffusers import AutoencoderKL

    from lookalike.generation.families import family_of

    family = family_of(spec)
    adapter = adapter or spec.adapter
    paths = model_paths(spec, models_dir, adapter)
    weight_file = paths.adapter_dir / paths.adapter_weight
    if not weight_file.is_file():
        raise ModelUnavailableError(
            f"FaceID adapter {weight_file} is missing.",
            hint=f"Run `lookalike models pull {spec.id}`.",
            details={"model": spec.id, "missing": str(weight_file)},
        )
    if paths.single_file:
        from lookalike.generation.single_file import load_single_file

        # Offline, with the entry's config folder or the family's bundled one.
        pipe, single_file_config = load_single_file(family.pipeline_class(), spec, paths.base, models_dir, dtype)
        if paths.vae is not None:
            pipe.vae = AutoencoderKL.from_pretrained(str(paths.vae), torch_dtype=dtype, local_files_only=True)
    else:
        base = str(paths.base)
        vae = (
            AutoencoderKL.from_pretrained(str(paths.vae), torch_dtype=dtype, local_files_only=True)
            if paths.vae is not None
            else AutoencoderKL.from_pretrained(base, subfolder="vae", torch_dtype=dtype, local_files_only=True)
        )
        pipe = family.load_components(
            paths.base, vae, make_scheduler("ddim", _read_scheduler_config(paths.base)), dtype
        )
    scheduler_config = _read_scheduler_config(single_file_config if paths.single_file else paths.base)
    if paths.image_encoder is not None:
        _add_image_encoder(pipe, paths.image_encoder, dtype, adapter.id)
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
    import torch

    projection = pipe.unet.encoder_hid_proj.image_projection_layers[0]
    return LoadedPipeline(
        spec=spec,
        device=device,
        dtype=dtype,
        pipe=pipe,
        scheduler_config=scheduler_config,
        embedding_dim=_input_dim(projection, torch),
        compel=family.text_conditioning(pipe, dtype),
        loaded_loras=loaded_loras,
        family=family,
        adapter=adapter,
    )


def inpaint_unet_dir(spec: BaseModelSpec, models_dir: Path) -> Path | None:
    """The folder holding the model's inpainting ``unet/``, or None where the catalog has none or it is not pulled."""
    source = spec.inpaint_unet
    if source is None:
        return None
    if source.kind in ("builtin", "local"):
        if source.kind == "builtin":
            from lookalike.catalog.tiny import ensure_tiny_model

            ensure_tiny_model(models_dir, spec)
        folder = Path(source.path).expanduser() if source.path else Path(models_dir) / source.local_dir
        return folder if (folder / "unet" / "config.json").is_file() else None
    try:
        locate(spec.inpaint_pack, models_dir)
    except ModelUnavailableError:
        return None
    return Path(models_dir) / source.local_dir


def _load_inpainting(loaded: LoadedPipeline, models_dir: Path):
    from diffusers import UNet2DConditionModel

    folder = inpaint_unet_dir(loaded.spec, models_dir)
    if folder is None:
        return None
    # The published inpainting UNet ships fp16 weights only ("...fp16.safetensors").
    variant = "fp16" if (folder / "unet" / "diffusion_pytorch_model.fp16.safetensors").is_file() else None
    unet = UNet2DConditionModel.from_pretrained(
        str(folder), subfolder="unet", torch_dtype=loaded.dtype, variant=variant, local_files_only=True
    )
    pipe = loaded.family.variant(loaded.pipe, "inpaint", unet=unet.to(loaded.device))
    adapter = loaded.adapter or loaded.spec.adapter
    pipe.load_ip_adapter(
        str(Path(models_dir) / adapter.source.local_dir),
        subfolder="",
        weight_name=adapter.weight_name,
        image_encoder_folder=None,
        local_files_only=True,
    )
    return pipe


def _add_image_encoder(pipe, folder: Path, dtype, pack_id: str) -> None:
    """FaceID PlusV2's CLIP image encoder and the feature extractor sized for it, as ``load_ip_adapter`` pairs them."""
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    if not (Path(folder) / "config.json").is_file():
        raise ModelUnavailableError(
            f"The CLIP image encoder FaceID PlusV2 needs is not in {folder}.",
            hint=f"Run `lookalike models pull {pack_id}`.",
            details={"missing": str(folder)},
        )
    encoder = CLIPVisionModelWithProjection.from_pretrained(str(folder), dtype=dtype, local_files_only=True)
    size = encoder.config.image_size
    pipe.register_modules(
        image_encoder=encoder,
        feature_extractor=CLIPImageProcessor(size=size, crop_size=size),
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
        self._entries: OrderedDict[tuple[str, str, str, str], LoadedPipeline] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, spec: BaseModelSpec, device, dtype, adapter: AdapterSpec | None = None) -> LoadedPipeline:
        adapter = adapter or spec.adapter
        key = (spec.id, adapter.id, str(device), str(dtype))
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry
            # Loading under the lock: two requests for one model must not load it twice.
            while len(self._entries) >= self.max_entries:
                _, evicted = self._entries.popitem(last=False)
                _release(evicted)
            entry = load_pipeline(spec, self.models_dir, device, dtype, adapter)
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
        entry.variants.clear()
        entry.controlnets.clear()
        entry.inpainting = None
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
