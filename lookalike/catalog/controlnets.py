"""ControlNets as data: which of Astria's ``controlnet`` types run here, on which family, from which weights.

Astria's prompt field ``controlnet`` names twelve types. Those a published
ControlNet in diffusers format exists for are offered here, per base-model
family; each is a pack (``lookalike models pull ID``) of the repo's
``config.json`` and weights at a pinned commit, with the weights' sha256
where someone publishes it (beside each entry: where). The others are
refused by name with the reason in ``NOT_OFFERED``.

The engine loads one with ``ControlNetModel.from_pretrained(controlnet_folder(...))``.
The built-in tiny models get tiny ControlNets (``ControlNetModel.from_unet``
on the tiny UNet, seeded), written on first use like the tiny models
themselves (``catalog/tiny_controlnet.py``), so tests and smoke runs take
the same path as a real pull.

This module is read at import by the API and the CLI: no torch here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lookalike.catalog.base_models import UNPINNED, BaseModelSpec, ModelSource, hub
from lookalike.catalog.files import ModelPack, locate

# Astria's enum, in its docs' order (docs/api/1-prompt/1-create.md).
ASTRIA_CONTROLNETS: tuple[str, ...] = (
    "composition", "reference", "segroom", "ipadapter", "lineart", "canny",
    "depth", "mlsd", "hed", "pose", "tile", "qr",
)  # fmt: skip

# Why a type is not offered, in words a client can show.
NOT_OFFERED: dict[str, str] = {
    "composition": "it is Astria's own pipeline; no ControlNet weights for it are published",
    "reference": "reference-only is an attention trick of A1111's, not a ControlNet with weights, and is not built here",
    "segroom": "it needs a room-segmentation model that is not available here",
    "ipadapter": "it is an image-prompt adapter, not a ControlNet; the FaceID adapter already takes that place",
    "qr": "no pinned release of a QR-code ControlNet in diffusers format was found",
}

# How each offered type gets its control image from the input image (lookalike/control).
PREPROCESSORS: dict[str, str] = {
    "canny": "canny",  # edges computed here (OpenCV)
    "pose": "pose",  # an OpenPose skeleton computed here (MediaPipe pose)
    "depth": "as_given",
    "lineart": "as_given",
    "hed": "as_given",
    "mlsd": "as_given",
    "tile": "as_given",
}

CONTROLNET_FILES = ("config.json",)
SAFETENSORS = "diffusion_pytorch_model.safetensors"
BIN = "diffusion_pytorch_model.bin"


@dataclass(frozen=True)
class ControlNetSpec:
    """One ControlNet: its pack id, the Astria type it serves, the family it fits, where it comes from."""

    id: str
    kind: str
    family: str
    source: ModelSource
    license: str
    title: str

    @property
    def pack(self) -> ModelPack:
        return ModelPack(id=self.id, title=self.title, license=self.license, files=self.source.remote_files())

    @property
    def builtin(self) -> bool:
        return self.source.kind == "builtin"

    @property
    def pull_command(self) -> str:
        return f"lookalike models pull {self.id}"


def _hub(
    kind: str, family: str, repo: str, weights: str, *, revision: str, sha256: str | None, license: str, title: str
) -> ControlNetSpec:
    source = hub(repo, (*CONTROLNET_FILES, weights), revision=revision, sha256={weights: sha256} if sha256 else None)
    return ControlNetSpec(id=repo.split("/")[-1].lower(), kind=kind, family=family, source=source, license=license, title=title)


# lllyasviel's ControlNet 1.1 for SD1.5, converted to diffusers by its authors.
# Commits and digests: refiners (finegrain-ai/refiners,
# src/refiners/conversion/models/controlnet_sd15.py) pins canny, depth,
# lineart and tile by commit and sha256; imaginAIry (its config.py) pins the
# same canny and depth commits and those of openpose and softedge, whose
# weights have no published digest (recorded at the first download).
_V11_LICENSE = "openrail (lllyasviel/ControlNet-v1-1 model cards)"
SD15_CONTROLNETS: tuple[ControlNetSpec, ...] = (
    _hub("canny", "sd15", "lllyasviel/control_v11p_sd15_canny", SAFETENSORS,
         revision="115a470d547982438f70198e353a921996e2e819",
         sha256="be713fb941fc7c625f0c7d816b6a19115783a665f3049a8974f127e0c075d9a9",
         license=_V11_LICENSE, title="ControlNet 1.1 canny edges for SD1.5"),
    _hub("pose", "sd15", "lllyasviel/control_v11p_sd15_openpose", SAFETENSORS,
         revision="9ae9f970358db89e211b87c915f9535c6686d5ba", sha256=None,
         license=_V11_LICENSE, title="ControlNet 1.1 OpenPose skeletons for SD1.5"),
    _hub("depth", "sd15", "lllyasviel/control_v11f1p_sd15_depth", SAFETENSORS,
         revision="539f99181d33db39cf1af2e517cd8056785f0a87",
         sha256="999aca923ca5e19e70e6afc8d11073cc3c03553ca935b636bd5925df4a1c77d1",
         license=_V11_LICENSE, title="ControlNet 1.1 depth maps for SD1.5"),
    _hub("lineart", "sd15", "lllyasviel/control_v11p_sd15_lineart", SAFETENSORS,
         revision="8a158f547e031c5b8fbca19ead09a74767ff4db0",
         sha256="d9d6d0e5526dd21dfc503f9e42a93ff1f977aa52df3c14e8ac11085b518cb114",
         license=_V11_LICENSE, title="ControlNet 1.1 line art for SD1.5"),
    # Astria's "hed" is soft edges; ControlNet 1.1 folds HED and PiDiNet into softedge.
    _hub("hed", "sd15", "lllyasviel/control_v11p_sd15_softedge", SAFETENSORS,
         revision="b5bcad0c48e9b12f091968cf5eadbb89402d6bc9", sha256=None,
         license=_V11_LICENSE, title="ControlNet 1.1 soft edges (HED) for SD1.5"),
    _hub("mlsd", "sd15", "lllyasviel/control_v11p_sd15_mlsd", SAFETENSORS,
         revision=UNPINNED,  # revision: not pinned, no published commit found (TODO)
         sha256=None, license=_V11_LICENSE, title="ControlNet 1.1 straight lines (M-LSD) for SD1.5"),
    # The tile repo's digest is published for its .bin (refiners), so that is the file pulled.
    _hub("tile", "sd15", "lllyasviel/control_v11f1e_sd15_tile", BIN,
         revision="3f877705c37010b7221c3d10743307d6b5b6efac",
         sha256="eb05b4c3665bd76dad70a90652014a9b3aab391abd8a5bb484e860330f9492fb",
         license=_V11_LICENSE, title="ControlNet 1.1 tile (detail from a low-resolution image) for SD1.5"),
)  # fmt: skip

# SDXL: no commit or digest of these repos is published anywhere we could
# find; they stay on main (TODO) and record the first download's digest.
# Pose is xinsir's (diffusers layout, trained on OpenPose-style skeletons,
# apache-2.0) rather than thibaud's, whose diffusers weights' file name and
# licence (OpenPose's, non-commercial) could not be confirmed.
SDXL_CONTROLNETS: tuple[ControlNetSpec, ...] = (
    _hub("canny", "sdxl", "diffusers/controlnet-canny-sdxl-1.0", SAFETENSORS,
         revision=UNPINNED,  # revision: not pinned, no published commit found (TODO)
         sha256=None, license="openrail++", title="ControlNet canny edges for SDXL (diffusers)"),
    _hub("pose", "sdxl", "xinsir/controlnet-openpose-sdxl-1.0", SAFETENSORS,
         revision=UNPINNED,  # revision: not pinned, no published commit found (TODO)
         sha256=None, license="apache-2.0", title="ControlNet OpenPose skeletons for SDXL (xinsir)"),
    _hub("depth", "sdxl", "diffusers/controlnet-depth-sdxl-1.0", SAFETENSORS,
         revision=UNPINNED,  # revision: not pinned, no published commit found (TODO)
         sha256=None, license="openrail++", title="ControlNet depth maps for SDXL (diffusers)"),
)  # fmt: skip

CONTROLNETS: tuple[ControlNetSpec, ...] = SD15_CONTROLNETS + SDXL_CONTROLNETS
TINY_CONTROLNET_DIR = "controlnets-tiny"


def offered_kinds(family: str | None = None) -> tuple[str, ...]:
    """The types that run here (on ``family``, when given), in Astria's order."""
    kinds = {spec.kind for spec in CONTROLNETS if family is None or spec.family == family}
    return tuple(kind for kind in ASTRIA_CONTROLNETS if kind in kinds)


def tiny_controlnet(base_model: BaseModelSpec, kind: str) -> ControlNetSpec:
    """The seeded ControlNet that fits a built-in tiny model (written on first use)."""
    return ControlNetSpec(
        id=f"{base_model.id}-controlnet-{kind}",
        kind=kind,
        family=base_model.family,
        source=ModelSource(kind="builtin", local_dir=f"{TINY_CONTROLNET_DIR}/{base_model.id}/{kind}"),
        license="apache-2.0 (random weights made by lookalike)",
        title=f"Tiny {kind} ControlNet for {base_model.id} (random weights)",
    )


def controlnet_for(base_model: BaseModelSpec, kind: str) -> ControlNetSpec | None:
    """The ControlNet of type ``kind`` for ``base_model`` (by its family), or None where none is offered."""
    if kind not in PREPROCESSORS or kind not in offered_kinds(base_model.family):
        return None
    if base_model.source.kind == "builtin":
        return tiny_controlnet(base_model, kind)
    return next(spec for spec in CONTROLNETS if spec.family == base_model.family and spec.kind == kind)


def controlnet_packs() -> tuple[ModelPack, ...]:
    """Every ControlNet pack ``lookalike models pull`` can fetch."""
    return tuple(spec.pack for spec in CONTROLNETS)


def controlnet_folder(models_dir: Path, base_model: BaseModelSpec, kind: str) -> Path:
    """The diffusers folder the engine loads (``ControlNetModel.from_pretrained``).

    A pulled pack is located and its digests checked (``model_unavailable``
    naming the pull command when missing); a tiny model's is written first if
    needed. Raises ``ValueError`` for a type not offered on this family: the
    prompt check refuses those at POST, so that is a caller's bug.
    """
    spec = controlnet_for(base_model, kind)
    if spec is None:
        raise ValueError(f"no {kind} ControlNet for {base_model.id}")
    if spec.builtin:
        from lookalike.catalog.tiny_controlnet import ensure_tiny_controlnet

        return ensure_tiny_controlnet(models_dir, base_model, spec)
    locate(spec.pack, models_dir)
    return Path(models_dir) / spec.source.local_dir
