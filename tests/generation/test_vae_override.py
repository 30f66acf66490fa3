"""A base model entry with its own VAE (Realistic Vision + sd-vae-ft-mse) loads that VAE and
needs no vae/ in the checkpoint folder, which is why its pack no longer pulls one (issue 13)."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np


def test_the_vae_entry_is_loaded_and_the_checkpoint_needs_no_vae_folder(gen_settings, tiny, tmp_path):
    import torch

    from lookalike.catalog.base_models import ModelSource
    from lookalike.catalog.tiny import ensure_tiny_model
    from lookalike.generation.pipelines import load_pipeline

    tiny_root = ensure_tiny_model(gen_settings.models_dir)
    models = tmp_path / "models"
    base = models / "user" / "checkpoint"
    shutil.copytree(tiny_root, base, ignore=shutil.ignore_patterns("vae", "ip-adapter"))
    shutil.copytree(tiny_root / "vae", models / "user" / "vae-ft")
    shutil.copytree(tiny_root / "ip-adapter", models / tiny.adapter.source.local_dir)
    spec = replace(
        tiny,
        id="vae-override",
        source=ModelSource(kind="local", path=str(base)),
        vae=ModelSource(kind="local", local_dir="user/vae-ft"),
    )

    loaded = load_pipeline(spec, models, torch.device("cpu"), torch.float32)

    assert not (base / "vae").exists()
    assert loaded.pipe.vae.config._name_or_path == str(models / "user" / "vae-ft")
    reference = loaded.pipe.vae.__class__.from_pretrained(str(tiny_root / "vae"))
    for name, tensor in reference.state_dict().items():
        assert np.array_equal(loaded.pipe.vae.state_dict()[name].numpy(), tensor.numpy()), name
