"""Checks shared by the SQLite (tests/store) and PostgreSQL (tests/scale) id tests."""

from __future__ import annotations

from sqlalchemy import Engine, delete, insert

from lookalike.store.tables import CallbackRow, PromptRow, TuneRow, utcnow


def new_tune(engine: Engine) -> int:
    now = utcnow()
    with engine.begin() as connection:
        return connection.execute(
            insert(TuneRow).values(title="t", name="woman", token="ohwx", model_type="faceid", base_model_id="x", created_at=now, updated_at=now)
        ).inserted_primary_key[0]


def new_prompt(engine: Engine) -> int:
    now = utcnow()
    with engine.begin() as connection:
        return connection.execute(
            insert(PromptRow).values(
                account_id=1, tune_id=1, text="a", negative_prompt="", options={}, status="queued", attempts=0, created_at=now, updated_at=now
            )
        ).inserted_primary_key[0]


def new_callback(engine: Engine) -> int:
    now = utcnow()
    with engine.begin() as connection:
        return connection.execute(
            insert(CallbackRow).values(
                account_id=1, url="http://x/", event="tune", object_id=1, body="{}", status="pending", attempts=0, created_at=now, updated_at=now
            )
        ).inserted_primary_key[0]


def drop(engine: Engine, table, row_id: int) -> None:
    with engine.begin() as connection:
        connection.execute(delete(table).where(table.id == row_id))


def assert_newest_ids_are_not_reused(engine: Engine) -> None:
    for make, table in ((new_tune, TuneRow), (new_prompt, PromptRow), (new_callback, CallbackRow)):
        first = make(engine)
        newest = make(engine)
        assert newest > first
        drop(engine, table, newest)
        again = make(engine)
        assert again > newest, f"{table.__tablename__}: id {newest} was handed out again"
        drop(engine, table, again)
        drop(engine, table, first)
        # Even with the table empty.
        assert make(engine) > again
