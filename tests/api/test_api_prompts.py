"""Prompts over HTTP with a model-free engine: validation, queueing, results, isolation, idempotency, callbacks."""

from __future__ import annotations

import json

import httpx
import pytest

from lookalike.jobs.callbacks import SIGNATURE_HEADER, verify
from tests.api.conftest import photo_upload, wait_done
from tests.api.receiver import Receiver


@pytest.fixture(scope="module")
def people(fake_server, photo_files):
    """Two accounts, each with a tune on the tiny base model."""
    made = {}
    for name in ("ann", "ben"):
        key = fake_server.new_key(name)
        client = fake_server.client(key["key"])
        tune = client.post(
            "/tunes",
            data={"tune[title]": name, "tune[name]": "woman", "tune[base_tune_id]": "999"},
            files=[photo_upload(photo_files["1.jpg"])],
        )
        assert tune.status_code == 201, tune.text
        made[name] = {"key": key, "client": client, "tune": tune.json()}
    yield made
    for person in made.values():
        person["client"].close()


def test_prompt_on_a_gallery_model_is_queued_then_succeeds(fake_server, people):
    ann = people["ann"]
    text = f"a studio headshot of ohwx woman <faceid:{ann['tune']['id']}:0.8>"
    response = ann["client"].post("/tunes/999/prompts", data={"prompt[text]": text, "prompt[num_images]": "2"})
    assert response.status_code == 201, response.text
    queued = response.json()
    assert queued["status"] in ("queued", "processing", "succeeded")
    assert queued["tune_id"] == 999 and queued["base_model"] == "tiny"
    assert (queued["w"], queued["h"], queued["num_images"]) == (64, 64, 2)
    # As Astria shows them: null when not sent; what runs is in "resolved".
    assert queued["seed"] is None and queued["steps"] is None and queued["cfg_scale"] is None
    seed = queued["resolved"]["seed"]
    assert isinstance(seed, int) and queued["resolved"]["steps"] and queued["scheduler"] == "dpm++2m_karras"
    done = wait_done(ann["client"], queued["id"])
    assert done["status"] == "succeeded" and done["trained_at"] and done["error"] is None and done["user_error"] is None
    assert [d["seed"] for d in done["image_details"]] == [seed, seed + 1]
    image = ann["client"].get(done["images"][1])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    # The links are signed: they open without the key, and not once altered or stripped.
    assert httpx.get(done["images"][0]).status_code == 200
    assert httpx.get(done["images"][0].replace("/images/0.png", "/images/1.png")).status_code == 403
    assert httpx.get(done["images"][0].split("?")[0]).status_code == 401
    assert ann["client"].get(f"/tunes/999/prompts/{queued['id']}").json()["id"] == queued["id"]
    assert ann["client"].get(f"/tunes/{ann['tune']['id']}/prompts/{queued['id']}").status_code == 404


def test_prompt_on_the_persons_own_tune_as_json(people):
    ann = people["ann"]
    body = {"prompt": {"text": f"<faceid:{ann['tune']['id']}:1> smiling", "aspect_ratio": "3:2", "seed": 5, "face_swap": False}}
    created = ann["client"].post(f"/tunes/{ann['tune']['id']}/prompts", json=body)
    assert created.status_code == 201, created.text
    done = wait_done(ann["client"], created.json()["id"])
    assert done["status"] == "succeeded" and done["seed"] == 5 and done["aspect_ratio"] == "3:2"
    assert done["w"] > done["h"] and done["tune_id"] == ann["tune"]["id"]


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"prompt[w]": "100", "prompt[h]": "64"}, "invalid_field", "prompt[w]"),
        ({"prompt[num_images]": "9"}, "invalid_field", "prompt[num_images]"),
        ({"prompt[steps]": "many"}, "invalid_field", "prompt[steps]"),
        ({"prompt[scheduler]": "warp"}, "unknown_scheduler", "prompt[scheduler]"),
        ({"prompt[aspect_ratio]": "1:1", "prompt[w]": "64", "prompt[h]": "64"}, "invalid_field", "prompt[aspect_ratio]"),
        ({"prompt[hires_fix]": "sometimes"}, "invalid_field", "prompt[hires_fix]"),
        ({"prompt[hires_denoising_strength]": "0.5"}, "invalid_field", "prompt[hires_denoising_strength]"),
        ({"prompt[faceid_layout]": "diagonal"}, "invalid_field", "prompt[faceid_layout]"),
        ({"prompt[faceid_adapter]": "plusv9"}, "invalid_field", "prompt[faceid_adapter]"),
        ({"prompt[faceid_s_scale]": "1"}, "invalid_field", "prompt[faceid_s_scale]"),
        ({"prompt[face_swap]": "maybe"}, "invalid_field", "prompt[face_swap]"),
        ({"prompt[super_resolution]": "2"}, "invalid_field", "prompt[super_resolution]"),
        ({"prompt[callback]": "gopher://x"}, "invalid_callback_url", "prompt[callback]"),
    ],
)
def test_bad_options_are_422_naming_the_field(people, fields, code, field):
    text = f"portrait <faceid:{people['ann']['tune']['id']}:1>"
    response = people["ann"]["client"].post("/tunes/999/prompts", data={"prompt[text]": text, **fields})
    assert response.status_code == 422, response.text
    error = response.json()
    assert (error["code"], error["field"]) == (code, field)


def test_bad_text_and_foreign_tunes(people):
    ann, ben = people["ann"], people["ben"]
    missing = ann["client"].post("/tunes/999/prompts", data={"prompt[negative_prompt]": "blurry"})
    assert missing.json()["field"] == "prompt[text]"
    token = ann["client"].post("/tunes/999/prompts", data={"prompt[text]": "a <faceid:1:9>"})
    assert token.status_code == 422 and token.json()["code"] == "faceid_weight_out_of_range"
    foreign = ann["client"].post("/tunes/999/prompts", data={"prompt[text]": f"<faceid:{ben['tune']['id']}:1>"})
    assert foreign.status_code == 422 and foreign.json()["code"] == "unknown_tune"
    assert ann["client"].post("/tunes/123456/prompts", data={"prompt[text]": "x"}).status_code == 404
    assert ann["client"].post("/tunes/999/prompts", content=b"text=x", headers={"content-type": "text/plain"}).status_code == 422


def test_prompts_are_private_to_their_account(people):
    ann, ben = people["ann"], people["ben"]
    prompt = ann["client"].post("/tunes/999/prompts", data={"prompt[text]": "a castle"}).json()
    wait_done(ann["client"], prompt["id"])
    for path in (f"/prompts/{prompt['id']}", f"/tunes/999/prompts/{prompt['id']}", f"/prompts/{prompt['id']}/images/0.png"):
        response = ben["client"].get(path)
        assert response.status_code == 404 and response.json()["code"] == "prompt_not_found", path
    assert ben["client"].delete(f"/prompts/{prompt['id']}").status_code == 404
    assert all(p["id"] != prompt["id"] for p in ben["client"].get("/prompts", params={"limit": 120}).json())
    assert ann["client"].get(f"/prompts/{prompt['id']}").status_code == 200


def test_listing_paging_and_delete(fake_server):
    key = fake_server.new_key("lister")
    with fake_server.client(key["key"]) as client:
        ids = [client.post("/tunes/999/prompts", data={"prompt[text]": f"p{i}"}).json()["id"] for i in range(3)]
        assert [p["id"] for p in client.get("/prompts").json()] == ids[::-1]
        assert [p["id"] for p in client.get("/tunes/999/prompts", params={"limit": 1, "offset": 1}).json()] == [ids[1]]
        assert [p["id"] for p in client.get("/prompts", params={"before_id": ids[2]}).json()] == ids[1::-1]
        assert client.get("/tunes/2/prompts").json() == []  # another gallery model: none of these
        for prompt_id in ids:
            wait_done(client, prompt_id)
        assert client.delete(f"/prompts/{ids[0]}").json() == {
            "id": ids[0], "deleted": True, "message": "Prompt successfully deleted"
        }
        assert client.get(f"/prompts/{ids[0]}").status_code == 404
        assert client.get(f"/prompts/{ids[0]}/images/0.png").status_code == 404


def test_idempotency_key(people):
    client = people["ann"]["client"]
    body = {"prompt": {"text": "once only", "seed": 1}}
    first = client.post("/tunes/999/prompts", json=body, headers={"Idempotency-Key": "abc-1"})
    again = client.post("/tunes/999/prompts", json=body, headers={"Idempotency-Key": "abc-1"})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    other = client.post("/tunes/999/prompts", json={"prompt": {"text": "different"}}, headers={"Idempotency-Key": "abc-1"})
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"


def test_a_failed_generation_is_reported_and_the_server_goes_on(people):
    client = people["ann"]["client"]
    failed = wait_done(client, client.post("/tunes/999/prompts", data={"prompt[text]": "explode"}).json()["id"])
    assert failed["status"] == "failed" and failed["images"] == []
    assert failed["error"]["code"] == "generation_failed" and "on purpose" in failed["error"]["message"]
    after = wait_done(client, client.post("/tunes/999/prompts", data={"prompt[text]": "fine"}).json()["id"])
    assert after["status"] == "succeeded"


def test_prompt_callback_after_a_failed_first_attempt(people):
    ann = people["ann"]
    with Receiver(fail_first=1) as receiver:
        created = ann["client"].post("/tunes/999/prompts", data={"prompt[text]": "cb", "prompt[callback]": receiver.url})
        assert created.status_code == 201, created.text
        first, second = receiver.wait_for(2)[:2]
    assert (first.answered, second.answered) == (500, 204)
    assert verify(ann["key"]["callback_secret"], second.body, second.headers[SIGNATURE_HEADER])
    prompt = json.loads(second.body)["prompt"]
    assert prompt["id"] == created.json()["id"] and prompt["status"] == "succeeded" and len(prompt["images"]) == 1


def test_speedup_options_are_stored_and_checked(api):
    made = api.post("/tunes/999/prompts", json={"prompt": {"text": "a lighthouse", "deepcache": 2, "steps": 2}})
    assert made.status_code == 201, made.text
    assert made.json()["deepcache"] == 2 and made.json()["tiny_vae"] is False
    too_far = api.post("/tunes/999/prompts", data={"prompt[text]": "a lighthouse", "prompt[deepcache]": "99"})
    assert too_far.status_code == 422 and too_far.json()["field"] == "prompt[deepcache]"
    # TAESD's weights are not on this machine: refused at once, naming the pull.
    preview = api.post("/tunes/999/prompts", data={"prompt[text]": "a lighthouse", "prompt[tiny_vae]": "true"})
    assert preview.status_code == 503, preview.text
    assert "lookalike models pull taesd" in preview.json()["hint"]
