"""Base models and their FaceID adapters, as data.

Each base model has a slug (``id``) and a numeric ``gallery_id``: Astria's
``base_tune_id`` is an integer and the HTTP API lists base models as
"gallery tunes", so both spellings must resolve to the same entry.

Everything a model needs on disk is listed file by file so that
``lookalike models pull ID`` can fetch it and an offline machine can say
exactly what is missing. Digests are ``None`` where no published sha256 is
known to us; ``catalog.files`` then records the digest of the first download
and checks it on every later load.

This module is imported by the CLI and the API at start: keep it free of
torch and diffusers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lookalike.catalog.files import ModelPack, RemoteFile
from lookalike.errors import UnknownBaseModelError

Family = Literal["sd15", "sdxl"]
SourceKind = Literal["hub", "local", "single_file", "builtin"]
AdapterKind = Literal["faceid", "faceid_plusv2"]

HUB_URL = "https://huggingface.co/{repo}/resolve/{revision}/{path}"

# Encoder names match the keys under which a tune stores its embeddings.
BUFFALO_L = "buffalo_l"
DLIB_RESNET = "dlib_resnet_v1"

# The components StableDiffusionPipeline needs; safety checker and feature
# extractor are left out on purpose (they are not used, and they would add
# 1.2 GB to every pull).
SD_DIFFUSERS_FILES: tuple[str, ...] = (
    "model_index.json",
    "scheduler/scheduler_config.json",
    "text_encoder/config.json",
    "text_encoder/model.safetensors",
    "tokenizer/merges.txt",
    "tokenizer/special_tokens_map.json",
    "tokenizer/tokenizer_config.json",
    "tokenizer/vocab.json",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors",
)

SDXL_DIFFUSERS_FILES: tuple[str, ...] = (
    "model_index.json",
    "scheduler/scheduler_config.json",
    "text_encoder/config.json",
    "text_encoder/model.safetensors",
    "text_encoder_2/config.json",
    "text_encoder_2/model.safetensors",
    "tokenizer/merges.txt",
    "tokenizer/special_tokens_map.json",
    "tokenizer/tokenizer_config.json",
    "tokenizer/vocab.json",
    "tokenizer_2/merges.txt",
    "tokenizer_2/special_tokens_map.json",
    "tokenizer_2/tokenizer_config.json",
    "tokenizer_2/vocab.json",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors",
)

VAE_FILES: tuple[str, ...] = ("config.json", "diffusion_pytorch_model.safetensors")


@dataclass(frozen=True)
class ModelSource:
    """Where a set of weights comes from and where it lives under the models directory.

    ``hub``: files of a Hugging Face repo at a revision, stored under
    ``local_dir``. ``local``: a diffusers folder the user already has
    (``path``). ``single_file``: one ``.safetensors`` checkpoint (``path``,
    optionally fetched from ``repo``). ``builtin``: written by lookalike itself
    (the ``tiny`` model) under ``local_dir``.
    """

    kind: SourceKind
    local_dir: str = ""
    repo: str | None = None
    revision: str = "main"
    files: tuple[str, ...] = ()
    sha256: tuple[tuple[str, str], ...] = ()  # (path in repo, digest) where published
    path: str | None = None

    def url(self, path: str) -> str:
        if self.repo is None:
            raise ValueError(f"{self.kind} source has no repo to build a URL from")
        return HUB_URL.format(repo=self.repo, revision=self.revision, path=path)

    def remote_files(self) -> tuple[RemoteFile, ...]:
        if self.kind != "hub" and not (self.kind == "single_file" and self.repo):
            return ()
        digests = dict(self.sha256)
        return tuple(
            RemoteFile(url=self.url(name), path=f"{self.local_dir}/{name}", sha256=digests.get(name))
            for name in self.files
        )


def hub(repo: str, files: tuple[str, ...], *, revision: str = "main", local_dir: str | None = None) -> ModelSource:
    return ModelSource(
        kind="hub",
        repo=repo,
        revision=revision,
        files=files,
        local_dir=local_dir or f"hub/{repo}",
    )


@dataclass(frozen=True)
class AdapterSpec:
    """An IP-Adapter-FaceID checkpoint and the LoRA trained with it.

    ``encoder`` is the face encoder whose embeddings the adapter was trained
    on; conditioning with another encoder's vectors gives a different person.

    The LoRA is stored twice upstream: inside the ``.bin`` (keys
    ``N.to_{q,k,v,out}_lora.{down,up}.weight`` of the ``ip_adapter`` dict),
    which diffusers' ``load_ip_adapter`` applies through PEFT, and as
    ``lora_name`` in kohya format for A1111/ComfyUI. The engine uses the
    first, so the second is named here but not pulled.
    """

    id: str
    kind: AdapterKind
    source: ModelSource
    weight_name: str
    lora_name: str | None
    encoder: str
    embedding_dim: int
    license: str
    # PlusV2 also needs a CLIP image encoder; it is named here but not used by
    # the engine yet.
    image_encoder: ModelSource | None = None

    @property
    def weight_path(self) -> str:
        return f"{self.source.local_dir}/{self.weight_name}"

    @property
    def lora_path(self) -> str | None:
        return f"{self.source.local_dir}/{self.lora_name}" if self.lora_name else None


@dataclass(frozen=True)
class SchedulerLora:
    """A LoRA distilled for a few-step scheduler (LCM, TCD), pulled as its own pack."""

    scheduler: str
    source: ModelSource
    weight_name: str
    license: str

    @property
    def path(self) -> str:
        return f"{self.source.local_dir}/{self.weight_name}"

    @property
    def pack(self) -> ModelPack:
        repo = self.source.repo or self.source.local_dir
        return ModelPack(
            id=repo.split("/")[-1].lower(),
            title=f"{self.scheduler.upper()} LoRA ({repo})",
            license=self.license,
            files=self.source.remote_files(),
        )


@dataclass(frozen=True)
class BaseModelSpec:
    id: str
    gallery_id: int
    name: str
    family: Family
    source: ModelSource
    adapter: AdapterSpec
    license: str
    native_size: int
    description: str = ""
    vae: ModelSource | None = None  # replaces the checkpoint's own VAE when set
    # Distillation LoRAs that a few-step scheduler needs on this model, by
    # scheduler name ("lcm", "tcd"). A scheduler without an entry here runs
    # without one (fine for the tiny model, poor images on a real one).
    scheduler_loras: tuple[SchedulerLora, ...] = ()
    adapter_options: tuple[AdapterSpec, ...] = ()
    # SDXL is catalogued so the data shape is right; the engine runs SD1.5 only.
    engine_supported: bool = True
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def adapter_encoder(self) -> str:
        return self.adapter.encoder

    @property
    def pack(self) -> ModelPack:
        """Everything ``generate`` needs for this model (LCM LoRA excepted)."""
        files = self.source.remote_files()
        if self.vae is not None:
            files += self.vae.remote_files()
        files += self.adapter.source.remote_files()
        return ModelPack(id=self.id, title=self.name, license=self.license, files=files)

    def scheduler_lora(self, scheduler: str) -> SchedulerLora | None:
        for lora in self.scheduler_loras:
            if lora.scheduler == scheduler:
                return lora
        return None


# --- adapters -----------------------------------------------------------------

_FACEID_REPO = "h94/IP-Adapter-FaceID"
# h94's model card: InsightFace's models are for non-commercial research only,
# so the FaceID adapters trained on their embeddings are released for research.
_FACEID_LICENSE = "apache-2.0 (model card: non-commercial research use, as InsightFace buffalo_l)"

FACEID_SD15 = AdapterSpec(
    id="ip-adapter-faceid-sd15",
    kind="faceid",
    source=hub(_FACEID_REPO, ("ip-adapter-faceid_sd15.bin",)),
    weight_name="ip-adapter-faceid_sd15.bin",
    lora_name="ip-adapter-faceid_sd15_lora.safetensors",
    encoder=BUFFALO_L,
    embedding_dim=512,
    license=_FACEID_LICENSE,
)

FACEID_PLUSV2_SD15 = AdapterSpec(
    id="ip-adapter-faceid-plusv2-sd15",
    kind="faceid_plusv2",
    source=hub(_FACEID_REPO, ("ip-adapter-faceid-plusv2_sd15.bin",)),
    weight_name="ip-adapter-faceid-plusv2_sd15.bin",
    lora_name="ip-adapter-faceid-plusv2_sd15_lora.safetensors",
    encoder=BUFFALO_L,
    embedding_dim=512,
    license=_FACEID_LICENSE,
    image_encoder=hub(
        "laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
        ("config.json", "open_clip_pytorch_model.safetensors"),
    ),
)

FACEID_SDXL = AdapterSpec(
    id="ip-adapter-faceid-sdxl",
    kind="faceid",
    source=hub(_FACEID_REPO, ("ip-adapter-faceid_sdxl.bin",)),
    weight_name="ip-adapter-faceid_sdxl.bin",
    lora_name="ip-adapter-faceid_sdxl_lora.safetensors",
    encoder=BUFFALO_L,
    embedding_dim=512,
    license=_FACEID_LICENSE,
)

TINY_DIR = "tiny"

# Seeded random weights written by lookalike.catalog.tiny in the real file
# layout; its adapter takes the offline dlib encoder's 128-d vectors.
TINY_ADAPTER = AdapterSpec(
    id="tiny-faceid",
    kind="faceid",
    source=ModelSource(kind="builtin", local_dir=f"{TINY_DIR}/ip-adapter"),
    weight_name="ip-adapter-faceid_sd15.bin",
    lora_name=None,  # the LoRA is inside the .bin, as upstream
    encoder=DLIB_RESNET,
    embedding_dim=128,
    license="apache-2.0 (random weights made by lookalike)",
)

# --- base models ----------------------------------------------------------------

_SD_VAE_FT_MSE = hub("stabilityai/sd-vae-ft-mse", VAE_FILES)

def _lora(scheduler: str, repo: str, license: str) -> SchedulerLora:
    name = "pytorch_lora_weights.safetensors"
    return SchedulerLora(scheduler=scheduler, source=hub(repo, (name,)), weight_name=name, license=license)


_SD15_FAST_LORAS = (
    _lora("lcm", "latent-consistency/lcm-lora-sdv1-5", "openrail++"),
    _lora("tcd", "h1t/TCD-SD15", "see the model card at https://huggingface.co/h1t/TCD-SD15"),
)
_SDXL_FAST_LORAS = (_lora("lcm", "latent-consistency/lcm-lora-sdxl", "openrail++"),)

REALISTIC_VISION_V51 = BaseModelSpec(
    id="realistic-vision-v5-1",
    gallery_id=1,
    name="Realistic Vision V5.1",
    family="sd15",
    source=hub("SG161222/Realistic_Vision_V5.1_noVAE", SD_DIFFUSERS_FILES),
    # "noVAE": the checkpoint is meant to be paired with sd-vae-ft-mse, as in
    # h94's own FaceID examples.
    vae=_SD_VAE_FT_MSE,
    adapter=FACEID_SD15,
    adapter_options=(FACEID_PLUSV2_SD15,),
    scheduler_loras=_SD15_FAST_LORAS,
    license="creativeml-openrail-m",
    native_size=512,
    description="Photorealistic SD1.5 fine-tune; the default for portraits.",
    tags=("photo", "default"),
)

SD15 = BaseModelSpec(
    id="sd-1-5",
    gallery_id=2,
    name="Stable Diffusion 1.5",
    family="sd15",
    source=hub("stable-diffusion-v1-5/stable-diffusion-v1-5", SD_DIFFUSERS_FILES),
    adapter=FACEID_SD15,
    adapter_options=(FACEID_PLUSV2_SD15,),
    scheduler_loras=_SD15_FAST_LORAS,
    license="creativeml-openrail-m",
    native_size=512,
    description="The original SD1.5 weights (community mirror of runwayml's repo).",
)

SDXL_BASE = BaseModelSpec(
    id="sdxl-base-1-0",
    gallery_id=3,
    name="Stable Diffusion XL 1.0",
    family="sdxl",
    source=hub("stabilityai/stable-diffusion-xl-base-1.0", SDXL_DIFFUSERS_FILES),
    adapter=FACEID_SDXL,
    scheduler_loras=_SDXL_FAST_LORAS,
    license="openrail++",
    native_size=1024,
    description="SDXL base; catalogued, not yet run by the engine.",
    engine_supported=False,
)

TINY = BaseModelSpec(
    id="tiny",
    gallery_id=999,
    name="Tiny (random weights, tests and smoke runs)",
    family="sd15",
    source=ModelSource(kind="builtin", local_dir=TINY_DIR),
    adapter=TINY_ADAPTER,
    license="apache-2.0",
    native_size=64,
    description="SD1.5-shaped pipeline with seeded random weights; makes noise, fast.",
    tags=("test",),
)

BASE_MODELS: tuple[BaseModelSpec, ...] = (REALISTIC_VISION_V51, SD15, SDXL_BASE, TINY)

# The tiny VAE decoder for previews (generation/tiny_vae.py): SD1.5 latents in,
# pixels out at a fraction of the full VAE's cost. One for every SD1.5 model.
TAESD_SOURCE = hub("madebyollin/taesd", VAE_FILES)
TAESD_PACK = ModelPack(
    id="taesd",
    title="Tiny AutoEncoder for SD1.5 (madebyollin/taesd), preview decoder",
    license="mit",
    files=TAESD_SOURCE.remote_files(),
)
DEFAULT_BASE_MODEL_ID = REALISTIC_VISION_V51.id


def get_base_model(ref: str | int) -> BaseModelSpec:
    """The catalog entry for a slug, or a gallery id given as an int or a digit string."""
    if isinstance(ref, bool):  # bool is an int; True must not mean gallery id 1
        raise UnknownBaseModelError(f"Unknown base model {ref!r}.", details={"base_model": repr(ref)})
    key = ref.strip() if isinstance(ref, str) else ref
    for spec in BASE_MODELS:
        if isinstance(key, int):
            if spec.gallery_id == key:
                return spec
        elif spec.id == key.lower() or (key.isdigit() and spec.gallery_id == int(key)):
            return spec
    known = ", ".join(f"{s.id} ({s.gallery_id})" for s in BASE_MODELS)
    raise UnknownBaseModelError(
        f"Unknown base model {ref!r}. Known: {known}.",
        field="base_tune_id",
        details={"base_model": str(ref), "known": [s.id for s in BASE_MODELS]},
    )


def model_packs() -> tuple[ModelPack, ...]:
    """Every pack ``lookalike models pull`` can fetch (base models, then scheduler LoRAs)."""
    packs = [spec.pack for spec in BASE_MODELS if spec.source.kind == "hub"]
    seen = set()
    for spec in BASE_MODELS:
        for lora in spec.scheduler_loras:
            if lora.pack.id not in seen:
                seen.add(lora.pack.id)
                packs.append(lora.pack)
    packs.append(TAESD_PACK)
    return tuple(packs)


def get_model_pack(ref: str | int) -> ModelPack:
    """A pack by its id, or the pack of a base model given by slug or gallery id."""
    for pack in model_packs():
        if pack.id == str(ref).strip().lower():
            return pack
    return get_base_model(ref).pack
