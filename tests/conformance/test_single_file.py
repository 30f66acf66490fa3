"""An operator's own checkpoint: one ``.safetensors`` in the original LDM layout, added and run offline.

The checkpoint is the small SD1.5-layout model of the FaceID conformance
test (real cross-attention width, seeded random weights) written in the
layout of ``v1-5-pruned-emaonly.safetensors`` by ``ldm_layout`` (our
diffusers -> LDM key mapping). It is added with ``lookalike models add``
(with ``--config``: a folder of that small model's configs and tokenizer,
no weights, since the bundled config is SD1.5's full size) and generated
through ``Engine.generate`` with the network blocked. diffusers' own
converter, which ``from_single_file`` runs, is the reference for the
mapping: the converted UNet, VAE and text encoder must equal the folder's
tensor for tensor, and the images the same weights give from the diffusers
folder, to the last bit (same code after loading, CPU, float32).
The noise schedule every scheduler is built from must be the config file's
own keys, as for the folder: the instantiated PNDM scheduler's config (what
the single-file branch used before) adds PNDM's defaults, e.g.
``timestep_spacing`` "leading" where Euler's own is "linspace".
"""

from __future__ import annotations

import json
import shutil
import socket

import numpy as np
import pytest
from typer.testing import CliRunner

from .layouts import FACEID_ID_DIM, FACEID_SD15_WEIGHT
from .ldm_layout import ldm_state_dict

STEPS, SIZE, SEED = 2, 64, 7  # 64 px: the smallest size a prompt may ask for
PROMPT = "a studio portrait of a person"


def _unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(FACEID_ID_DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


IDENTITY = _unit(3)


@pytest.fixture(scope="module")
def made(tmp_path_factory, sd15_faceid):
    """(settings, diffusers folder, checkpoint file, config-only folder), the data dir seen by the CLI too."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextModel

    from lookalike.catalog.base_models import FACEID_SD15
    from lookalike.config import Settings, get_settings

    _, base, adapter = sd15_faceid
    root = tmp_path_factory.mktemp("single-file")
    data = root / "data"
    # The family's FaceID adapter, where `lookalike models pull` puts it (random, upstream layout).
    target = data / "models" / FACEID_SD15.weight_path
    target.parent.mkdir(parents=True)
    shutil.copy(adapter / FACEID_SD15_WEIGHT, target)
    checkpoint = root / "downloads" / "my-portraits-v1.safetensors"
    checkpoint.parent.mkdir()
    with torch.no_grad():
        state = ldm_state_dict(
            UNet2DConditionModel.from_pretrained(base, subfolder="unet"),
            AutoencoderKL.from_pretrained(base, subfolder="vae"),
            CLIPTextModel.from_pretrained(base, subfolder="text_encoder"),
        )
    save_file(state, str(checkpoint))
    config = root / "config"
    shutil.copytree(base, config, ignore=shutil.ignore_patterns("*.safetensors"))
    patch = pytest.MonkeyPatch()
    patch.setenv("LOOKALIKE_DATA_DIR", str(data))
    get_settings.cache_clear()
    yield Settings(device="cpu", max_cached_pipelines=2), base, checkpoint, config
    patch.undo()
    get_settings.cache_clear()


@pytest.fixture
def no_network(monkeypatch):
    """HF_HUB_OFFLINE as a user sets it, and any TCP connection an error."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    connect = socket.socket.connect

    def refuse(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"network access to {address} while loading a local checkpoint")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", refuse)


def _generate(engine, spec, scheduler: str):
    from lookalike.generation.request import GenerationRequest
    from lookalike.prompts.options import GenerationOptions

    result = engine.generate(
        GenerationRequest(
            prompt=PROMPT,
            base_model=spec,
            options=GenerationOptions(seed=SEED, steps=STEPS, cfg_scale=3.0, scheduler=scheduler, w=SIZE, h=SIZE),
            identities=((IDENTITY, 1.0),),
        )
    )
    return np.asarray(result.images[0].image, dtype=np.int16)


def test_an_added_checkpoint_loads_offline_and_equals_its_diffusers_folder(made, no_network):
    import dataclasses

    from lookalike.catalog.base_models import ModelSource, get_base_model
    from lookalike.cli.app import app
    from lookalike.generation.engine import Engine

    settings, base, checkpoint, config = made
    added = CliRunner().invoke(
        app, ["models", "add", "my-portraits", str(checkpoint), "--family", "sd15", "--config", str(config), "--json"]
    )
    assert added.exit_code == 0, added.output
    entry = json.loads(added.stdout)
    assert entry["gallery_id"] == 1001 and entry["pull_command"] == "lookalike models pull my-portraits"
    spec = get_base_model("my-portraits")
    assert get_base_model(1001) == spec and spec.source.kind == "single_file"
    listed = json.loads(CliRunner().invoke(app, ["models", "list", "--json"]).stdout)
    mine = next(m for m in listed["base_models"] if m["id"] == "my-portraits")
    assert mine["installed"] and mine["source"] == "single_file" and mine["path"] == str(checkpoint)

    folder = dataclasses.replace(spec, id="my-portraits-folder", source=ModelSource(kind="local", path=str(base)))
    engine = Engine(settings)
    from_file, from_folder = engine.pipeline(spec).pipe, engine.pipeline(folder).pipe
    for part in ("unet", "vae", "text_encoder"):
        theirs = getattr(from_folder, part).state_dict()
        ours = getattr(from_file, part).state_dict()
        # The FaceID processors diffusers adds are the same on both sides; the base weights must be too.
        assert ours.keys() == theirs.keys(), part
        worst = max(float((ours[k] - theirs[k]).abs().max()) for k in theirs if theirs[k].is_floating_point())
        assert worst == 0.0, f"{part}: the converted checkpoint differs from the folder by {worst}"
    # Every scheduler is built from this: the file's own keys, nothing an instantiated scheduler adds.
    assert engine.pipeline(spec).scheduler_config == engine.pipeline(folder).scheduler_config
    a, b = _generate(engine, spec, "ddim"), _generate(engine, folder, "ddim")
    assert a.std() > 1.0
    assert np.array_equal(a, b), f"images differ by {np.abs(a - b).max()} levels"


def test_the_checkpoint_file_gone_is_a_clear_error(made, no_network, tmp_path):
    from lookalike.catalog.user_models import add_user_model, remove_user_model
    from lookalike.errors import ModelUnavailableError
    from lookalike.execution.readiness import base_model_readiness
    from lookalike.generation.engine import Engine

    from lookalike.faces.backends.insightface import BUFFALO_L

    settings, _base, checkpoint, config = made
    for remote in BUFFALO_L.files:  # readiness looks for files, it loads nothing
        stand_in = settings.models_dir / remote.path
        stand_in.parent.mkdir(parents=True, exist_ok=True)
        stand_in.write_bytes(b"x")
    moved = tmp_path / "moved.safetensors"
    shutil.copy(checkpoint, moved)
    spec = add_user_model(settings, "soon-gone", moved, config=config)
    try:
        assert base_model_readiness(settings, spec).installed
        moved.unlink()
        after = base_model_readiness(settings, spec)
        assert not after.installed and after.missing == ()  # nothing to pull: it is the operator's own file
        with pytest.raises(ModelUnavailableError) as info:
            Engine(settings).pipeline(spec)
        assert str(moved) in info.value.message
    finally:
        remove_user_model(settings, "soon-gone")
