import json

from typer.testing import CliRunner

from lookalike.cli.app import app

runner = CliRunner()


def test_models_list_shows_base_models_and_packs(settings):
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    ids = {m["id"]: m for m in out["base_models"]}
    assert ids["realistic-vision-v5-1"]["gallery_id"] == 690204 and not ids["realistic-vision-v5-1"]["installed"]
    assert ids["tiny"]["installed"]
    assert "buffalo_l" in {p["id"] for p in out["packs"]}
    human = runner.invoke(app, ["models", "list"])
    assert "creativeml-openrail-m" in human.stdout  # licences are printed, not eaten as markup


def test_pull_unknown_model_is_rejected(settings):
    result = runner.invoke(app, ["models", "pull", "no-such-model"])
    assert result.exit_code == 2 and "unknown_base_model" in result.output
