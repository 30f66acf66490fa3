"""The same models and Alembic migrations on a real PostgreSQL (psycopg 3)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import inspect, select

from lookalike.config import Settings

pytestmark = pytest.mark.postgres


def test_migrations_run_down_and_up_with_real_types(pg_url):
    from alembic import command
    from alembic.config import Config

    from lookalike.store.database import _MIGRATIONS, make_engine, migrate

    engine = make_engine(pg_url)
    try:
        migrate(engine)
        columns = {c["name"]: c for c in inspect(engine).get_columns("prompts")}
        # Portable types land as PostgreSQL's own: JSON, timestamptz, bigint.
        assert type(columns["options"]["type"]).__name__ == "JSON"
        assert columns["lease_until"]["type"].timezone is True
        assert {c["name"]: type(c["type"]).__name__ for c in inspect(engine).get_columns("prompt_images")}["seed"] == "BIGINT"
        assert type({c["name"]: c for c in inspect(engine).get_columns("photo_embeddings")}["vector"]["type"]).__name__ == "BYTEA"

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate(engine)  # and up again from nothing
        assert {"tunes", "prompts", "prompt_images", "callbacks", "accounts"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_tunes_prompts_and_claims_on_postgres(pg_url, tmp_path, astronaut):
    from lookalike.accounts.service import AccountService
    from lookalike.jobs.engine import OutputImage
    from lookalike.jobs.prompts import NewPrompt, PromptStore
    from lookalike.jobs.queue import BUSY, CLAIMED, FINISHED, JobQueue
    from lookalike.services import Services
    from lookalike.store.tables import PromptRow
    from lookalike.tunes.photo_check import PhotoInput
    from tests.conftest import encode

    services = Services(Settings(data_dir=tmp_path, database_url=pg_url))
    try:
        account = AccountService(services.sessions).create_key(name="pg").account_id
        tune = services.tunes.create(
            title="pg", name="woman", photos=[PhotoInput(encode(astronaut), "a.jpg")], base_model=999, account_id=account
        )
        assert services.tunes.get(tune["id"], account_id=account)["title"] == "pg"
        assert services.tunes.identity(tune["id"], services.analyzer.encoder, account_id=account).shape[-1] > 0
        store = PromptStore(services.sessions, services.blobs)
        new = NewPrompt(
            account_id=account, tune_id=999, base_model_id="999", text="a", negative_prompt="",
            options={"target": "base", "resolved": {"seed": 2**32 - 1}}, idempotency_key="k",
        )
        row, created = store.create(new)
        again, created_again = store.create(new)  # the unique (account, key) holds on PostgreSQL too
        assert created and not created_again and again.id == row.id

        queue = JobQueue(services.sessions, services.blobs)
        assert queue.due_for_publishing(republish_after_s=60) == [row.id]
        assert queue.due_for_publishing(republish_after_s=60) == []  # marked: no second publish
        first = queue.claim(row.id, worker="w1", lease_s=30)
        assert first.outcome == CLAIMED and first.attempt == 1
        assert queue.claim(row.id, worker="w2", lease_s=30).outcome == BUSY
        # Live progress (migration 0007): a conditional JSON write, and queue positions computed when read.
        from lookalike.jobs.progress import progress_state

        assert queue.write_progress(row.id, progress_state("denoising", step=1, steps=4), attempt=1)
        assert not queue.write_progress(row.id, progress_state("denoising", step=2, steps=4), attempt=2)
        assert store.find(row.id).progress["step"] == 1
        waiting = [store.create(replace(new, idempotency_key=f"q{i}"))[0] for i in range(2)]
        assert store.queue_positions([store.find(row.id), *waiting]) == {waiting[0].id: 1, waiting[1].id: 2}
        png = encode(astronaut[:8, :8], "PNG")
        done = queue.complete(row.id, [OutputImage(png, seed=2**32 - 1, width=8, height=8)], attempt=1)
        assert done.status == "succeeded" and [i.seed for i in done.images] == [2**32 - 1]
        assert done.progress is None and not queue.write_progress(row.id, progress_state("saving"), attempt=1)
        assert queue.claim(row.id, worker="w2", lease_s=30).outcome == FINISHED
        with services.sessions() as session:
            assert session.scalar(select(PromptRow.options).where(PromptRow.id == row.id))["resolved"]["seed"] == 2**32 - 1
    finally:
        services.close()


def test_processes_starting_together_migrate_once(pg_url):
    """Many API servers and workers start at once on an empty database: one migrates, none fails."""
    import subprocess
    import sys

    code = "import sys; from lookalike.store.database import make_engine, migrate; migrate(make_engine(sys.argv[1]))"
    procs = [subprocess.Popen([sys.executable, "-c", code, pg_url], stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
