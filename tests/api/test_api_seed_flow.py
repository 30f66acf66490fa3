"""The whole flow on the real engine: photos -> tune -> <faceid> prompt on the tiny model -> PNGs."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.api.conftest import needs_runner, photo_upload, wait_done

pytestmark = [needs_runner, pytest.mark.slow]


def test_seed_flow_on_the_tiny_model(server, api, photo_files, tmp_path):
    tune = api.post(
        "/tunes",
        data={"tune[title]": "seed flow", "tune[name]": "woman", "tune[base_tune_id]": "999", "tune[model_type]": "faceid"},
        files=[photo_upload(photo_files["1.jpg"]), photo_upload(photo_files["2.jpg"])],
    )
    assert tune.status_code == 201, tune.text
    tune_id = tune.json()["id"]
    created = api.post(
        "/tunes/999/prompts",
        data={
            "prompt[text]": f"a professional headshot of ohwx woman <faceid:{tune_id}:1.0>",
            "prompt[negative_prompt]": "blurry, low resolution",
            "prompt[num_images]": "2",
            "prompt[steps]": "2",
            "prompt[seed]": "42",
        },
    )
    assert created.status_code == 201, created.text
    done = wait_done(api, created.json()["id"], timeout=120)
    assert done["status"] == "succeeded", done["error"]
    assert len(done["images"]) == 2
    for n, url in enumerate(done["images"]):
        png = api.get(url)
        assert png.status_code == 200
        (tmp_path / f"{n}.png").write_bytes(png.content)
        assert Image.open(io.BytesIO(png.content)).size == (64, 64)
