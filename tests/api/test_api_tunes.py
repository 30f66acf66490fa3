"""Tunes over HTTP: Astria's multipart forms (curl and httpx), JSON, idempotency, paging, isolation, bad uploads."""

from __future__ import annotations

import json
import subprocess

import pytest


def _form(title: str, name: str = "woman", **extra) -> dict:
    return {"tune[title]": title, "tune[name]": name, "tune[model_type]": "faceid", **extra}


def _files(*paths, key="tune[images][]"):
    return [(key, (p.name, p.read_bytes(), "image/jpeg")) for p in paths]


def test_curl_form_from_the_astria_docs(server, alice, photo_files):
    cmd = [
        "curl", "-s", "-X", "POST", "-H", f"Authorization: Bearer {alice['key']}", f"{server.url}/tunes",
        "-F", "tune[title]=Unsplash Model Female - 1",
        "-F", "tune[name]=woman",
        "-F", "tune[base_tune_id]=690204",
        "-F", "tune[model_type]=faceid",
        "-F", f"tune[images][0]=@{photo_files['1.jpg']}",
        "-F", f"tune[images][1]=@{photo_files['2.jpg']}",
        "-w", "\n%{http_code}",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    body, status = out.rsplit("\n", 1)
    tune = json.loads(body)
    assert status == "201", body
    assert tune["title"] == "Unsplash Model Female - 1" and tune["name"] == "woman"
    assert tune["base_tune_id"] == 690204 and tune["model_type"] == "faceid" and tune["branch"] == "sd15"
    assert tune["trained_at"] is not None
    assert [i["filename"] for i in tune["images"]] == ["1.jpg", "2.jpg"]
    assert tune["url"].endswith(f"/tunes/{tune['id']}.json")
    assert tune["started_training_at"] == tune["created_at"] and tune["eta"] == tune["trained_at"]


def test_repeated_brackets_form_and_title_idempotency(api, photo_files):
    first = api.post("/tunes", data=_form("Ada", **{"tune[base_tune_id]": "999"}), files=_files(photo_files["1.jpg"], photo_files["2.jpg"]))
    assert first.status_code == 201, first.text
    assert first.json()["base_model"] == "tiny" and len(first.json()["images"]) == 2
    # Astria's default: a title is not a key unless idempotency is turned on
    # (LOOKALIKE_TUNE_TITLE_IDEMPOTENT; tests/jobs/test_intake.py), so this is a second tune.
    again = api.post("/tunes", data=_form("Ada"), files=_files(photo_files["hopper.jpg"]))
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert again.json()["id"] > first.json()["id"]


def test_json_body(api, photo_files):
    no_photos = api.post("/tunes", json={"tune": {"title": "json", "name": "man"}})
    assert no_photos.status_code == 422 and no_photos.json()["code"] == "no_photos"
    # The server fetches image_urls, but never from its own network unless told it may.
    urls = api.post("/tunes", json={"tune": {"title": "json", "name": "man", "image_urls": ["http://127.0.0.1/x.jpg"]}})
    assert urls.status_code == 422
    assert urls.json()["code"] == "image_url_forbidden" and urls.json()["image_index"] == 0
    unknown = api.post("/tunes", json={"tune": {"title": "json", "name": "man", "titel": "typo"}})
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_field"
    assert unknown.json()["field"] == "tune[titel]"
    assert api.post("/tunes", json={"title": "x"}).json()["field"] == "tune"
    assert api.post("/tunes", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"tune[name]": "woman"}, "invalid_field", "tune[title]"),
        ({"tune[title]": "t", "tune[name]": "dog"}, "invalid_field", "tune[name]"),
        ({"tune[title]": "t", "tune[name]": "woman", "tune[model_type]": "pti"}, "invalid_field", "tune[model_type]"),
        ({"tune[title]": "t", "tune[name]": "woman", "tune[base_tune_id]": "77"}, "unknown_base_model", "tune[base_tune_id]"),
        ({"tune[title]": "t", "tune[name]": "woman", "tune[callback]": "ftp://x"}, "invalid_callback_url", "tune[callback]"),
        ({"tune[title]": "t", "tune[name]": "woman", "tune[images][]": "not-a-file"}, "invalid_field", "tune[images]"),
    ],
)
def test_bad_fields_are_422_with_the_field(api, photo_files, fields, code, field):
    files = None if "tune[images][]" in fields else _files(photo_files["1.jpg"])
    response = api.post("/tunes", data=fields, files=files)
    assert response.status_code == 422, response.text
    error = response.json()
    assert (error["code"], error["field"]) == (code, field)


def test_bad_uploads(api, photo_files, tmp_path):
    text = api.post("/tunes", data=_form("txt"), files=_files(photo_files["1.jpg"], photo_files["notes.txt"]))
    assert text.status_code == 422
    assert text.json()["code"] == "invalid_image" and text.json()["image_index"] == 1
    cat = api.post("/tunes", data=_form("cat"), files=_files(photo_files["cat.jpg"]))
    assert cat.status_code == 422 and cat.json()["code"] == "no_face"
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8" + b"\0" * (4 * 1024 * 1024))  # over the server's 3 MB per photo
    too_big = api.post("/tunes", data=_form("big"), files=_files(big))
    assert too_big.status_code == 413 and too_big.json()["code"] == "image_too_large"
    huge = tmp_path / "huge.jpg"
    huge.write_bytes(b"\0" * (13 * 1024 * 1024))  # over the 12 MB request limit
    body_too_big = api.post("/tunes", data=_form("huge"), files=_files(huge))
    assert body_too_big.status_code == 413 and body_too_big.json()["code"] == "request_too_large"
    assert api.get("/tunes", params={"limit": 120}).status_code == 200  # the server is fine after all that


def test_pagination(server, photo_files):
    key = server.new_key("pager")
    with server.client(key["key"]) as client:
        ids = []
        for i in range(3):
            response = client.post("/tunes", data=_form(f"page {i}"), files=_files(photo_files["1.jpg"]))
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        newest_first = ids[::-1]
        assert [t["id"] for t in client.get("/tunes").json()] == newest_first
        assert [t["id"] for t in client.get("/tunes", params={"limit": 2}).json()] == newest_first[:2]
        assert [t["id"] for t in client.get("/tunes", params={"limit": 2, "offset": 2}).json()] == newest_first[2:]
        assert [t["id"] for t in client.get("/tunes", params={"before_id": ids[2]}).json()] == newest_first[1:]
        assert client.get("/tunes", params={"limit": 0}).status_code == 422


def test_accounts_are_isolated(server, api, bob, photo_files):
    mine = api.post("/tunes", data=_form("private"), files=_files(photo_files["1.jpg"])).json()
    with server.client(bob["key"]) as other:
        assert other.get(f"/tunes/{mine['id']}").status_code == 404
        assert other.get(f"/tunes/{mine['id']}").json()["code"] == "tune_not_found"
        assert other.delete(f"/tunes/{mine['id']}").status_code == 404
        assert all(t["id"] != mine["id"] for t in other.get("/tunes", params={"limit": 120}).json())
        assert other.get(f"/tunes/{mine['id']}/prompts").status_code == 404
        posted = other.post(f"/tunes/{mine['id']}/prompts", data={"prompt[text]": "x"})
        assert posted.status_code == 404
        # Same title in another account is another tune.
        theirs = other.post("/tunes", data=_form("private"), files=_files(photo_files["1.jpg"]))
        assert theirs.status_code == 201 and theirs.json()["id"] != mine["id"]
    assert api.get(f"/tunes/{mine['id']}").status_code == 200


def test_delete(api, photo_files):
    tune = api.post("/tunes", data=_form("to delete"), files=_files(photo_files["1.jpg"])).json()
    assert api.delete(f"/tunes/{tune['id']}").json() == {
        "id": tune["id"], "deleted": True, "message": "Tune successfully deleted"
    }
    assert api.get(f"/tunes/{tune['id']}").status_code == 404
    assert api.delete(f"/tunes/{tune['id']}").status_code == 404
