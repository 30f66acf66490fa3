"""POST /faces/check answers what POST /tunes would say about one photo; POST /keys is closed by default."""

from __future__ import annotations

import base64
import io

from PIL import Image


def check(api, path, index: int | None = None):
    data = {} if index is None else {"index": str(index)}
    return api.post("/faces/check", data=data, files={"image": (path.name, path.read_bytes(), "image/jpeg")})


def test_a_good_photo_gives_its_quality_and_aligned_crop(api, photo_files):
    answer = check(api, photo_files["1.jpg"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ok"] is True and body["error"] is None
    assert body["face"]["quality"]["ok"] is True
    assert body["face"]["quality"]["size_px"] > 64
    assert body["crop"].startswith("data:image/png;base64,")
    crop = Image.open(io.BytesIO(base64.b64decode(body["crop"].split(",", 1)[1])))
    assert crop.size == (256, 256)


def test_a_cat_is_refused_with_the_tune_error_and_its_index(api, photo_files):
    body = check(api, photo_files["cat.jpg"], index=3).json()
    assert body["ok"] is False and body["crop"] is None
    assert body["error"]["code"] == "no_face"
    assert body["error"]["image_index"] == 3
    assert "Photo 3" in body["error"]["message"]


def test_not_an_image_is_refused_as_such(api, photo_files):
    body = check(api, photo_files["notes.txt"]).json()
    assert body["ok"] is False
    assert body["error"]["code"] == "invalid_image"


def test_the_check_needs_a_key_and_a_file(server, api):
    assert server.client("wrong").post("/faces/check", files={"image": ("a.jpg", b"x")}).status_code == 401
    missing = api.post("/faces/check", json={"image": "not a file"})
    assert missing.status_code == 422
    assert missing.json()["field"] == "image"
    bad_index = api.post("/faces/check", data={"index": "-1"}, files={"image": ("a.jpg", b"x")})
    assert bad_index.status_code == 422 and bad_index.json()["field"] == "index"


def test_signup_is_closed_unless_the_operator_opens_it(server):
    import httpx

    answer = httpx.post(server.url + "/keys", json={"name": "me"})
    assert answer.status_code == 403
    assert answer.json()["code"] == "signup_closed"
    assert "--open-signup" in answer.json()["hint"]


def test_the_studio_page_and_its_files_are_served(server):
    import httpx

    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and "lookalike studio" in page.text
    script = httpx.get(server.url + "/static/app.js")
    assert script.status_code == 200 and "/faces/check" in script.text
    presets = httpx.get(server.url + "/static/presets.json").json()
    assert len(presets) == 4 and all("{ID}" in p["text"] for p in presets)
    missing = httpx.get(server.url + "/static/nope.js")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
