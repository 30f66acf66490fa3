"""Astria's input-image fields over HTTP: multipart file, base64; checked at POST, stored, deleted; ControlNet runs.

The intake runs on the session's fake-engine server (no model); the model
checks and the end-to-end ControlNet prompt on its real server (tiny model).
A URL is fetched from a local web server in tests/jobs/test_input_images.py,
where the fetch policy may allow loopback without a server of its own.
"""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from tests.api.conftest import needs_runner, wait_done
from tests.conftest import encode


@pytest.fixture(scope="module")
def image_server(fake_server):
    return fake_server


@pytest.fixture(scope="module")
def client(fake_server):
    with fake_server.client(fake_server.new_key("images")["key"]) as http:
        yield http


@pytest.fixture(scope="module")
def photo(astronaut) -> bytes:
    return encode(astronaut[::4, ::4], "JPEG", quality=90)  # 128x128


def post(client, files=None, **fields):
    data = {"prompt[text]": "a portrait", **{f"prompt[{k}]": str(v) for k, v in fields.items()}}
    return client.post("/tunes/999/prompts", data=data, files=files)


def upload(data: bytes, name: str = "photo.jpg"):
    return [("prompt[input_image]", (name, data, "image/jpeg"))]


def test_an_uploaded_file_is_stored_with_the_prompt_and_deleted_with_it(image_server, client, photo):
    created = post(client, upload(photo), controlnet="canny", controlnet_conditioning_scale="0.6")
    assert created.status_code == 201, created.text
    prompt = created.json()
    assert (prompt["controlnet"], prompt["controlnet_conditioning_scale"], prompt["denoising_strength"]) == ("canny", 0.6, 0.8)
    assert prompt["controlnet_txt2img"] is False and prompt["resolved"]["controlnet"] == "canny"
    stored = image_server.data_dir / "blobs" / "prompts" / str(prompt["id"]) / "input.jpg"
    assert stored.read_bytes() == photo
    assert wait_done(client, prompt["id"])["status"] == "succeeded"
    assert client.delete(f"/prompts/{prompt['id']}").status_code == 200
    assert not stored.exists()


def test_by_data_url_and_a_url_under_the_fetch_rules(client, photo):
    data_url = "data:image/jpeg;base64," + base64.b64encode(photo).decode()
    as_json = client.post("/tunes/999/prompts", json={"prompt": {"text": "a portrait", "input_image_base64": data_url,
                                                                  "controlnet": "pose", "controlnet_txt2img": True}})
    assert as_json.status_code == 201, as_json.text
    assert as_json.json()["controlnet_txt2img"] is True and as_json.json()["denoising_strength"] is None
    # This server, like any by default, fetches nothing from its own network.
    private = post(client, input_image_url="http://127.0.0.1:9/photo.jpg", denoising_strength="0.5")
    assert private.status_code == 422 and private.json()["code"] == "image_url_forbidden"
    assert private.json()["field"] == "prompt[input_image_url]"


def test_an_idempotent_replay_compares_the_image(client, photo, astronaut):
    key = {"Idempotency-Key": "input-image-1"}
    data = {"prompt[text]": "a portrait", "prompt[denoising_strength]": "0.4"}
    first = client.post("/tunes/999/prompts", data=data, files=upload(photo), headers=key)
    again = client.post("/tunes/999/prompts", data=data, files=upload(photo, "renamed.jpg"), headers=key)
    assert first.status_code == again.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = client.post("/tunes/999/prompts", data=data, files=upload(encode(astronaut[::8, ::8])), headers=key)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"


@pytest.mark.parametrize(
    ("make", "fields", "code", "field"),
    [
        (lambda photo: upload(photo), {"input_image_url": "http://127.0.0.1:9/x.jpg"}, "invalid_field", "prompt[input_image_url]"),
        (lambda photo: upload(photo[: len(photo) // 3]), {}, "invalid_image", "prompt[input_image]"),
        (lambda photo: upload(b"just some text\n", "notes.txt"), {}, "invalid_image", "prompt[input_image]"),
        (lambda photo: upload(_huge()), {}, "image_too_large", "prompt[input_image]"),
        (lambda photo: None, {"controlnet": "canny"}, "input_image_required", "prompt[controlnet]"),
        (lambda photo: None, {"denoising_strength": "0.5"}, "input_image_required", "prompt[denoising_strength]"),
        (lambda photo: upload(photo), {"controlnet": "scribble"}, "invalid_field", "prompt[controlnet]"),
        (lambda photo: upload(photo), {"controlnet": "reference"}, "unsupported_field", "prompt[controlnet]"),
        (lambda photo: upload(photo), {"mask_image_url": "http://x/m.png"}, "unsupported_field", "prompt[mask_image_url]"),
    ],
)
def test_bad_input_images_are_422_and_nothing_is_queued(image_server, client, photo, make, fields, code, field):
    before = sorted((image_server.data_dir / "blobs" / "prompts").glob("*/input.*"))
    response = post(client, make(photo), **fields)
    # Too large is 413, as for tune photos (api/errors.py); every other refusal 422.
    assert response.status_code == (413 if code == "image_too_large" else 422), response.text
    assert (response.json()["code"], response.json()["field"]) == (code, field)
    assert sorted((image_server.data_dir / "blobs" / "prompts").glob("*/input.*")) == before


def _huge() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + bytes(3_200_000)  # over the test server's 3 MB upload limit, under the request's


def test_a_file_in_a_json_body_is_explained(client):
    response = client.post("/tunes/999/prompts", json={"prompt": {"text": "x", "input_image": "photo.jpg"}})
    assert response.status_code == 422 and "input_image_base64" in response.json()["message"]


@needs_runner
def test_a_missing_controlnet_is_refused_at_post_naming_the_pull(api, photo):
    response = api.post("/tunes/690204/prompts", data={"prompt[text]": "a portrait", "prompt[controlnet]": "pose"},
                        files=upload(photo))
    assert response.status_code == 503, response.text
    error = response.json()
    assert error["code"] == "model_unavailable" and "control_v11p_sd15_openpose" in error["details"]["missing"]
    assert "lookalike models pull control_v11p_sd15_openpose" in error["hint"]


@needs_runner
def test_canny_controlnet_end_to_end_on_the_tiny_model(api, photo):
    created = api.post(
        "/tunes/999/prompts",
        data={"prompt[text]": "a portrait", "prompt[controlnet]": "canny", "prompt[steps]": "1", "prompt[seed]": "7"},
        files=upload(photo),
    )
    assert created.status_code == 201, created.text
    done = wait_done(api, created.json()["id"], timeout=120)
    assert done["status"] == "succeeded", done["error"]
    image = Image.open(io.BytesIO(api.get(done["images"][0]).content))
    assert image.size == (64, 64)
    parameters = image.text["parameters"]
    assert 'ControlNet preprocessor: "canny (OpenCV, thresholds 100/200), img2img"' in parameters
    assert "Input image: " in parameters and "Denoising strength: 0.8" in parameters


def test_cli_with_server_uploads_the_file(fake_server, photo, tmp_path):
    from typer.testing import CliRunner

    from lookalike.cli.app import app

    photo_file = tmp_path / "me.jpg"
    photo_file.write_bytes(photo)
    key = fake_server.new_key("cli-input")["key"]
    result = CliRunner().invoke(app, ["prompts", "create", "a portrait", "--base-model", "999", "--input-image", str(photo_file),
                                 "--controlnet", "canny", "--controlnet-conditioning-scale", "0.5", "--server",
                                 fake_server.url, "--api-key", key, "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    stored = fake_server.data_dir / "blobs" / "prompts" / str(report["id"]) / "input.jpg"
    assert stored.read_bytes() == photo_file.read_bytes()
    with fake_server.client(key) as client:
        prompt = wait_done(client, report["id"])
    assert (prompt["controlnet"], prompt["controlnet_conditioning_scale"]) == ("canny", 0.5)
