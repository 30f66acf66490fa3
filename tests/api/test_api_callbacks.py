"""Callbacks: signed, retried with backoff after a failed attempt, refused for private hosts by default."""

from __future__ import annotations

import json

from lookalike.jobs.callbacks import SIGNATURE_HEADER, verify
from tests.api.receiver import Receiver


def test_tune_callback_is_signed_and_retried(api, alice, photo_files):
    with Receiver(fail_first=1) as receiver:
        response = api.post(
            "/tunes",
            data={"tune[title]": "with callback", "tune[name]": "woman", "tune[callback]": receiver.url},
            files=[("tune[images][]", ("1.jpg", photo_files["1.jpg"].read_bytes(), "image/jpeg"))],
        )
        assert response.status_code == 201, response.text
        first, second = receiver.wait_for(2)[:2]
    assert (first.answered, second.answered) == (500, 204)
    assert first.headers["X-Lookalike-Delivery"] == second.headers["X-Lookalike-Delivery"]
    assert second.headers["X-Lookalike-Event"] == "tune"
    assert verify(alice["callback_secret"], second.body, second.headers[SIGNATURE_HEADER])
    assert not verify("whsec_wrong", second.body, second.headers[SIGNATURE_HEADER])
    assert json.loads(second.body)["tune"]["id"] == response.json()["id"]
