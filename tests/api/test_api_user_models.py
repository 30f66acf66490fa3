"""GET /models on a running server shows a checkpoint the operator added, without a restart."""

from __future__ import annotations

from lookalike.catalog.user_models import add_user_model, remove_user_model
from lookalike.config import Settings
from tests.catalog.checkpoint_files import sd15_like


def test_an_added_checkpoint_is_listed_with_what_it_still_needs(server, api, tmp_path):
    settings = Settings(data_dir=server.data_dir)
    spec = add_user_model(settings, "operator-own", sd15_like(tmp_path / "own.safetensors"), name="Our house style")
    try:
        models = api.get("/models").json()
        mine = next(m for m in models["base_models"] if m["slug"] == "operator-own")
        assert (mine["id"], mine["title"]) == (spec.gallery_id, "Our house style")
        assert mine["installed"] is False and mine["pull_commands"][0] == "lookalike models pull operator-own"
        assert models["default_base_tune_id"] != spec.gallery_id  # not runnable yet, so not the one to offer
    finally:
        remove_user_model(settings, "operator-own")
    assert all(m["slug"] != "operator-own" for m in api.get("/models").json()["base_models"])
