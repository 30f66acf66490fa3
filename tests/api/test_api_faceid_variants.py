"""Issue 13 and 14's generation features over HTTP on a real `lookalike serve` with the real engine (tiny models).

SDXL (gallery 998), FaceID PlusV2, two people in one picture with their own
likeness each, hires_fix and inpaint_faces: queued together, then read back.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.api.conftest import needs_runner, photo_upload, wait_done

pytestmark = [needs_runner]


@pytest.fixture(scope="module")
def two_tunes(api, photo_files):
    ids = []
    for title, photo in (("left one", "1.jpg"), ("right one", "hopper.jpg")):
        made = api.post(
            "/tunes",
            data={"tune[title]": title, "tune[name]": "woman", "tune[base_tune_id]": "999"},
            files=[photo_upload(photo_files[photo])],
        )
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    return ids


def post(api, gallery: int, text: str, **fields):
    response = api.post(
        f"/tunes/{gallery}/prompts",
        data={"prompt[text]": text, "prompt[steps]": "1", **{f"prompt[{k}]": str(v) for k, v in fields.items()}},
    )
    assert response.status_code == 201, response.text
    return response.json()


def parameters(api, done) -> str:
    return Image.open(io.BytesIO(api.get(done["images"][0]).content)).text["parameters"]


def test_sdxl_plusv2_two_people_and_the_passes(api, two_tunes):
    a, b = two_tunes
    queued = {
        "sdxl": post(api, 998, f"a portrait <faceid:{a}:1>"),
        "plusv2": post(api, 999, f"a portrait <faceid:{a}:0.9>", faceid_adapter="plusv2", faceid_s_scale="0.8"),
        "couple": post(api, 999, f"two friends <faceid:{a}:1> <faceid:{b}:0.8>", w=96, h=64),
        "passes": post(api, 999, f"full body <faceid:{a}:1>", w=128, h=128, hires_fix="true", inpaint_faces="true"),
    }
    assert queued["sdxl"]["base_model"] == "tiny-xl"
    assert queued["plusv2"]["resolved"]["faceid_adapter"] == "plusv2"
    assert queued["passes"]["hires_fix"] is True and queued["passes"]["inpaint_faces"] is True
    done = {name: wait_done(api, prompt["id"], timeout=240) for name, prompt in queued.items()}
    for name, prompt in done.items():
        assert prompt["status"] == "succeeded", (name, prompt["error"])

    assert "Model: tiny-xl" in parameters(api, done["sdxl"])
    assert "FaceID adapter: tiny-faceid-plusv2, " in parameters(api, done["plusv2"])
    assert "FaceID s_scale: 0.8" in parameters(api, done["plusv2"])

    couple = done["couple"]["image_details"][0]
    assert [person["tune_id"] for person in couple["identity_scores"]] == [a, b]
    assert "FaceID layout: columns, FaceID people: 2" in parameters(api, done["couple"])
    single = done["sdxl"]["image_details"][0]
    assert single["identity_scores"] is None  # one person: identity_score alone

    passes = done["passes"]
    assert [(d["width"], d["height"]) for d in passes["image_details"]] == [(128, 128)]
    assert "Size: 64x64" in parameters(api, passes) and "Hires resize: 128x128" in parameters(api, passes)
    # Both passes in the step summary, in the order they ran (the tiny model paints no face to redraw).
    assert passes["image_details"][0]["postprocess"] == (
        "hires_fix applied (64x64 to 128x128, strength 0.4); inpaint_faces skipped (no face found)"
    )


def test_a_layout_that_does_not_fit_the_tokens_is_refused_at_post(api, two_tunes):
    a, b = two_tunes
    response = api.post(
        "/tunes/999/prompts",
        data={"prompt[text]": f"<faceid:{a}:1> and <faceid:{b}:1>", "prompt[faceid_layout]": "0,0,0.5,1"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "prompt[faceid_layout]" and "one box per token" in response.json()["error"]
    plus_missing = api.post("/tunes/690204/prompts", data={"prompt[text]": f"<faceid:{a}:1>", "prompt[faceid_adapter]": "plusv2"})
    assert plus_missing.status_code == 503 and plus_missing.json()["code"] == "model_unavailable"
