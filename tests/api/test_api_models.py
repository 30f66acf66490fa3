"""GET /models and the gallery's `installed`: what this server can run now, asked before any prompt."""

from __future__ import annotations

import httpx

from lookalike.catalog.base_models import REALISTIC_VISION_V51
from lookalike.config import Settings
from lookalike.execution.readiness import readiness


def test_models_say_what_is_installed_and_how_to_add_the_rest(api):
    models = api.get("/models").json()
    by_id = {m["id"]: m for m in models["base_models"]}
    # A fresh server has only the built-in tiny model: that is the one to offer first.
    assert models["default_base_tune_id"] == 999
    assert by_id[999]["installed"] is True and by_id[999]["missing"] == [] and by_id[999]["slug"] == "tiny"
    rv = by_id[690204]
    assert rv["installed"] is False and "realistic-vision-v5-1" in rv["missing"]
    assert "lookalike models pull realistic-vision-v5-1" in rv["pull_commands"]
    lcm = next(s for s in rv["schedulers"] if s["name"] == "lcm")
    assert lcm["installed"] is False and lcm["pull_command"].startswith("lookalike models pull ")
    assert all(s["installed"] for s in by_id[999]["schedulers"])  # the tiny model runs every scheduler as it is
    steps = {s["name"]: s for s in models["finishing_steps"]}
    assert list(steps) == ["face_swap", "face_correct", "super_resolution", "color_grading", "film_grain"]
    correct = steps["face_correct"]
    assert correct["installed"] is False and correct["pull_command"] == "lookalike models pull gfpgan_v1.4"
    # The gallery says the same per base model.
    gallery = {g["id"]: g for g in api.get("/gallery/tunes").json()}
    assert gallery[999]["installed"] is True and gallery[690204]["installed"] is False
    assert api.get("/gallery/tunes/999").json()["installed"] is True


def test_models_need_a_key(server):
    assert httpx.get(server.url + "/models").status_code == 401


def test_favicon_is_served(server):
    icon = httpx.get(server.url + "/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file


def test_readiness_follows_the_files_on_disk(tmp_path):
    settings = Settings(data_dir=tmp_path)
    before = readiness(settings)
    rv = next(m for m in before.base_models if m.spec.gallery_id == 690204)
    assert not rv.installed and before.default_base_model.id == "tiny"
    # Every file Realistic Vision and the buffalo_l encoder need (existence is what is checked; digests on load).
    from lookalike.faces.backends.insightface import BUFFALO_L

    for pack in (REALISTIC_VISION_V51.pack, BUFFALO_L):
        for remote in pack.files:
            path = settings.models_dir / remote.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x")
    gfpgan = settings.models_dir / "postprocess" / "GFPGANv1.4.pth"
    gfpgan.parent.mkdir(parents=True, exist_ok=True)
    gfpgan.write_bytes(b"x")
    after = readiness(settings)
    rv = next(m for m in after.base_models if m.spec.gallery_id == 690204)
    assert rv.installed and rv.missing == () and after.default_base_model.id == "realistic-vision-v5-1"
    assert next(s for s in after.finishing_steps if s.name == "face_correct").installed
