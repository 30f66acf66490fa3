"""Public ids: never reused after a delete, and user tune ids above every gallery id (migration 0005, SQLite)."""

from __future__ import annotations

import importlib.util

import pytest
from sqlalchemy import text

from lookalike.catalog.base_models import BASE_MODELS
from lookalike.store.database import _MIGRATIONS, downgrade, make_engine, migrate
from lookalike.store.ids import FIRST_USER_TUNE_ID
from lookalike.store.tables import TuneRow
from tests.store.id_checks import assert_newest_ids_are_not_reused, new_prompt, new_tune


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'ids.db'}")
    yield engine
    engine.dispose()


def test_every_gallery_id_is_below_the_first_user_tune_id():
    assert BASE_MODELS
    for spec in BASE_MODELS:
        assert 0 < spec.gallery_id < FIRST_USER_TUNE_ID, spec.id


def test_the_migration_starts_tunes_at_the_constant():
    # The migration writes the number out (history must not move with the constant); they must agree.
    path = next(_MIGRATIONS.joinpath("versions").glob("0005_*.py"))
    spec = importlib.util.spec_from_file_location("migration_0005", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.FIRST_USER_TUNE_ID == FIRST_USER_TUNE_ID


def test_a_fresh_database_starts_tunes_above_the_gallery(engine):
    migrate(engine)
    assert new_tune(engine) == FIRST_USER_TUNE_ID
    assert new_tune(engine) == FIRST_USER_TUNE_ID + 1


def test_deleting_the_newest_row_does_not_free_its_id(engine):
    migrate(engine)
    assert_newest_ids_are_not_reused(engine)


def test_upgrading_keeps_rows_and_the_rows_that_point_at_them(engine):
    """The tables are rebuilt on SQLite; photos, identities and images must survive it."""
    migrate(engine, "0004")
    now = "2024-01-01 00:00:00"
    with engine.begin() as c:
        for tune_id in (1, 2):
            c.execute(
                text("INSERT INTO tunes (id, title, name, token, model_type, base_model_id, created_at, updated_at) "
                     "VALUES (:i, 't', 'man', 'ohwx', 'faceid', 'x', :n, :n)"),
                {"i": tune_id, "n": now},
            )
            c.execute(
                text("INSERT INTO tune_photos (tune_id, position, width, height, box, landmarks, quality, ignored_faces, crop_key, large_crop_key) "
                     "VALUES (:i, 0, 1, 1, '{}', '[]', '{}', 0, 'a', 'b')"),
                {"i": tune_id},
            )
            c.execute(
                text("INSERT INTO tune_identities (tune_id, encoder, dim, vector, min_similarity) VALUES (:i, 'e', 1, x'00', 1.0)"),
                {"i": tune_id},
            )
        c.execute(
            text("INSERT INTO prompts (id, account_id, tune_id, text, negative_prompt, options, status, attempts, created_at, updated_at) "
                 "VALUES (7, 1, 1, 'a', '', '{}', 'succeeded', 1, :n, :n)"),
            {"n": now},
        )
        c.execute(text("INSERT INTO prompt_images (prompt_id, position, blob_key, seed, width, height) VALUES (7, 0, 'k', 1, 1, 1)"))

    migrate(engine)

    def counts():
        with engine.connect() as c:
            return [c.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in ("tunes", "tune_photos", "tune_identities", "prompts", "prompt_images")]

    assert counts() == [2, 2, 2, 1, 1]
    with engine.connect() as c:
        assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1  # back on after migrating
        assert "AUTOINCREMENT" in c.execute(text("SELECT sql FROM sqlite_master WHERE name = 'tunes'")).scalar()
    # Old tunes keep their ids; new ones start above the gallery; prompts go on from 7.
    assert new_tune(engine) == FIRST_USER_TUNE_ID
    assert new_prompt(engine) == 8
    # Cascades still work on the rebuilt table.
    with engine.begin() as c:
        c.execute(TuneRow.__table__.delete().where(TuneRow.id == 1))
    assert counts() == [2, 1, 1, 2, 1]  # tune 1, its photo and identity gone; a tune and a prompt added


def test_down_and_up_again(engine):
    migrate(engine)
    first = new_tune(engine)
    downgrade(engine, "0004")
    with engine.connect() as c:
        assert "AUTOINCREMENT" not in c.execute(text("SELECT sql FROM sqlite_master WHERE name = 'tunes'")).scalar()
        assert c.execute(text("SELECT count(*) FROM tunes")).scalar() == 1
    migrate(engine)
    assert new_tune(engine) > first


def test_the_migration_refuses_to_run_with_foreign_keys_on(engine):
    from alembic import command
    from alembic.config import Config

    migrate(engine, "0004")
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as connection:  # foreign keys on, as every engine connection has them
        config.attributes["connection"] = connection
        with pytest.raises(RuntimeError, match="foreign keys"):
            command.upgrade(config, "0005")
