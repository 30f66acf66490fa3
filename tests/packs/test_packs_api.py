"""Packs over HTTP on a real server (fake prompt engine): list, get, POST /p/{id}/tunes in every form."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import photo_upload, wait_done
from tests.api.receiver import Receiver

LIST_FIELDS = {
    "id", "base_tune_id", "user_id", "slug", "title", "token", "created_at", "updated_at", "multiplier",
    "model_type", "public_at", "cost_mc_hash", "classes",
}  # fmt: skip
GET_FIELDS = {
    "id", "slug", "title", "cover_url", "created_at", "updated_at", "public_at", "unlisted_at", "costs", "logo",
    "prompts_per_class", "base_tune_id", "token", "model_type", "prompts", "characteristics",
}  # fmt: skip


def _tune_count(papi) -> int:
    return len(papi.get("/tunes", params={"limit": 120}).json())


def _prompts(papi, tune_id: int) -> list[dict]:
    return sorted(papi.get(f"/tunes/{tune_id}/prompts").json(), key=lambda prompt: prompt["id"])


def _photo(photo_files):
    return [photo_upload(photo_files["1.jpg"])]


def test_list_both_paths_and_filters(papi):
    packs = papi.get("/packs")
    assert packs.status_code == 200, packs.text
    assert [pack["id"] for pack in packs.json()] == [1, 2, 3, 4, 100, 101]
    assert papi.get("/gallery/packs").json() == packs.json()
    first = packs.json()[0]
    assert set(first) == LIST_FIELDS
    assert first["slug"] == "professional-networking-headshots" and first["base_tune_id"] == 690204
    assert first["user_id"] is None and first["multiplier"] is None and first["cost_mc_hash"] == {}
    assert first["model_type"] == "faceid" and first["token"] == "ohwx" and first["public_at"].endswith("Z")
    assert first["classes"] == ["man", "woman", "person"]
    for query in ({"public": "true"}, {"listed": "true"}, {"public": "true", "listed": "true"}):
        assert [pack["id"] for pack in papi.get("/gallery/packs", params=query).json()] == [1, 2, 3, 4, 100]
    assert len(papi.get("/packs", params={"public": "false"}).json()) == 6
    assert papi.get("/packs", params={"public": "maybe"}).status_code == 422
    assert papi.get("/packs.json").json() == packs.json()


def test_a_key_is_needed(pack_server):
    import httpx

    assert httpx.get(pack_server.url + "/packs").status_code == 401
    assert httpx.get(pack_server.url + "/p/1").status_code == 401


def test_get_one_pack(papi):
    pack = papi.get("/p/1")
    assert pack.status_code == 200, pack.text
    body = pack.json()
    assert set(body) == GET_FIELDS
    assert body["costs"] is None and body["logo"] is None and body["cover_url"] is None and body["unlisted_at"] is None
    assert set(body["prompts_per_class"]) == {"man", "woman", "person"}
    for name, refs in body["prompts_per_class"].items():
        assert refs and all(ref["images"] == [] for ref in refs)
        assert [ref["id"] for ref in refs] == [prompt["id"] for prompt in body["prompts"][name]]
    woman = body["prompts"]["woman"][0]
    assert "<faceid:{tune_id}:1> woman" in woman["text"] and woman["cfg_scale"] == 3 and "blurry" in woman["negative_prompt"]
    assert papi.get("/p/1.json").json() == body
    hidden = papi.get("/p/101").json()
    assert hidden["public_at"] is None and hidden["unlisted_at"] and hidden["characteristics"] == ["eye_color", "hair"]
    missing = papi.get("/p/9999")
    assert missing.status_code == 404 and missing.json()["code"] == "pack_not_found"
    assert papi.get("/p/abc").status_code == 422


def test_a_tune_from_photos_queues_the_packs_prompts_for_its_class(papi, photo_files):
    with Receiver() as receiver:
        made = papi.post(
            "/p/100/tunes",
            data={
                "tune[title]": "Pack Ada",
                "tune[name]": "woman",
                "tune[callback]": receiver.url + "?tune",
                "tune[prompt_attributes][callback]": receiver.url + "?prompt",
            },
            files=_photo(photo_files),
        )
        assert made.status_code == 201, made.text
        tune = made.json()
        assert tune["title"] == "Pack Ada" and tune["name"] == "woman" and tune["model_type"] == "faceid"
        assert tune["base_tune_id"] == 999 and tune["base_model"] == "tiny" and len(tune["images"]) == 1
        prompts = _prompts(papi, tune["id"])
        assert [prompt["text"] for prompt in prompts] == [
            f"studio portrait of <faceid:{tune['id']}:1> woman",
            f"<faceid:{tune['id']}:1> woman reading in a library",
        ]
        assert prompts[0]["negative_prompt"] == "blurry, low resolution, bad lighting" and prompts[0]["num_images"] == 2
        assert prompts[1]["cfg_scale"] == 3 and prompts[1]["aspect_ratio"] == "4:5"
        assert all(prompt["tune_id"] == tune["id"] and prompt["callback"].endswith("?prompt") for prompt in prompts)
        done = [wait_done(papi, prompt["id"]) for prompt in prompts]
        assert [prompt["status"] for prompt in done] == ["succeeded", "succeeded"]
        assert len(done[0]["images"]) == 2
        received = receiver.wait_for(3)
    events = sorted(request.headers["X-Lookalike-Event"] for request in received)
    assert events == ["prompt", "prompt", "tune"]
    tune_callback = next(request for request in received if request.path.endswith("?tune"))
    assert json.loads(tune_callback.body)["tune"]["id"] == tune["id"]


def test_a_class_the_pack_lacks_is_a_422_naming_its_classes(papi, photo_files):
    before = _tune_count(papi)
    for pack_id, name, classes in ((101, "man", "woman"), (100, "boy", "woman, man"), (1, "girl", "man, woman, person")):
        refused = papi.post(f"/p/{pack_id}/tunes", data={"tune[title]": "x", "tune[name]": name}, files=_photo(photo_files))
        assert refused.status_code == 422, refused.text
        error = refused.json()
        assert error["code"] == "invalid_field" and error["field"] == "tune[name]"
        assert f"its classes are {classes}" in error["message"] and error["details"]["classes"] == classes.split(", ")
    assert _tune_count(papi) == before


def test_a_builtin_pack_on_a_mock_tune(papi, photo_files):
    made = papi.post(
        "/p/4/tunes",
        json={"tune": {"title": "Professor", "name": "man", "branch": "fast", "image_urls": []}},
    )
    # JSON has no files: image_urls with nothing in it is "no photos", as POST /tunes says.
    assert made.status_code == 422 and made.json()["code"] == "no_photos"
    made = papi.post(
        "/p/4/tunes", data={"tune[title]": "Professor", "tune[name]": "man", "tune[branch]": "fast"}, files=_photo(photo_files)
    )
    assert made.status_code == 201, made.text
    tune = made.json()
    assert tune["branch"] == "fast" and tune["base_tune_id"] == 690204
    prompts = _prompts(papi, tune["id"])
    assert len(prompts) == 2 and all("history professor" in prompt["text"] for prompt in prompts)
    assert all(f"<faceid:{tune['id']}:1> man" in prompt["text"] for prompt in prompts)
    done = [wait_done(papi, prompt["id"]) for prompt in prompts]
    assert all(prompt["status"] == "succeeded" and len(prompt["images"]) == 4 for prompt in done)


def test_prompt_ids_pick_some_of_the_prompts(papi, photo_files):
    made = papi.post(
        "/p/100/tunes",
        data={"tune[title]": "Only two", "tune[name]": "woman", "tune[prompt_ids][]": "2"},
        files=_photo(photo_files),
    )
    assert made.status_code == 201, made.text
    prompts = _prompts(papi, made.json()["id"])
    assert [prompt["text"].endswith("reading in a library") for prompt in prompts] == [True]
    before = _tune_count(papi)
    for ids, words in (("99", "has no prompt 99"), ("3", "prompt 3 is not for class woman")):
        refused = papi.post(
            "/p/100/tunes",
            data={"tune[title]": "x", "tune[name]": "woman", "tune[prompt_ids][]": ids},
            files=_photo(photo_files),
        )
        assert refused.status_code == 422 and refused.json()["field"] == "tune[prompt_ids]", refused.text
        assert words in refused.json()["message"]
    assert _tune_count(papi) == before


def test_tune_ids_put_the_prompts_on_existing_tunes(pack_server, papi, photo_files):
    woman = papi.post("/tunes", data={"tune[title]": "w", "tune[name]": "woman", "tune[base_tune_id]": "999"}, files=_photo(photo_files))
    man = papi.post("/tunes", data={"tune[title]": "m", "tune[name]": "man", "tune[base_tune_id]": "999"}, files=_photo(photo_files))
    assert woman.status_code == man.status_code == 201
    woman, man = woman.json(), man.json()
    made = papi.post("/p/100/tunes", json={"tune": {"tune_ids": [woman["id"], man["id"]]}})
    assert made.status_code == 201, made.text
    assert [tune["id"] for tune in made.json()] == [woman["id"], man["id"]]
    assert len(_prompts(papi, woman["id"])) == 2
    assert [prompt["text"] for prompt in _prompts(papi, man["id"])] == [f"portrait of <faceid:{man['id']}:0.8> man in a park"]
    # With prompt_ids, as a form.
    again = papi.post("/p/100/tunes", data={"tune[tune_ids][]": str(woman["id"]), "tune[prompt_ids][]": "1"})
    assert again.status_code == 201, again.text
    assert len(_prompts(papi, woman["id"])) == 3
    # Another account's tune answers like a missing one; a pack without the tune's class is a 422.
    other = pack_server.client(pack_server.new_key("other")["key"])
    for client, body, field in (
        (other, {"tune_ids": [woman["id"]]}, "tune[tune_ids]"),
        (papi, {"tune_ids": [2_000_000]}, "tune[tune_ids]"),
        (papi, {"tune_ids": [man["id"]], "characteristics": {"eye_color": "x", "hair": "y"}}, "tune[tune_ids]"),
        (papi, {"tune_ids": [woman["id"]], "title": "t"}, "tune[title]"),
    ):
        pack_id = 101 if "characteristics" in body else 100
        refused = client.post(f"/p/{pack_id}/tunes", json={"tune": body})
        assert refused.status_code == 422 and refused.json()["field"] == field, refused.text
    other.close()
    assert len(_prompts(papi, woman["id"])) == 3


def test_characteristics_fill_the_text(papi, photo_files):
    before = _tune_count(papi)
    missing = papi.post(
        "/p/101/tunes",
        data={"tune[title]": "c", "tune[name]": "woman", "tune[characteristics][hair]": "red hair"},
        files=_photo(photo_files),
    )
    assert missing.status_code == 422 and missing.json()["field"] == "tune[characteristics]"
    assert missing.json()["details"]["missing"] == ["eye_color"]
    assert _tune_count(papi) == before
    made = papi.post(
        "/p/101/tunes",
        data={
            "tune[title]": "c",
            "tune[name]": "woman",
            "tune[characteristics][eye_color]": "green eyes",
            "tune[characteristics][hair]": "red hair",
        },
        files=_photo(photo_files),
    )
    assert made.status_code == 201, made.text
    tune_id = made.json()["id"]
    assert [prompt["text"] for prompt in _prompts(papi, tune_id)] == [
        f"close-up of <faceid:{tune_id}:1> woman with green eyes, red hair"
    ]


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"tune[prompts_callback]": "https://example.com/all"}, "unsupported_field", "tune[prompts_callback]"),
        ({"tune[base_tune_id]": "2"}, "invalid_field", "tune[base_tune_id]"),
        ({"tune[prompt_attributes][callback]": "ftp://x"}, "invalid_callback_url", "tune[prompt_attributes][callback]"),
        ({"tune[prompt_attributes][num_images]": "3"}, "unsupported_field", "tune[prompt_attributes][num_images]"),
        ({"tune[characteristics][bad key]": "x"}, "invalid_field", "tune[characteristics][bad key]"),
        ({"tune[model_type]": "lora"}, "invalid_field", "tune[model_type]"),
    ],
)
def test_refused_fields_make_nothing(papi, photo_files, fields, code, field):
    before = _tune_count(papi)
    refused = papi.post("/p/100/tunes", data={"tune[title]": "r", "tune[name]": "woman", **fields}, files=_photo(photo_files))
    assert refused.status_code == 422, refused.text
    assert (refused.json()["code"], refused.json()["field"]) == (code, field)
    assert _tune_count(papi) == before


def test_the_pack_base_model_may_be_repeated_and_unknown_packs_are_404(papi, photo_files):
    same = papi.post(
        "/p/100/tunes", data={"tune[title]": "s", "tune[name]": "man", "tune[base_tune_id]": "tiny"}, files=_photo(photo_files)
    )
    assert same.status_code == 201 and same.json()["base_tune_id"] == 999
    missing = papi.post("/p/9999/tunes", data={"tune[title]": "s"})
    assert missing.status_code == 404 and missing.json()["code"] == "pack_not_found"


def test_openapi_documents_the_pack_routes(papi):
    paths = papi.get("/openapi.json").json()["paths"]
    assert {"/packs", "/gallery/packs", "/p/{pack_id}", "/p/{pack_id}/tunes"} <= set(paths)
    form = paths["/p/{pack_id}/tunes"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"tune[tune_ids]", "tune[prompt_ids]", "tune[characteristics]", "tune[images][]"} <= set(form["properties"])


def test_a_bad_pack_file_stops_the_server_naming_file_and_field(tmp_path):
    from tests.api.conftest import Server
    from tests.packs.packdata import OPERATOR_PACKS, write_packs

    broken = {**OPERATOR_PACKS["tiny-portraits.json"], "id": 3}
    folder = write_packs(tmp_path / "packs", {"clash.json": broken})
    server = Server(tmp_path / "data", env={"LOOKALIKE_PACKS_DIR": str(folder)})
    with pytest.raises(RuntimeError, match="server exited") as failed:
        server.start(wait_ready=False)
    assert f"Pack file {folder / 'clash.json'}, field id: 3 is already the id of builtin/social-media-influencer.json" in str(
        failed.value
    )
