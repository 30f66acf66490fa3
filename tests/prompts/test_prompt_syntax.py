"""The <faceid:ID:W> prompt syntax."""

from __future__ import annotations

import pytest

from lookalike.errors import FaceIdWeightError, PromptTokenError, TooManyIdentitiesError, UnsupportedPromptTokenError
from lookalike.prompts.syntax import MAX_TOKENS, parse_prompt


def test_token_with_weight_is_removed_from_the_text():
    parsed = parse_prompt("<faceid:123:0.8> woman, studio portrait")
    assert parsed.text == "woman, studio portrait"
    assert [(t.tune_id, t.weight) for t in parsed.tokens] == [("123", 0.8)]
    assert parsed.original == "<faceid:123:0.8> woman, studio portrait"


def test_weight_defaults_to_one():
    parsed = parse_prompt("photo of <faceid:abc-9> smiling")
    assert parsed.tokens[0].weight == 1.0
    assert parsed.text == "photo of smiling"


def test_no_token_is_plain_text():
    parsed = parse_prompt("a lighthouse at dusk, 35mm")
    assert parsed.tokens == ()
    assert not parsed.has_identity
    assert parsed.text == "a lighthouse at dusk, 35mm"


@pytest.mark.parametrize(
    "text",
    [
        "&lt;faceid:7:1.5&gt; man in a suit",
        "&lt;faceid:7:1.5> man in a suit",
        "<faceid:7:1.5&gt; man in a suit",
        "< FaceID : 7 : 1.5 > man in a suit",
    ],
)
def test_escaped_and_spaced_forms(text):
    parsed = parse_prompt(text)
    assert [(t.tune_id, t.weight) for t in parsed.tokens] == [("7", 1.5)]
    assert parsed.text == "man in a suit"
    assert "faceid" not in parsed.text.lower() and "&" not in parsed.text


def test_several_tokens_anywhere_keep_order_and_tidy_punctuation():
    parsed = parse_prompt("portrait of <faceid:1:1> , <faceid:2:0.5> and <faceid:3:.25>, golden hour")
    assert [(t.tune_id, t.weight) for t in parsed.tokens] == [("1", 1.0), ("2", 0.5), ("3", 0.25)]
    assert parsed.text == "portrait of, and, golden hour"


@pytest.mark.parametrize("weight", ["0", "2", "2.0", "0.0", "1."])
def test_weight_bounds_are_inclusive(weight):
    assert parse_prompt(f"<faceid:1:{weight}> x").tokens[0].weight == float(weight)


@pytest.mark.parametrize("weight", ["2.01", "-0.1", "5", "1e3"])
def test_weight_out_of_range(weight):
    if weight == "1e3":  # not our number syntax: reported as malformed, not silently read
        with pytest.raises(PromptTokenError):
            parse_prompt(f"<faceid:1:{weight}> x")
        return
    with pytest.raises(FaceIdWeightError) as info:
        parse_prompt(f"<faceid:1:{weight}> x")
    assert info.value.code == "faceid_weight_out_of_range"
    assert info.value.field == "text"
    assert f"<faceid:1:{weight}>" in info.value.message


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("<faceid:12:abc> man", "<faceid:12:abc>"),
        ("<faceid:> man", "<faceid:>"),
        ("<faceid:1:2:3> man", "<faceid:1:2:3>"),
        ("<faceid:my tune:1> man", "<faceid:my tune:1>"),
        ("man <faceid:12:1", "<faceid:12:1"),
        ("man &lt;faceid:12", "&lt;faceid:12"),
    ],
)
def test_malformed_token_shows_the_offending_part(text, shown):
    with pytest.raises(PromptTokenError) as info:
        parse_prompt(text)
    assert info.value.code == "malformed_faceid_token"
    assert shown in info.value.message
    assert info.value.details["token"] == shown


def test_other_tags_are_refused_not_sent_to_the_text_encoder():
    with pytest.raises(UnsupportedPromptTokenError) as info:
        parse_prompt("<hypernet:55:1> woman")
    assert "<hypernet:55:1>" in info.value.message


def test_too_many_tokens():
    text = " ".join(f"<faceid:{i}:1>" for i in range(MAX_TOKENS + 1))
    with pytest.raises(TooManyIdentitiesError):
        parse_prompt(text)


def test_error_serialises_with_code_and_field():
    with pytest.raises(PromptTokenError) as info:
        parse_prompt("<faceid:1:x>")
    payload = info.value.to_dict()
    assert payload["code"] == "malformed_faceid_token"
    assert payload["field"] == "text"
    assert payload["hint"]
