"""POST /keys on a server started with open sign-up: a new, isolated account per call."""

from __future__ import annotations

import httpx


def test_open_signup_makes_isolated_working_keys(studio_server):
    first = httpx.post(studio_server.url + "/keys", json={"name": "first"})
    second = httpx.post(studio_server.url + "/keys", data={"name": "second"})
    assert first.status_code == 201 and second.status_code == 201, (first.text, second.text)
    a, b = first.json(), second.json()
    assert a["account_id"] != b["account_id"] and a["key"] != b["key"] and a["callback_secret"]
    with studio_server.client(a["key"]) as api:
        assert api.get("/tunes").status_code == 200
    empty = httpx.post(studio_server.url + "/keys", json={"name": "  "})
    assert empty.status_code == 422 and empty.json()["field"] == "name"
    wrong_type = httpx.post(studio_server.url + "/keys", json={"name": 5})
    assert wrong_type.status_code == 422
