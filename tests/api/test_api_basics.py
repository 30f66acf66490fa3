"""Health, auth, error shape, docs: the parts of the contract every route shares."""

from __future__ import annotations

import time

import httpx


def test_healthz_answers_without_auth(server):
    started = time.perf_counter()
    response = httpx.get(server.url + "/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert time.perf_counter() - started < 0.5


def test_readyz_reports_the_warm_worker(server):
    body = httpx.get(server.url + "/readyz").json()
    assert body["status"] == "ready" and body["worker"] == "ready"
    assert body["warmup_seconds"] is not None


def test_missing_and_wrong_keys_are_401(server):
    missing = httpx.get(server.url + "/tunes")
    assert missing.status_code == 401
    assert missing.json()["code"] == "unauthorized"
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = httpx.get(server.url + "/tunes", headers={"Authorization": "Bearer lk_nope"})
    assert wrong.status_code == 401 and wrong.json()["message"] == "Invalid API key."
    basic = httpx.get(server.url + "/tunes", headers={"Authorization": "Basic abc"})
    assert basic.status_code == 401


def test_keys_made_and_revoked_with_the_cli_are_honoured(server):
    key = server.cli("keys", "create", "--name", "short-lived")
    assert key["key"].startswith("lk_") and key["callback_secret"].startswith("whsec_")
    with server.client(key["key"]) as client:
        assert client.get("/tunes").status_code == 200
        server.cli("keys", "revoke", str(key["key_id"]))
        assert client.get("/tunes").status_code == 401


def test_unknown_route_and_method_have_the_error_shape(api):
    response = api.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    response = api.put("/tunes")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_query_validation_errors_have_the_error_shape(api):
    response = api.get("/tunes", params={"limit": 121})
    assert response.status_code == 422
    error = response.json()
    assert error["code"] == "invalid_request" and error["field"] == "limit"
    assert api.get("/tunes/abc").status_code == 422
    assert api.get("/tunes/99999999999999999999").status_code == 422


def test_docs_and_openapi(server):
    assert httpx.get(server.url + "/docs").status_code == 200
    spec = httpx.get(server.url + "/openapi.json").json()
    assert "/tunes/{tune_id}/prompts" in spec["paths"]
    body = spec["paths"]["/tunes"]["post"]["requestBody"]["content"]
    assert "tune[images][]" in body["multipart/form-data"]["schema"]["properties"]


def test_gallery_lists_the_base_models(api):
    gallery = api.get("/gallery/tunes").json()
    by_id = {g["id"]: g for g in gallery}
    # Astria's own gallery ids where Astria has the model (its FaceID guide hard-codes 690204).
    assert by_id[690204]["name"] == "realistic-vision-v5-1"
    assert by_id[666678]["name"] == "sdxl-base-1-0"
    assert by_id[999]["name"] == "tiny"
    assert api.get("/gallery/tunes/999").json()["title"].startswith("Tiny")
    assert api.get("/gallery/tunes/12345").status_code == 404
