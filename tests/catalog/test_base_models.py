"""The base model catalog: lookups by slug and gallery id, files as data, light imports."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from lookalike.catalog.base_models import (
    BASE_MODELS,
    BUFFALO_L,
    DEFAULT_BASE_MODEL_ID,
    DLIB_RESNET,
    get_base_model,
    get_model_pack,
    model_packs,
)
from lookalike.catalog.files import HubFile
from lookalike.errors import UnknownBaseModelError


def test_default_is_realistic_vision_51():
    spec = get_base_model(DEFAULT_BASE_MODEL_ID)
    assert spec.source.repo == "SG161222/Realistic_Vision_V5.1_noVAE"
    assert spec.adapter.weight_name == "ip-adapter-faceid_sd15.bin"
    assert spec.adapter.lora_name == "ip-adapter-faceid_sd15_lora.safetensors"
    assert spec.adapter_encoder == BUFFALO_L and spec.adapter.embedding_dim == 512


@pytest.mark.parametrize("spec", BASE_MODELS, ids=lambda s: s.id)
def test_slug_int_and_digit_string_give_the_same_entry(spec):
    assert get_base_model(spec.id) is spec
    assert get_base_model(spec.gallery_id) is spec
    assert get_base_model(str(spec.gallery_id)) is spec
    assert get_base_model(f" {spec.id.upper()} ") is spec


def test_ids_are_unique():
    assert len({s.id for s in BASE_MODELS}) == len(BASE_MODELS)
    assert len({s.gallery_id for s in BASE_MODELS}) == len(BASE_MODELS)


@pytest.mark.parametrize("bad", ["nope", 12345, "12345", "", True, "1.0"])
def test_unknown_names_the_bad_value(bad):
    with pytest.raises(UnknownBaseModelError) as info:
        get_base_model(bad)
    assert info.value.code == "unknown_base_model"
    assert repr(bad) in info.value.message


def test_catalog_has_sd15_sdxl_and_tiny():
    families = {s.id: s.family for s in BASE_MODELS}
    assert families["sd-1-5"] == "sd15" and families["sdxl-base-1-0"] == "sdxl"
    assert get_base_model("sdxl-base-1-0").adapter.weight_name == "ip-adapter-faceid_sdxl.bin"
    tiny = get_base_model("tiny")
    assert tiny.adapter_encoder == DLIB_RESNET and tiny.adapter.embedding_dim == 128
    assert any(a.kind == "faceid_plusv2" for a in get_base_model("sd-1-5").adapter_options)


def test_pack_files_are_hub_urls_with_honest_digests():
    spec = get_base_model(DEFAULT_BASE_MODEL_ID)
    paths = {f.path for f in spec.pack.files}
    for part in ("unet/config.json", "unet/diffusion_pytorch_model.safetensors", "text_encoder/config.json",
                 "tokenizer/vocab.json", "scheduler/scheduler_config.json", "model_index.json"):
        assert f"hub/SG161222/Realistic_Vision_V5.1_noVAE/{part}" in paths
    assert "hub/stabilityai/sd-vae-ft-mse/diffusion_pytorch_model.safetensors" in paths
    assert "hub/h94/IP-Adapter-FaceID/ip-adapter-faceid_sd15.bin" in paths
    for pack in model_packs():
        for remote in pack.files:
            assert re.fullmatch(r"https://huggingface\.co/[\w.\-]+/[\w.\-]+/resolve/[\w.\-]+/.+", remote.url)
            assert remote.url.endswith(remote.path.split("/", 3)[-1])
            assert remote.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", remote.sha256)


@pytest.mark.parametrize("spec", [s for s in BASE_MODELS if s.vae is not None], ids=lambda s: s.id)
def test_a_model_with_its_own_vae_entry_does_not_pull_the_checkpoints_vae(spec):
    """The loader reads ``spec.vae`` instead of the checkpoint's vae/ (issue 13: pulled, never loaded)."""
    base = f"{spec.source.local_dir}/vae/"
    assert not [f.path for f in spec.pack.files if f.path.startswith(base)]
    vae_paths = {f.path for f in spec.vae.remote_files()}
    assert {f"{spec.vae.local_dir}/config.json", f"{spec.vae.local_dir}/diffusion_pytorch_model.safetensors"} <= vae_paths
    assert vae_paths <= {f.path for f in spec.pack.files}


def test_realistic_vision_pulls_sd_vae_ft_mse_and_not_its_own_vae():
    paths = {f.path for f in get_base_model("realistic-vision-v5-1").pack.files}
    assert not any(p.startswith("hub/SG161222/Realistic_Vision_V5.1_noVAE/vae/") for p in paths)
    assert "hub/stabilityai/sd-vae-ft-mse/diffusion_pytorch_model.safetensors" in paths
    # Models without a VAE entry keep their own.
    assert "hub/stable-diffusion-v1-5/stable-diffusion-v1-5/vae/diffusion_pytorch_model.safetensors" in {
        f.path for f in get_base_model("sd-1-5").pack.files
    }


# Repos for which no published commit was found; everything else must be pinned.
UNPINNED_REPOS = {"h1t/TCD-SD15-LoRA"}


def _all_hub_files():
    sources = [s.image_encoder for spec in BASE_MODELS for s in (spec.adapter, *spec.adapter_options)
               if s.image_encoder is not None]
    files = [f for pack in model_packs() for f in pack.files]
    return files + [f for source in sources for f in source.remote_files()]


def test_hub_files_are_pinned_to_a_commit():
    files = _all_hub_files()
    assert files and all(isinstance(f, HubFile) for f in files)
    for remote in files:
        if remote.repo_id in UNPINNED_REPOS:
            assert remote.revision == "main"
        else:
            assert re.fullmatch(r"[0-9a-f]{40}", remote.revision), (remote.repo_id, remote.revision)
        assert f"/resolve/{remote.revision}/{remote.filename}" in remote.url


def test_large_weights_of_the_default_models_carry_a_digest():
    spec = get_base_model("sd-1-5")
    digests = {f.filename: f.sha256 for f in spec.pack.files if f.filename.endswith(".safetensors")}
    assert digests and all(digests.values())
    for lora in spec.scheduler_loras:
        assert lora.pack.files[0].sha256


def test_scheduler_lora_packs():
    lcm = get_base_model(DEFAULT_BASE_MODEL_ID).scheduler_lora("lcm")
    assert lcm.source.repo == "latent-consistency/lcm-lora-sdv1-5"
    assert lcm.pack.pull_command == "lookalike models pull lcm-lora-sdv1-5"
    assert get_model_pack("lcm-lora-sdv1-5") == lcm.pack
    assert get_model_pack(690204).id == DEFAULT_BASE_MODEL_ID
    assert get_base_model("tiny").scheduler_lora("lcm") is None


def test_importing_the_catalog_and_prompts_pulls_no_torch():
    code = (
        "import sys, lookalike.catalog.base_models, lookalike.prompts, lookalike.generation, "
        "lookalike.generation.request, lookalike.generation.identity, lookalike.generation.schedulers; "
        "heavy = [m for m in ('torch', 'diffusers', 'transformers', 'compel') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
