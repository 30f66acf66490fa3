"""Tune intake (jobs/intake.py): the title rule, Idempotency-Key replays, queued prompts, mock tunes."""

from __future__ import annotations

import dataclasses

import pytest

from lookalike.errors import IdempotencyKeyReusedError, InvalidFieldError
from lookalike.schemas import TuneCreate, Upload
from tests.conftest import encode


@pytest.fixture
def photo(astronaut) -> Upload:
    return Upload(encode(astronaut, "JPEG", quality=90), "a.jpg")


def _request(photo: Upload, **fields) -> TuneCreate:
    return TuneCreate.parse({"title": "Ada", "name": "woman", "branch": "fast", "images": [photo], **fields})


def test_a_repeated_title_is_a_new_tune_unless_title_idempotency_is_on(services, photo):
    intake = services.intake
    first = intake.create(1, _request(photo))
    second = intake.create(1, _request(photo))
    assert first.created and second.created and second.tune["id"] > first.tune["id"]
    idempotent = dataclasses.replace(intake, title_idempotent=True)
    again = idempotent.create(1, _request(photo))
    assert not again.created and again.tune["id"] == first.tune["id"]
    # Titles are per account.
    assert idempotent.create(2, _request(photo)).created


def test_an_idempotency_key_replays_and_refuses_another_request(services, photo, hopper):
    intake = services.intake
    made = intake.create(1, _request(photo), idempotency_key="k")
    replay = intake.create(1, _request(photo), idempotency_key="k")
    assert made.created and not replay.created and replay.tune["id"] == made.tune["id"]
    other_photo = Upload(encode(hopper, "JPEG", quality=90), "a.jpg")
    with pytest.raises(IdempotencyKeyReusedError):
        intake.create(1, _request(other_photo), idempotency_key="k")
    assert intake.create(2, _request(photo), idempotency_key="k").created  # keys are per account


def test_prompts_attributes_are_checked_first_and_queued_after(services, photo):
    intake = services.intake
    before = len(services.tunes.list(account_id=1))
    with pytest.raises(InvalidFieldError) as info:
        intake.create(1, _request(photo, prompts_attributes=[{"text": "ok"}, {"text": "x", "steps": "ten"}]))
    assert info.value.field == "tune[prompts_attributes][1][steps]"
    assert len(services.tunes.list(account_id=1)) == before  # nothing was made
    made = intake.create(
        1, _request(photo, prompts_attributes=[{"text": "one"}, {"text": "two <faceid:{tune_id}:0.5>", "num_images": 2}])
    )
    tune_id = made.tune["id"]
    # The new tune's face: put in front where the text names none, or where {tune_id} says.
    assert [p.text for p in made.prompts] == [f"<faceid:{tune_id}:1> one", f"two <faceid:{tune_id}:0.5>"]
    assert all(p.tune_id == made.tune["id"] and p.options["resolved"]["mock"] for p in made.prompts)


def test_a_mock_tune_takes_any_class_and_keeps_its_photos(services, cat):
    made = services.intake.create(1, TuneCreate.parse({"title": "Cat", "name": "cat", "branch": "fast",
                                                        "images": [Upload(encode(cat, "PNG"), "cat.png")]}))
    assert made.tune["branch"] == "fast" and made.tune["identity"] == []
    assert services.tunes.photo(made.tune["id"], 0)[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InvalidFieldError):  # a real tune still needs a person
        services.intake.create(1, TuneCreate.parse({"title": "Cat", "name": "cat", "images": [Upload(encode(cat, "PNG"), "c")]}))


def test_branch_must_agree_with_the_base_model(services, photo):
    with pytest.raises(InvalidFieldError) as info:
        services.intake.create(1, _request(photo, branch="sdxl1", base_tune_id=999))
    assert info.value.field == "branch"


def test_a_refused_prompt_takes_back_the_tune_and_the_prompts_queued_before_it(services, photo):
    from lookalike.errors import ModelUnavailableError

    class Refusing:
        def __init__(self):
            self.seen = 0

        def check(self, spec):
            self.seen += 1
            if self.seen == 2:
                raise ModelUnavailableError("no weights", hint="lookalike models pull x")
            return spec

    services.prompts.engine = Refusing()
    request = TuneCreate.parse({"title": "Ada", "name": "woman", "images": [photo], "base_tune_id": 999,
                                "prompts_attributes": [{"text": "one"}, {"text": "two"}]})
    with pytest.raises(ModelUnavailableError):
        services.intake.create(1, request)
    assert services.tunes.list(account_id=1) == []
    assert services.prompts.list(1) == []
