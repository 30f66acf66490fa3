"""``PackTuneCreate.parse``: the tune group of POST /p/{id}/tunes, and its pack fields, refused by name when wrong."""

from __future__ import annotations

import pytest

from lookalike.errors import InvalidFieldError, LookalikeError, UnsupportedFieldError
from lookalike.schemas import Upload
from lookalike.schemas.packs import PackTuneCreate

PHOTO = Upload(b"jpeg bytes", "1.jpg")


def test_a_new_tune_with_the_pack_fields():
    parsed = PackTuneCreate.parse(
        {
            "title": "Ada",
            "name": "woman",
            "images": [PHOTO],
            "branch": "fast",
            "characteristics": {"eye_color": "blue eyes", "age": 40},
            "prompt_attributes": {"callback": "https://example.com/p"},
            "prompt_ids": ["1", 2],
            "prompts_callback": "",
        }
    )
    assert parsed.tune is not None and parsed.tune.title == "Ada" and parsed.tune.branch == "fast"
    assert parsed.characteristics == {"eye_color": "blue eyes", "age": "40"}
    assert parsed.prompt_callback == "https://example.com/p"
    assert parsed.prompt_ids == [1, 2] and parsed.tune_ids == []


def test_tune_ids_alone():
    parsed = PackTuneCreate.parse({"tune_ids": ["89", 90], "prompt_ids": "3", "prompt_attributes": {"callback": ""}})
    assert parsed.tune is None and parsed.tune_ids == [89, 90] and parsed.prompt_ids == [3]
    assert parsed.prompt_callback is None
    # Untouched form fields ("") do not count as sent.
    assert PackTuneCreate.parse({"tune_ids": [89], "title": ""}).tune_ids == [89]


@pytest.mark.parametrize(
    ("fields", "kind", "field", "words"),
    [
        ({"tune_ids": [89], "title": "x"}, InvalidFieldError, "title", "cannot be sent with tune[tune_ids]"),
        ({"tune_ids": [89], "images": [PHOTO]}, InvalidFieldError, "images", "no tune is made"),
        ({"tune_ids": ["8_9"]}, InvalidFieldError, "tune_ids", "list of ids"),
        ({"tune_ids": [True]}, InvalidFieldError, "tune_ids", "list of ids"),
        ({"tune_ids": [0]}, InvalidFieldError, "tune_ids", "no id"),
        ({"tune_ids": [5, 5]}, InvalidFieldError, "tune_ids", "twice"),
        ({"tune_ids": list(range(1, 30))}, InvalidFieldError, "tune_ids", "at most 20"),
        ({"title": "t", "name": "woman", "prompt_ids": ["x"]}, InvalidFieldError, "prompt_ids", "list of ids"),
        ({"title": "t", "name": "woman", "prompts_callback": "https://e.com"}, UnsupportedFieldError, "prompts_callback", "does not offer it"),
        ({"title": "t", "name": "woman", "characteristics": "blue"}, InvalidFieldError, "characteristics", "group"),
        ({"title": "t", "name": "woman", "characteristics": {"eye color": "x"}}, InvalidFieldError, "tune[characteristics][eye color]", "letters"),
        ({"title": "t", "name": "woman", "characteristics": {"k": "<faceid:1:1>"}}, InvalidFieldError, "tune[characteristics][k]", "<, >"),
        ({"title": "t", "name": "woman", "characteristics": {"k": ["a"]}}, InvalidFieldError, "tune[characteristics][k]", "text"),
        ({"title": "t", "name": "woman", "characteristics": {"k": "x" * 201}}, InvalidFieldError, "tune[characteristics][k]", "at most 200"),
        ({"title": "t", "name": "woman", "prompt_attributes": {"num_images": 4}}, UnsupportedFieldError, "tune[prompt_attributes][num_images]", "only"),
        ({"title": "t", "name": "woman", "prompt_attributes": "https://e.com"}, InvalidFieldError, "prompt_attributes", "group"),
        ({"title": "t", "name": "woman", "preset": "flux-lora-portrait"}, UnsupportedFieldError, "preset", "Astria's"),
        ({"title": "t", "name": "woman", "colour": "red"}, LookalikeError, "colour", "not a field"),
        ({"name": "woman"}, InvalidFieldError, "title", "required"),
    ],
)
def test_wrong_fields_are_named(fields, kind, field, words):
    with pytest.raises(kind) as caught:
        PackTuneCreate.parse(fields)
    assert caught.value.field == field, caught.value.message
    assert words in caught.value.message
