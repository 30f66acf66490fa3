"""Astria's look fields through the API, the Python client and the CLI (fake engine: what is checked is the contract).

That they really run is tests/postprocess/test_looks_pipeline.py; here the
three ways in accept the same values, refuse the same others by name, and
show them on the prompt.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lookalike.catalog.base_models import get_base_model
from lookalike.cli.app import app
from lookalike.client import Client
from lookalike.errors import InvalidFieldError
from lookalike.prompts.options import GenerationOptions

LOOKS = {"style": "Cinematic", "color_grading": "Film Portra", "film_grain": True}


@pytest.fixture(scope="module")
def key(fake_server) -> str:
    return fake_server.new_key("looks")["key"]


def test_the_api_accepts_astrias_values_and_shows_them(fake_server, key):
    native = get_base_model(999).native_size
    with fake_server.client(key) as api:
        form = api.post("/tunes/999/prompts", data={
            "prompt[text]": "a lighthouse at dusk", "prompt[style]": "Cinematic", "prompt[color_grading]": "Film Portra",
            "prompt[film_grain]": "true", "prompt[ar]": "portrait", "prompt[backend_version]": "1",
            "prompt[use_lpw]": "true",
        })
        assert form.status_code == 201, form.text
        shown = form.json()
        assert {name: shown[name] for name in LOOKS} == LOOKS
        assert {name: shown["resolved"][name] for name in LOOKS} == LOOKS
        assert (shown["ar"], shown["aspect_ratio"], shown["backend_version"], shown["use_lpw"]) == ("portrait", None, 1, True)
        assert (shown["w"], shown["h"]) == GenerationOptions(aspect_ratio="2:3").size_for(native)
        # JSON, other spellings, nulls: Astria's spelling comes back; null means none.
        as_json = api.post("/tunes/999/prompts", json={"prompt": {
            "text": "a lighthouse", "style": "line_art", "color_grading": "EKTAR", "film_grain": False, "backend_version": None,
        }})
        assert as_json.status_code == 201, as_json.text
        shown = as_json.json()
        assert (shown["style"], shown["color_grading"], shown["film_grain"], shown["backend_version"]) == (
            "Line art", "Ektar", False, None,
        )
        assert shown["use_lpw"] is True  # always on, asked for or not
        plain = api.post("/tunes/999/prompts", data={"prompt[text]": "a lighthouse"}).json()
        assert (plain["style"], plain["color_grading"], plain["film_grain"], plain["ar"]) == (None, None, False, None)


@pytest.mark.parametrize(
    ("fields", "field", "listed"),
    [
        ({"prompt[style]": "Pixar"}, "prompt[style]", ["Cinematic", "Digital Art", "Line art"]),
        ({"prompt[color_grading]": "Kodachrome"}, "prompt[color_grading]", ["Film Velvia", "Film Portra", "Ektar"]),
        ({"prompt[ar]": "4:5"}, "prompt[ar]", ["1:1", "portrait", "16:9", "landscape"]),
        ({"prompt[backend_version]": "2"}, "prompt[backend_version]", ["null", "1"]),
        ({"prompt[ar]": "1:1", "prompt[aspect_ratio]": "1:1"}, "prompt[ar]", ["aspect_ratio"]),
        ({"prompt[ar]": "1:1", "prompt[w]": "64", "prompt[h]": "64"}, "prompt[ar]", ["w and h"]),
        ({"prompt[film_grain]": "lots"}, "prompt[film_grain]", ["true or false"]),
    ],
)
def test_the_api_refuses_other_values_listing_the_known_ones(fake_server, key, fields, field, listed):
    with fake_server.client(key) as api:
        response = api.post("/tunes/999/prompts", data={"prompt[text]": "a lighthouse", **fields})
    assert response.status_code == 422, response.text
    error = response.json()
    assert (error["code"], error["field"]) == ("invalid_field", field)
    assert all(word in error["message"] for word in listed), error["message"]


def test_the_client_and_the_cli_send_the_same_fields(fake_server, key, tmp_path):
    with Client(fake_server.url, key) as client:
        made = client.create_prompt(999, "a lighthouse", style="neonpunk", color_grading="Film Velvia", film_grain=True)
        assert (made["style"], made["resolved"]["color_grading"], made["film_grain"]) == ("Neonpunk", "Film Velvia", True)
        with pytest.raises(InvalidFieldError) as caught:  # refused before anything is sent
            client.create_prompt(999, "a lighthouse", color_grading="sepia")
        assert "Film Velvia, Film Portra, Ektar" in caught.value.message

        cli = CliRunner()
        server = ["--server", fake_server.url, "--api-key", key, "--base-model", "999", "--json", "--out", str(tmp_path)]
        ran = cli.invoke(app, ["prompts", "create", "a lighthouse", "--style", "Digital Art", "--color-grading", "ektar",
                               "--film-grain", "--ar", "landscape", "--backend-version", "1", *server])
        assert ran.exit_code == 0, ran.output
        shown = client.get_prompt(json.loads(ran.stdout)["id"])
        assert {name: shown["resolved"][name] for name in LOOKS} == {
            "style": "Digital Art", "color_grading": "Ektar", "film_grain": True,
        }
        assert (shown["ar"], shown["backend_version"]) == ("landscape", 1) and shown["w"] > shown["h"]
        refused = cli.invoke(app, ["prompts", "create", "a lighthouse", "--style", "Pixar", *server])
        assert refused.exit_code == 2
        error = json.loads(refused.stdout)["error"]
        assert error["code"] == "invalid_field" and error["field"] == "style" and "Comic book" in error["message"]


def test_models_list_the_looks_as_finishing_steps_that_need_nothing(fake_server, key):
    with fake_server.client(key) as api:
        steps = {s["name"]: s for s in api.get("/models").json()["finishing_steps"]}
    assert list(steps)[-2:] == ["color_grading", "film_grain"]
    assert steps["color_grading"]["installed"] and steps["film_grain"]["installed"]
