"""Base models and their FaceID adapters, as data.

Each base model has a slug (``id``) and a numeric ``gallery_id``: Astria's
``base_tune_id`` is an integer and the HTTP API lists base models as
"gallery tunes", so both spellings must resolve to the same entry. Where
Astria's public gallery has the same model, the gallery id is Astria's own
(690204 is Realistic Vision V5.1, 666678 SDXL 1.0: code written for Astria
hard-codes them); models Astria does not list keep small ids of ours. User
tune ids start above every gallery id (``store.ids.FIRST_USER_TUNE_ID``), so
an id in a URL never means two things.

Everything a model needs on disk is listed file by file so that
``lookalike models pull ID`` can fetch it and an offline machine can say
exactly what is missing. Every Hub repo is pinned to a commit and every
large file carries its sha256 (its LFS oid), both taken from places that
publish them (named beside each entry). Where no digest is published (the
small JSON and text files, and a few weights) the value is ``None`` and
``catalog.files`` records the digest of the first download and checks it on
every later load. A repo for which no commit is published stays on ``main``,
marked TODO where it is used.

This module is imported by the CLI and the API at start: keep it free of
torch and diffusers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lookalike.catalog.files import HubFile, ModelPack
from lookalike.errors import UnknownBaseModelError

Family = Literal["sd15", "sdxl"]
SourceKind = Literal["hub", "local", "single_file", "builtin"]
AdapterKind = Literal["faceid", "faceid_plusv2"]

# The branch a repo stays on when no commit of it is published anywhere we
# could find; every use is marked TODO.
UNPINNED = "main"

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

# The same without the checkpoint's own VAE, for a model whose entry names a
# VAE of its own (``BaseModelSpec.vae``): the loader then reads only that one
# (generation/pipelines.py), and the repo's own vae/ would be fetched for nothing.
SD_DIFFUSERS_FILES_NO_VAE: tuple[str, ...] = tuple(f for f in SD_DIFFUSERS_FILES if not f.startswith("vae/"))

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
    revision: str = UNPINNED
    files: tuple[str, ...] = ()
    sha256: tuple[tuple[str, str], ...] = ()  # (path in repo, digest) where published
    path: str | None = None
    # single_file: a diffusers config folder for the checkpoint; None uses the
    # family's bundled one (catalog/single_file_configs.py).
    config: str | None = None

    def remote_files(self) -> tuple[HubFile, ...]:
        if self.repo is None or (self.kind != "hub" and self.kind != "single_file"):
            return ()
        digests = dict(self.sha256)
        unknown = set(digests) - set(self.files)
        if unknown:
            raise ValueError(f"digests for files {self.repo} does not list: {sorted(unknown)}")
        return tuple(
            HubFile(
                repo_id=self.repo,
                filename=name,
                revision=self.revision,
                path=f"{self.local_dir}/{name}",
                sha256=digests.get(name),
            )
            for name in self.files
        )


def hub(
    repo: str,
    files: tuple[str, ...],
    *,
    revision: str,
    sha256: dict[str, str] | None = None,
    local_dir: str | None = None,
) -> ModelSource:
    return ModelSource(
        kind="hub",
        repo=repo,
        revision=revision,
        files=files,
        sha256=tuple((sha256 or {}).items()),
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
    # PlusV2 also needs a CLIP image encoder (transformers'
    # CLIPVisionModelWithProjection folder: config.json + model.safetensors).
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
    # A UNet trained for inpainting (9 input channels: latents, mask, masked
    # image), a diffusers ``unet/`` folder; inpaint_faces uses it when it is on
    # disk, the model's own UNet otherwise (generation/pipelines.py).
    inpaint_unet: ModelSource | None = None
    engine_supported: bool = True
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def adapter_encoder(self) -> str:
        return self.adapter.encoder

    @property
    def inpaint_pack(self) -> ModelPack | None:
        """The inpainting UNet's files, pulled as their own pack (``lookalike models pull <id>-inpainting``)."""
        if self.inpaint_unet is None or self.inpaint_unet.kind != "hub":
            return None
        return ModelPack(
            id=f"{self.id}-inpainting",
            title=f"Inpainting UNet for {self.name} ({self.inpaint_unet.repo})",
            license=self.license,
            files=self.inpaint_unet.remote_files(),
        )

    def adapter_pack(self, adapter: AdapterSpec) -> ModelPack:
        """An extra adapter's files (PlusV2: its ``.bin`` and the CLIP image encoder), pulled as their own pack.

        Its id is the adapter's: models of one family share it (one pull serves them all).
        """
        files = adapter.source.remote_files()
        if adapter.image_encoder is not None:
            files += adapter.image_encoder.remote_files()
        return ModelPack(id=adapter.id, title=f"{adapter.id} (FaceID PlusV2 and its CLIP image encoder)",
                         license=adapter.license, files=files)

    @property
    def pack(self) -> ModelPack:
        """Everything ``generate`` needs for this model (LCM LoRA excepted)."""
        files = self.source.remote_files()
        if self.vae is not None:
            files += self.vae.remote_files()
        files += self.adapter.source.remote_files()
        return ModelPack(id=self.id, title=self.name, license=self.license, files=files)

    def adapter_for(self, name: str | None) -> AdapterSpec:
        """The adapter a prompt's ``faceid_adapter`` names: None or "faceid" the default, "plusv2" FaceID PlusV2."""
        if name in (None, "", "faceid"):
            return self.adapter
        kind = {"plusv2": "faceid_plusv2"}.get(name, name)
        for option in (self.adapter, *self.adapter_options):
            if option.kind == kind:
                return option
        from lookalike.errors import InvalidFieldError

        offered = sorted({"faceid", *({"faceid_plusv2": "plusv2"}.get(a.kind, a.kind) for a in self.adapter_options)})
        raise InvalidFieldError(
            f"Base model {self.id} has no {name} adapter; it offers {', '.join(offered)}.",
            field="faceid_adapter",
            details={"valid": offered},
        )

    def scheduler_lora(self, scheduler: str) -> SchedulerLora | None:
        for lora in self.scheduler_loras:
            if lora.scheduler == scheduler:
                return lora
        return None


# --- adapters -----------------------------------------------------------------

_FACEID_REPO = "h94/IP-Adapter-FaceID"
# The commit independent projects pin for this repo (several agree); it holds
# all three checkpoints below. No sha256 of the .bin files is published
# anywhere we could find, so their first download's digest is recorded.
_FACEID_REVISION = "43907e6f44d079bf1a9102d9a6e56aef7a219bae"
# h94's model card: InsightFace's models are for non-commercial research only,
# so the FaceID adapters trained on their embeddings are released for research.
_FACEID_LICENSE = "apache-2.0 (model card: non-commercial research use, as InsightFace buffalo_l)"

def _h94(adapter_id: str, weight_name: str, *, image_encoder: ModelSource | None = None) -> AdapterSpec:
    """One of h94's FaceID checkpoints: the ``.bin`` at the pinned commit, its kohya LoRA named beside it."""
    kind = "faceid_plusv2" if image_encoder is not None else "faceid"
    return AdapterSpec(
        id=adapter_id,
        kind=kind,
        source=hub(_FACEID_REPO, (weight_name,), revision=_FACEID_REVISION),
        weight_name=weight_name,
        lora_name=weight_name.removesuffix(".bin") + "_lora.safetensors",
        encoder=BUFFALO_L,
        embedding_dim=512,
        license=_FACEID_LICENSE,
        image_encoder=image_encoder,
    )


# The pair transformers' CLIPVisionModelWithProjection loads, as h94's PlusV2
# example does (an earlier entry named "open_clip_pytorch_model.safetensors",
# which the repo does not have), at the commit published download scripts and
# logs name; no published digest of model.safetensors was found. h94's SDXL
# PlusV2 example loads the same ViT-H/14 encoder as SD1.5's.
_CLIP_VIT_H = hub(
    "laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
    ("config.json", "model.safetensors"),
    revision="1c2b8495b28150b8a4922ee1c8edee224c284c0c",
)

FACEID_SD15 = _h94("ip-adapter-faceid-sd15", "ip-adapter-faceid_sd15.bin")
FACEID_PLUSV2_SD15 = _h94("ip-adapter-faceid-plusv2-sd15", "ip-adapter-faceid-plusv2_sd15.bin", image_encoder=_CLIP_VIT_H)
FACEID_SDXL = _h94("ip-adapter-faceid-sdxl", "ip-adapter-faceid_sdxl.bin")
# Published download lists pin this file at the same commit as the others.
FACEID_PLUSV2_SDXL = _h94("ip-adapter-faceid-plusv2-sdxl", "ip-adapter-faceid-plusv2_sdxl.bin", image_encoder=_CLIP_VIT_H)

TINY_DIR = "tiny"
TINY_XL_DIR = "tiny-xl"


def _tiny_adapter(adapter_id: str, folder: str, weight_name: str, *, plus: bool = False) -> AdapterSpec:
    """An adapter of a tiny model: seeded random weights written by lookalike.catalog.tiny in the real layout.

    Its FaceID adapter takes the offline dlib encoder's 128-d vectors. PlusV2
    (``plus``) is upstream's ProjPlusModel layout (a perceiver resampler over
    a CLIP image encoder's hidden states) with a small CLIP image encoder
    beside it, as the real pack pairs them. The LoRA is inside the ``.bin``, as upstream.
    """
    return AdapterSpec(
        id=adapter_id,
        kind="faceid_plusv2" if plus else "faceid",
        source=ModelSource(kind="builtin", local_dir=f"{folder}/ip-adapter"),
        weight_name=weight_name,
        lora_name=None,
        encoder=DLIB_RESNET,
        embedding_dim=128,
        license="apache-2.0 (random weights made by lookalike)",
        image_encoder=ModelSource(kind="builtin", local_dir=f"{folder}/image_encoder") if plus else None,
    )


TINY_ADAPTER = _tiny_adapter("tiny-faceid", TINY_DIR, "ip-adapter-faceid_sd15.bin")
TINY_PLUSV2_ADAPTER = _tiny_adapter("tiny-faceid-plusv2", TINY_DIR, "ip-adapter-faceid-plusv2_sd15.bin", plus=True)
TINY_XL_ADAPTER = _tiny_adapter("tiny-faceid-xl", TINY_XL_DIR, "ip-adapter-faceid_sdxl.bin")
TINY_XL_PLUSV2_ADAPTER = _tiny_adapter(
    "tiny-faceid-plusv2-xl", TINY_XL_DIR, "ip-adapter-faceid-plusv2_sdxl.bin", plus=True
)

# --- base models ----------------------------------------------------------------

# Revisions and digests: refiners (finegrain-ai/refiners,
# src/refiners/conversion/models/) pins these same files by commit and
# sha256, and other projects agree; the SD1.5 digests are also the blob names
# of a published huggingface_hub cache scan at the commit pinned here.
_SD_VAE_FT_MSE = hub(
    "stabilityai/sd-vae-ft-mse",
    VAE_FILES,
    revision="31f26fdeee1355a5c34592e401dd41e45d25a493",
    sha256={
        "config.json": "92d3dfb746fca211a2c9e019e285f8597412211728dce3c5bcf4eda0f2d62e7e",
        "diffusion_pytorch_model.safetensors": "a1d993488569e928462932c8c38a0760b874d166399b14414135bd9c42df5815",
    },
)

_LORA_FILE = "pytorch_lora_weights.safetensors"


def _lora(scheduler: str, repo: str, license: str, *, revision: str, sha256: str) -> SchedulerLora:
    source = hub(repo, (_LORA_FILE,), revision=revision, sha256={_LORA_FILE: sha256})
    return SchedulerLora(scheduler=scheduler, source=source, weight_name=_LORA_FILE, license=license)


_SD15_FAST_LORAS = (
    _lora(
        "lcm",
        "latent-consistency/lcm-lora-sdv1-5",
        "openrail++",
        revision="cf2fced511dbe7e26c8d1d397e728fbab875db4b",
        sha256="8f90d840e075ff588a58e22c6586e2ae9a6f7922996ee6649a7f01072333afe4",
    ),
    # TCD's own README links the SD1.5 LoRA as h1t/TCD-SD15-LoRA (an earlier
    # entry named "h1t/TCD-SD15"). Digest as published in darkshapes' MIR
    # model database.
    _lora(
        "tcd",
        "h1t/TCD-SD15-LoRA",
        "see the model card at https://huggingface.co/h1t/TCD-SD15-LoRA",
        revision=UNPINNED,  # revision: not pinned, no published commit found (TODO)
        sha256="eaecb24a1cda4411eab67275b1d991071216ac93693e8fa0c9226c9df0386232",
    ),
)
_SDXL_FAST_LORAS = (
    _lora(
        "lcm",
        "latent-consistency/lcm-lora-sdxl",
        "openrail++",
        revision="a18548dd4956b174ec5b0d78d340c8dae0a129cd",
        sha256="a764e6859b6e04047cd761c08ff0cee96413a8e004c9f07707530cd776b19141",
    ),
)

REALISTIC_VISION_V51 = BaseModelSpec(
    id="realistic-vision-v5-1",
    # Astria's gallery id for the same model (its FaceID guide posts prompts to /tunes/690204/prompts).
    gallery_id=690204,
    name="Realistic Vision V5.1",
    family="sd15",
    # The snapshot that published diffusers code loading this repo names; the
    # UNet digest is the one a published model manifest records from the
    # Hub's API. The other large files have no published digest we found.
    # Its own vae/ is left out: sd-vae-ft-mse below replaces it, so it was
    # downloaded and never loaded (issue 13).
    source=hub(
        "SG161222/Realistic_Vision_V5.1_noVAE",
        SD_DIFFUSERS_FILES_NO_VAE,
        revision="1e9f017a7b1eaefb63a1900ea6c5953d2739fd21",
        sha256={
            "unet/diffusion_pytorch_model.safetensors": "4e0868e8fcae7d4ea8f8cdd3051704b3b47d741dc8e8629552d1a07f6efb8e32",
        },
    ),
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
    # Not in Astria's gallery: an id of ours, below every user tune id.
    gallery_id=2,
    name="Stable Diffusion 1.5",
    family="sd15",
    source=hub(
        "stable-diffusion-v1-5/stable-diffusion-v1-5",
        SD_DIFFUSERS_FILES,
        revision="451f4fe16113bff5a5d2269ed5ad43b0592e9a14",
        sha256={
            "text_encoder/model.safetensors": "d008943c017f0092921106440254dbbe00b6a285f7883ec8ba160c3faad88334",
            "unet/diffusion_pytorch_model.safetensors": "19da7aaa4b880e59d56843f1fcb4dd9b599c28a1d9d9af7c1143057c8ffae9f1",
            "vae/diffusion_pytorch_model.safetensors": "a2b5134f4dbc140d9c11f11cba3233099e00af40f262f136c691fb7d38d2194c",
        },
    ),
    adapter=FACEID_SD15,
    adapter_options=(FACEID_PLUSV2_SD15,),
    # runwayml's SD1.5 inpainting UNet (same text encoder and VAE). Commit and
    # the fp16 file's digest as refiners pins them
    # (src/refiners/conversion/models/unet_sd15.py, runwayml_inpainting).
    inpaint_unet=hub(
        "stable-diffusion-v1-5/stable-diffusion-inpainting",
        ("unet/config.json", "unet/diffusion_pytorch_model.fp16.safetensors"),
        revision="8a4288a76071f7280aedbdb3253bdb9e9d5d84bb",
        sha256={
            "unet/diffusion_pytorch_model.fp16.safetensors": "24b788b4a777748377cc20364eea4ae113c8c42f4468c16bc8c02fdae5492af9",
        },
    ),
    scheduler_loras=_SD15_FAST_LORAS,
    license="creativeml-openrail-m",
    native_size=512,
    description="The original SD1.5 weights (community mirror of runwayml's repo).",
)

SDXL_BASE = BaseModelSpec(
    id="sdxl-base-1-0",
    # Astria's gallery id for SDXL 1.0 (its SDXL API page).
    gallery_id=666678,
    name="Stable Diffusion XL 1.0",
    family="sdxl",
    source=hub(
        "stabilityai/stable-diffusion-xl-base-1.0",
        SDXL_DIFFUSERS_FILES,
        revision="462165984030d82259a11f4367a4eed129e94a7b",
        sha256={
            "text_encoder/model.safetensors": "5c3d6454dd2d23414b56aa1b5858a72487a656937847b6fea8d0606d7a42cdbc",
            "text_encoder_2/model.safetensors": "3a6032f63d37ae02bbc74ccd6a27440578cd71701f96532229d0154f55a8d3ff",
            "unet/diffusion_pytorch_model.safetensors": "357650fbfb3c7b4d94c1f5fd7664da819ad1ff5a839430484b4ec422d03f710a",
            "vae/diffusion_pytorch_model.safetensors": "1598f3d24932bcfe6634e8b618ea1e30ab1d57f5aad13a6d2de446d2199f2341",
        },
    ),
    adapter=FACEID_SDXL,
    adapter_options=(FACEID_PLUSV2_SDXL,),
    scheduler_loras=_SDXL_FAST_LORAS,
    license="openrail++",
    native_size=1024,
    description="SDXL base with the FaceID SDXL adapter.",
)

TINY = BaseModelSpec(
    id="tiny",
    gallery_id=999,
    name="Tiny (random weights, tests and smoke runs)",
    family="sd15",
    source=ModelSource(kind="builtin", local_dir=TINY_DIR),
    adapter=TINY_ADAPTER,
    adapter_options=(TINY_PLUSV2_ADAPTER,),
    inpaint_unet=ModelSource(kind="builtin", local_dir=f"{TINY_DIR}/inpaint"),
    license="apache-2.0",
    native_size=64,
    description="SD1.5-shaped pipeline with seeded random weights; makes noise, fast.",
    tags=("test",),
)

TINY_XL = BaseModelSpec(
    id="tiny-xl",
    gallery_id=998,
    name="Tiny SDXL (random weights, tests and smoke runs)",
    family="sdxl",
    source=ModelSource(kind="builtin", local_dir=TINY_XL_DIR),
    adapter=TINY_XL_ADAPTER,
    adapter_options=(TINY_XL_PLUSV2_ADAPTER,),
    license="apache-2.0",
    native_size=64,
    description="SDXL-shaped pipeline (two text encoders) with seeded random weights; makes noise, fast.",
    tags=("test",),
)

BASE_MODELS: tuple[BaseModelSpec, ...] = (REALISTIC_VISION_V51, SD15, SDXL_BASE, TINY, TINY_XL)

# The tiny VAE decoder for previews (generation/tiny_vae.py): SD1.5 latents in,
# pixels out at a fraction of the full VAE's cost. One for every SD1.5 model.
TAESD_SOURCE = hub(
    "madebyollin/taesd",
    VAE_FILES,
    revision="614f76814bbe30edbe2e627ace1c2234c81a2c0e",
    sha256={
        "diffusion_pytorch_model.safetensors": "db169d69145ec4ff064e49d99c95fa05d3eb04ee453de35824a6d0f325513549",
    },
)
TAESD_PACK = ModelPack(
    id="taesd",
    title="Tiny AutoEncoder for SD1.5 (madebyollin/taesd), preview decoder",
    license="mit",
    files=TAESD_SOURCE.remote_files(),
)
DEFAULT_BASE_MODEL_ID = REALISTIC_VISION_V51.id


def _plain_digits(text: str) -> bool:
    # str.isdigit() also takes "²" and "１" (int() refuses the one, reads the
    # other), and int() refuses more than 4300 digits.
    return text.isascii() and text.isdigit() and len(text) <= 18


def all_base_models(settings=None) -> tuple[BaseModelSpec, ...]:
    """The catalog's base models, then the operator's own checkpoints (``<data dir>/models.json``).

    ``settings`` defaults to ``get_settings()``, whose data directory the CLI and the server use.
    """
    from lookalike.catalog.user_models import user_models

    return BASE_MODELS + user_models(settings)


def find_gallery_spec(gallery_id: int) -> BaseModelSpec | None:
    """The base model with this gallery id, or None (a user's own tune id, say)."""
    return next((spec for spec in all_base_models() if spec.gallery_id == gallery_id), None)


def get_base_model(ref: str | int) -> BaseModelSpec:
    """The catalog entry for a slug, or a gallery id given as an int or a digit string."""
    if isinstance(ref, bool):  # bool is an int; True must not mean gallery id 1
        raise UnknownBaseModelError(f"Unknown base model {ref!r}.", details={"base_model": repr(ref)})
    key = ref.strip() if isinstance(ref, str) else ref
    specs = all_base_models()
    for spec in specs:
        if isinstance(key, int):
            if spec.gallery_id == key:
                return spec
        elif spec.id == key.lower() or (_plain_digits(key) and spec.gallery_id == int(key)):
            return spec
    known = ", ".join(f"{s.id} ({s.gallery_id})" for s in specs)
    raise UnknownBaseModelError(
        f"Unknown base model {ref!r}. Known: {known}.",
        field="base_tune_id",
        details={"base_model": str(ref), "known": [s.id for s in specs]},
    )


def model_packs() -> tuple[ModelPack, ...]:
    """Every pack ``lookalike models pull`` can fetch: base models, scheduler LoRAs, inpainting UNets, PlusV2."""
    packs = [spec.pack for spec in BASE_MODELS if spec.source.kind == "hub"]
    seen = set()
    for spec in BASE_MODELS:
        for lora in spec.scheduler_loras:
            if lora.pack.id not in seen:
                seen.add(lora.pack.id)
                packs.append(lora.pack)
    for spec in BASE_MODELS:
        if spec.inpaint_pack is not None:
            packs.append(spec.inpaint_pack)
        for adapter in spec.adapter_options:
            pack = spec.adapter_pack(adapter)
            if pack.files and pack.id not in seen:
                seen.add(pack.id)
                packs.append(pack)
    packs.append(TAESD_PACK)
    return tuple(packs)


def get_model_pack(ref: str | int) -> ModelPack:
    """A pack by its id, or the pack of a base model given by slug or gallery id."""
    for pack in model_packs():
        if pack.id == str(ref).strip().lower():
            return pack
    return get_base_model(ref).pack
