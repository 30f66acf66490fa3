"""Astria's finishing flags over HTTP, on the real engine and the tiny model (gallery id 999)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.api.conftest import needs_runner, photo_upload, wait_done

pytestmark = [needs_runner]


def test_true_flags_are_applied_and_recorded(server, api, photo_files):
    tune = api.post(
        "/tunes",
        data={"tune[title]": "finishing", "tune[name]": "woman", "tune[base_tune_id]": "999"},
        files=[photo_upload(photo_files["hopper.jpg"])],
    )
    assert tune.status_code == 201, tune.text
    created = api.post(
        "/tunes/999/prompts",
        data={
            "prompt[text]": f"a headshot of ohwx woman <faceid:{tune.json()['id']}:1.0>",
            "prompt[steps]": "1",
            "prompt[w]": "64",
            "prompt[h]": "64",
            "prompt[super_resolution]": "true",
            "prompt[face_swap]": "true",
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["super_resolution"] is True and created.json()["face_swap"] is True
    assert created.json()["face_correct"] is False
    done = wait_done(api, created.json()["id"], timeout=120)
    assert done["status"] == "succeeded", done["error"]
    assert (done["w"], done["h"]) == (64, 64)  # what was generated
    assert [(d["width"], d["height"]) for d in done["image_details"]] == [(256, 256)]  # what was delivered
    png = Image.open(io.BytesIO(api.get(done["images"][0]).content))
    assert png.size == (256, 256)
    # The tiny model paints no face: the swap says why it did nothing, the upscale ran.
    parameters = png.text["parameters"]
    assert 'Postprocess: "face_swap skipped (no face found' in parameters
    assert parameters.endswith('; super_resolution applied"')
    # The same record in the API, so a client need not read PNG chunks.
    summary = done["image_details"][0]["postprocess"]
    assert summary.startswith("face_swap skipped (no face found") and summary.endswith("; super_resolution applied")


@pytest.mark.parametrize("body_kind", ["form", "json"])
def test_a_step_without_weights_is_refused_at_once_naming_the_pull(api, body_kind):
    if body_kind == "form":
        response = api.post("/tunes/999/prompts", data={"prompt[text]": "a lighthouse", "prompt[face_correct]": "1"})
    else:
        response = api.post("/tunes/999/prompts", json={"prompt": {"text": "a lighthouse", "face_correct": True}})
    assert response.status_code == 503, response.text
    error = response.json()
    assert error["code"] == "model_unavailable"
    assert "lookalike models pull gfpgan_v1.4" in error["hint"]


def test_face_swap_without_a_tune_in_the_text_is_422(api):
    response = api.post("/tunes/999/prompts", data={"prompt[text]": "a lighthouse", "prompt[face_swap]": "true"})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "prompt[face_swap]"
