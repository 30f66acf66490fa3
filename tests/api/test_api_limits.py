"""Settings that shape the service: rate limits (429 + Retry-After) of creations and face checks, and private callback hosts."""

from __future__ import annotations

import pytest

from tests.api.conftest import Server


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    srv = Server(
        tmp_path_factory.mktemp("strict") / "data",
        env={
            "LOOKALIKE_RATE_LIMIT_PER_MINUTE": "6",
            "LOOKALIKE_RATE_LIMIT_BURST": "3",
            "LOOKALIKE_CALLBACK_ALLOW_PRIVATE": "false",
        },
    )
    srv.start(wait_ready=False)
    yield srv
    srv.stop()


def test_creations_are_rate_limited_per_key(strict):
    key, other = strict.new_key("busy"), strict.new_key("calm")
    with strict.client(key["key"]) as client:
        codes = [client.post("/tunes", json={"tune": {"title": "t", "name": "woman"}}).status_code for _ in range(3)]
        assert codes == [422, 422, 422]  # spent tokens even though the bodies were wrong
        limited = client.post("/tunes/999/prompts", json={"prompt": {"text": "x"}})
        assert limited.status_code == 429
        assert limited.json()["code"] == "rate_limited"
        assert 1 <= int(limited.headers["Retry-After"]) <= 10
        assert client.get("/tunes").status_code == 200  # reads are not limited
    with strict.client(other["key"]) as calm:
        assert calm.post("/tunes", json={"tune": {"title": "t", "name": "woman"}}).status_code == 422


def test_face_checks_have_their_own_rate_limit(strict):
    key = strict.new_key("checker")
    with strict.client(key["key"]) as client:
        # Not a photo: 422, yet each call spent one of the key's face checks (the CPU is the point).
        codes = [client.post("/faces/check", files={"nothing": ("x.txt", b"x")}).status_code for _ in range(3)]
        assert codes == [422, 422, 422]
        limited = client.post("/faces/check", files={"image": ("a.jpg", b"x", "image/jpeg")})
        assert limited.status_code == 429
        error = limited.json()
        assert error["code"] == "rate_limited" and "face checks" in error["message"]
        assert 1 <= int(limited.headers["Retry-After"]) <= 10
        # Creation is a separate budget, still whole.
        assert client.post("/tunes", json={"tune": {"title": "t", "name": "woman"}}).status_code == 422


def test_private_callback_hosts_are_refused(strict):
    key = strict.new_key("ssrf")
    with strict.client(key["key"]) as client:
        for url in ("http://127.0.0.1:9/hook", "http://169.254.169.254/latest/meta-data", "http://localhost/x"):
            response = client.post("/tunes", data={"tune[title]": "t", "tune[name]": "woman", "tune[callback]": url})
            assert response.status_code == 422, url
            assert response.json()["code"] == "invalid_callback_url"
