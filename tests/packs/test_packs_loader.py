"""Pack files: the built-in packs, the checks a bad file fails with (file and field named), ids, rendering."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from lookalike.errors import InvalidFieldError
from lookalike.packs import PackDefinitionError, PackNotFoundError, load_catalog
from lookalike.packs.loader import builtin_files
from lookalike.prompts.syntax import parse_prompt
from lookalike.schemas import PromptCreate
from tests.packs.packdata import OPERATOR_PACKS, write_packs

BUILTIN_SLUGS = {
    1: "professional-networking-headshots",
    2: "fitness-and-wellness-coach",
    3: "social-media-influencer",
    4: "history-professor",
}
FAULTS = ("blurry", "low resolution", "bad lighting", "awkward pose", "harsh shadows", "amateur snapshot")


def test_builtin_packs_load_with_the_four_use_cases():
    catalog = load_catalog(None)
    assert {pack.id: pack.slug for pack in catalog.packs} == BUILTIN_SLUGS
    assert len(builtin_files()) == 4
    for pack in catalog.packs:
        assert pack.base_tune_id == 690204 and pack.model_type == "faceid" and pack.token == "ohwx"
        assert pack.public and pack.listed and pack.cover_url is None
        assert {"man", "woman", "person"} <= set(pack.classes)
        assert pack.source.startswith("builtin/") and pack.created_at is not None
        assert pack.characteristics() == []


def test_every_builtin_prompt_parses_as_a_prompt_on_the_new_tune():
    for pack in load_catalog(None).packs:
        ids = [prompt.id for prompts in pack.prompts.values() for prompt in prompts]
        assert len(ids) == len(set(ids)), f"pack {pack.id}: prompt ids repeat"
        for name, prompts in pack.prompts.items():
            for prompt in prompts:
                definition = prompt.definition()
                assert "<faceid:{tune_id}:1>" in definition["text"] and f" {name}" in definition["text"]
                fields = {**prompt.options(), "text": prompt.render(4321, {})}
                created = PromptCreate.parse(fields)
                assert [t.tune_id for t in parse_prompt(created.text).tokens] == ["4321"]
                assert created.cfg_scale == 3
                assert all(fault in created.negative_prompt for fault in FAULTS), (pack.slug, prompt.id)
                # Camera details, as the product brief's prompts have.
                assert "mm" in created.text and "f/" in created.text and "ISO" in created.text
                assert not created.face_correct and not created.super_resolution and not created.face_swap
                assert prompt.prompt_create(4321, {}, "https://example.com/hook").callback == "https://example.com/hook"


def test_the_use_cases_say_what_the_brief_asks():
    packs = {pack.id: pack for pack in load_catalog(None).packs}

    def texts(pack_id: int) -> str:
        return " ".join(p.text for prompts in packs[pack_id].prompts.values() for p in prompts).lower()

    assert all(word in texts(1) for word in ("business", "friendly", "confident", "studio", "sharp", "portrait lens"))
    assert all(word in texts(2) for word in ("athletic", "energetic", "outdoor", "park", "blurred"))
    assert all(word in texts(3) for word in ("golden-hour", "cinematic", "bokeh"))
    assert all(word in texts(4) for word in ("approachable", "sweater", "natural", "clean", "bookshelves"))


def test_operator_packs_add_to_the_builtin_ones(tmp_path):
    catalog = load_catalog(write_packs(tmp_path / "packs", OPERATOR_PACKS), required=True)
    assert [pack.id for pack in catalog.packs] == [1, 2, 3, 4, 100, 101]
    assert [pack.id for pack in catalog.list(public=True)] == [1, 2, 3, 4, 100]
    assert [pack.id for pack in catalog.list(listed=True)] == [1, 2, 3, 4, 100]
    hidden = catalog.get(101)
    assert hidden.base_tune_id == 999 and hidden.public_at is None and hidden.unlisted_at is not None
    assert hidden.characteristics() == ["eye_color", "hair"]
    # Dates come from the file where it gives none.
    assert catalog.get(100).created_at is not None and catalog.get(100).source.endswith("tiny-portraits.json")
    with pytest.raises(PackNotFoundError) as missing:
        catalog.get(5)
    assert missing.value.code == "pack_not_found"


def test_a_missing_directory_adds_nothing_unless_named(tmp_path):
    assert len(load_catalog(tmp_path / "absent").packs) == 4
    with pytest.raises(PackDefinitionError, match="LOOKALIKE_PACKS_DIR"):
        load_catalog(tmp_path / "absent", required=True)


def test_services_read_the_data_dir_packs_or_the_setting(tmp_path):
    from lookalike.config import Settings
    from lookalike.services import Services

    write_packs(tmp_path / "data" / "packs", {"a.json": OPERATOR_PACKS["tiny-portraits.json"]})
    services = Services(Settings(data_dir=tmp_path / "data"))
    try:
        assert [pack.id for pack in services.packs.list()] == [1, 2, 3, 4, 100]
    finally:
        services.close()
    services = Services(Settings(data_dir=tmp_path / "data", packs_dir=tmp_path / "nowhere"))
    try:
        with pytest.raises(PackDefinitionError, match="nowhere"):
            _ = services.pack_catalog
    finally:
        services.close()


def _pack(**changes) -> dict:
    pack = copy.deepcopy(OPERATOR_PACKS["tiny-portraits.json"])
    pack.update(changes)
    return pack


def _prompt(**changes) -> dict:
    pack = _pack()
    pack["prompts"]["woman"][0].update(changes)
    return pack


def _without_prompt_id() -> dict:
    pack = _pack()
    del pack["prompts"]["woman"][1]["id"]
    return pack


@pytest.mark.parametrize(
    ("pack", "field", "words"),
    [
        (_prompt(cfg_scale=99), "prompts.woman[0].cfg_scale", "0 to 15"),
        (_prompt(num_images="four"), "prompts.woman[0].num_images", "whole number"),
        (_prompt(scheduler="fastest"), "prompts.woman[0].scheduler", "Unknown scheduler"),
        (_prompt(w=512), "prompts.woman[0].h", "h is missing"),
        (_prompt(colour="red"), "prompts.woman[0].colour", "not a field"),
        (_prompt(callback="https://example.com"), "prompts.woman[0].callback", "given by the request"),
        (_prompt(text="portrait of <faceid:5:1> woman"), "prompts.woman[0].text", "names tune '5'"),
        (_prompt(text="<faceid:{tune_id}:9> woman"), "prompts.woman[0].text", "<faceid:{tune_id}:9>"),
        (_prompt(text="<lora:x:1> woman"), "prompts.woman[0].text", "Unsupported token"),
        (_prompt(text=""), "prompts.woman[0].text", "at least 1 character"),
        (_prompt(id=3), "prompts.man[0].id", "prompt id 3 is also used by prompts.woman[0]"),
        (_prompt(id="1"), "prompts.woman[0].id", "valid integer"),
        (_without_prompt_id(), "prompts.woman[1].id", "required"),
        (_pack(prompts={"cat": [{"id": 1, "text": "a cat"}]}), "prompts.cat", "not a person class"),
        (_pack(prompts={"woman": []}), "prompts.woman", "has no prompts"),
        (_pack(prompts={}), "prompts", "at least one class"),
        (_pack(base_tune_id=77), "base_tune_id", "Unknown base model 77"),
        (_pack(model_type="lora"), "model_type", "faceid"),
        (_pack(slug="Tiny Portraits"), "slug", "not a slug"),
        (_pack(id=0), "id", "greater than or equal to 1"),
        (_pack(colour="red"), "colour", "not a field of a pack"),
        ({k: v for k, v in _pack().items() if k != "title"}, "title", "required"),
    ],
)
def test_a_bad_file_names_the_file_and_the_field(tmp_path, pack, field, words):
    write_packs(tmp_path, {"broken.json": pack})
    with pytest.raises(PackDefinitionError) as caught:
        load_catalog(tmp_path)
    error = caught.value
    assert error.code == "invalid_pack" and error.field == field, error.message
    assert error.details["file"] == str(tmp_path / "broken.json")
    assert error.message.startswith(f"Pack file {tmp_path / 'broken.json'}, field {field}: ")
    assert words in error.message


def test_not_json_and_not_an_object(tmp_path):
    (tmp_path / "a.json").write_text('{"id": 1,')
    with pytest.raises(PackDefinitionError, match=r"a\.json: not valid JSON: .* line 1, column 10"):
        load_catalog(tmp_path)
    (tmp_path / "a.json").write_text("[]")
    with pytest.raises(PackDefinitionError, match="one JSON object"):
        load_catalog(tmp_path)
    (tmp_path / "a.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(PackDefinitionError, match="not UTF-8"):
        load_catalog(tmp_path)


def test_ids_and_slugs_are_unique(tmp_path):
    write_packs(tmp_path / "one", {"mine.json": _pack(id=2)})
    with pytest.raises(PackDefinitionError) as clash:
        load_catalog(tmp_path / "one")
    assert clash.value.field == "id"
    assert "2 is already the id of builtin/fitness-and-wellness-coach.json (a built-in pack)" in clash.value.message
    write_packs(tmp_path / "two", {"a.json": _pack(), "b.json": _pack(slug="other")})
    with pytest.raises(PackDefinitionError, match=r"b\.json, field id: 100 is already the id of .*a\.json;"):
        load_catalog(tmp_path / "two")
    write_packs(tmp_path / "three", {"a.json": _pack(), "b.json": _pack(id=200)})
    with pytest.raises(PackDefinitionError, match="'tiny-portraits' is already the slug"):
        load_catalog(tmp_path / "three")


def test_only_json_files_are_read(tmp_path):
    write_packs(tmp_path, {"a.json": _pack()})
    (tmp_path / "README.md").write_text("not a pack")
    (tmp_path / "old.json.bak").write_text("{")
    assert [pack.id for pack in load_catalog(tmp_path).packs][-1] == 100


def test_rendering_the_tune_id_the_token_and_characteristics(tmp_path):
    catalog = load_catalog(write_packs(tmp_path, OPERATOR_PACKS))
    portraits = catalog.get(100)
    first, second = portraits.prompts["woman"]
    assert first.render(42, {}) == "studio portrait of <faceid:42:1> woman"
    assert second.render(42, {}) == "<faceid:42:1> woman reading in a library"
    assert portraits.prompts["man"][0].render(42, {}) == "portrait of <faceid:42:0.8> man in a park"
    prompt = catalog.get(101).prompts["woman"][0]
    values = {"eye_color": "green eyes {{hair}}", "hair": "red hair", "unused": "x"}
    # One pass: a value is never read again for placeholders.
    assert prompt.render(42, values) == "close-up of <faceid:42:1> woman with green eyes {{hair}}, red hair"
    with pytest.raises(InvalidFieldError) as missing:
        prompt.render(42, {"hair": "red hair"})
    assert missing.value.field == "characteristics" and missing.value.details["missing"] == ["eye_color"]
    assert "eye_color" in missing.value.message


def test_builtin_files_are_package_data():
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"lookalike.packs" = ["builtin/*.json"]' in pyproject
    for entry in builtin_files():
        assert json.loads(entry.read_text())["model_type"] == "faceid"


def test_characteristics_that_make_a_text_too_long_are_named(tmp_path):
    from lookalike.packs.service import _checked
    from lookalike.schemas.packs import PackTuneCreate

    pack = _pack(prompts={"woman": [{"id": 1, "text": "<faceid:{tune_id}:1> woman " + "{{k}} " * 25}]})
    prompt = load_catalog(write_packs(tmp_path, {"long.json": pack})).get(100).prompts["woman"][0]
    assert "woman" in _checked(prompt, 7, PackTuneCreate(tune=None, characteristics={"k": "short"}), None).text
    with pytest.raises(InvalidFieldError) as caught:
        _checked(prompt, 7, PackTuneCreate(tune=None, characteristics={"k": "x" * 200}), None)
    assert caught.value.field == "characteristics" and "pack's prompt 1" in caught.value.message
