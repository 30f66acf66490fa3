"""Astria's look fields as options (style, color_grading, film_grain, ar, backend_version) and the style templates."""

from __future__ import annotations

import pytest

from lookalike.errors import InvalidFieldError
from lookalike.prompts.looks import COLOR_GRADINGS, LEGACY_AR, STYLES
from lookalike.prompts.options import GenerationOptions
from lookalike.prompts.styles import StyledPrompt, apply_style, face_swap_note, get_style, styles
from lookalike.prompts.syntax import parse_prompt
from lookalike.schemas.fields import ASTRIA_PROMPT_FIELDS_NOT_OFFERED
from lookalike.schemas.prompts import PromptCreate

FIELDS = ("style", "color_grading", "film_grain", "ar", "backend_version")


def test_the_fields_are_offered_and_astrias_values_accepted_in_its_spelling():
    assert not set(FIELDS) & ASTRIA_PROMPT_FIELDS_NOT_OFFERED
    for name in STYLES:
        assert GenerationOptions(style=name).style == name
    for name in COLOR_GRADINGS:
        assert GenerationOptions(color_grading=name).color_grading == name
    # Any case, spaces, dashes or underscores: shown in Astria's spelling.
    spelled = GenerationOptions(style="digital-art", color_grading="FILM_PORTRA", ar=" Portrait ", film_grain="true")
    assert (spelled.style, spelled.color_grading, spelled.ar, spelled.film_grain) == (
        "Digital Art", "Film Portra", "portrait", True,
    )
    assert GenerationOptions(backend_version="1").backend_version == 1
    assert GenerationOptions.from_fields({"backend_version": "", "style": "", "color_grading": None}).style is None


@pytest.mark.parametrize(
    ("field", "value", "valid"),
    [
        ("style", "Pixar", STYLES),
        ("style", "Cinematic2", STYLES),
        ("color_grading", "Kodachrome", COLOR_GRADINGS),
        ("ar", "4:5", tuple(LEGACY_AR)),
        ("backend_version", 2, ("null", "1")),
        ("backend_version", "0", ("null", "1")),
        ("backend_version", 1.5, ("null", "1")),
    ],
)
def test_other_values_are_refused_naming_the_field_and_listing_the_valid_ones(field, value, valid):
    with pytest.raises(InvalidFieldError) as caught:
        GenerationOptions(**{field: value})
    error = caught.value
    assert error.code == "invalid_field" and error.field == field
    assert all(name in error.message for name in valid), error.message
    assert error.details["valid"]


def test_legacy_ar_maps_to_aspect_ratio_sizes_and_never_goes_with_another_size():
    assert GenerationOptions(ar="1:1").size_for(512) == (512, 512)
    assert GenerationOptions(ar="portrait").size_for(512) == GenerationOptions(aspect_ratio="2:3").size_for(512)
    assert GenerationOptions(ar="landscape").size_for(512) == GenerationOptions(aspect_ratio="3:2").size_for(512)
    assert GenerationOptions(ar="16:9").size_for(1024) == GenerationOptions(aspect_ratio="16:9").size_for(1024)
    width, height = GenerationOptions(ar="portrait").size_for(512)
    assert height > width
    for other in ({"aspect_ratio": "1:1"}, {"w": 512, "h": 512}):
        with pytest.raises(InvalidFieldError) as caught:
            GenerationOptions(ar="portrait", **other)
        assert caught.value.field == "ar"
    resolved = GenerationOptions(ar="landscape", seed=1).resolved(512)
    assert "ar" not in resolved and (resolved["w"], resolved["h"]) == GenerationOptions(ar="landscape").size_for(512)


def test_the_looks_are_resolved_as_they_run():
    resolved = GenerationOptions(style="neonpunk", color_grading="ektar", film_grain=True, seed=4).resolved(512)
    assert (resolved["style"], resolved["color_grading"], resolved["film_grain"]) == ("Neonpunk", "Ektar", True)
    plain = GenerationOptions(seed=4).resolved(512)
    assert (plain["style"], plain["color_grading"], plain["film_grain"]) == (None, None, False)
    # A stored prompt re-checked from its resolved options (the worker does) passes the same checks.
    assert GenerationOptions.from_fields(resolved).resolved(512) == resolved


def test_use_lpw_is_always_on():
    assert PromptCreate.parse({"text": "a lighthouse", "use_lpw": "true"}).use_lpw is True
    with pytest.raises(InvalidFieldError) as caught:
        PromptCreate.parse({"text": "a lighthouse", "use_lpw": "false"})
    assert caught.value.code == "unsupported_field" and caught.value.field == "use_lpw"


def test_every_style_is_a_template_of_its_own_around_the_users_text():
    assert tuple(styles()) == STYLES
    positives = {get_style(name).positive for name in STYLES}
    assert len(positives) == len(STYLES)
    text = "a headshot of <faceid:12:0.8> woman in a garden,"
    for name in STYLES:
        styled = apply_style(name, text, "blurry")
        # The user's words are there once; the tokens survive where they stand, with their weights.
        assert styled.text.count("a headshot of <faceid:12:0.8> woman in a garden") == 1
        assert styled.text != text
        tokens = parse_prompt(styled.text).tokens
        assert [(t.tune_id, t.weight) for t in tokens] == [("12", 0.8)]
        assert "<faceid" not in parse_prompt(styled.text).text
        assert styled.negative.startswith("blurry, ") and len(styled.negative) > len("blurry, ")
    assert apply_style(None, text, "blurry") == StyledPrompt(text, "blurry")


def test_the_negative_words_are_not_repeated():
    styled = apply_style("Photographic", "a lighthouse", "Cartoon, blurry")
    words = [w.strip().casefold() for w in styled.negative.split(",")]
    assert words[:2] == ["cartoon", "blurry"] and len(words) == len(set(words))


def test_face_swap_runs_on_photographic_styles_only():
    assert face_swap_note(None) is None
    photographic = {name for name in STYLES if face_swap_note(name) is None}
    assert photographic == {"Cinematic", "Photographic", "Enhance"}
    assert face_swap_note("Comic book") == "style Comic book is not photographic"
