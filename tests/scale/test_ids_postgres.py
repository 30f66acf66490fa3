"""Migration 0005 on PostgreSQL: ids never reused, user tunes start above the gallery, the start only moves up."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from lookalike.store.ids import FIRST_USER_TUNE_ID
from tests.store.id_checks import assert_newest_ids_are_not_reused, new_tune

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(pg_url):
    from lookalike.store.database import make_engine

    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


def test_fresh_database_starts_tunes_above_the_gallery_and_never_reuses_ids(engine):
    from lookalike.store.database import migrate

    migrate(engine)
    assert new_tune(engine) == FIRST_USER_TUNE_ID
    assert_newest_ids_are_not_reused(engine)


def test_upgrade_keeps_old_tunes_and_never_moves_the_sequence_down(engine):
    from lookalike.store.database import downgrade, migrate

    migrate(engine, "0004")
    with engine.begin() as c:
        c.execute(
            text("INSERT INTO tunes (title, name, token, model_type, base_model_id, created_at, updated_at) "
                 "VALUES ('old', 'man', 'ohwx', 'faceid', 'x', now(), now())")
        )
    migrate(engine)
    with engine.connect() as c:
        assert c.execute(text("SELECT id FROM tunes WHERE title = 'old'")).scalar() == 1
    assert new_tune(engine) == FIRST_USER_TUNE_ID
    # Beyond the start already (e.g. ids moved up by hand): 0005 again leaves the sequence alone.
    with engine.begin() as c:
        c.execute(text("SELECT setval(pg_get_serial_sequence('tunes', 'id'), :v, true)"), {"v": FIRST_USER_TUNE_ID + 500})
    downgrade(engine, "0004")
    migrate(engine)
    assert new_tune(engine) == FIRST_USER_TUNE_ID + 501
