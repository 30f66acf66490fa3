"""Public ids are never reused and user tune ids start above every gallery id; a table for server secrets.

Revision ID: 0005
Revises: 0004

SQLite hands out ``max(id) + 1``, so deleting the newest tune or prompt let
the next one take its id (and a client holding the old id would reach the
new object). ``AUTOINCREMENT`` keeps the high-water mark in
``sqlite_sequence`` instead; SQLite can only add it by rebuilding the table,
which ``batch_alter_table(recreate="always")`` does (indexes and the unique
constraint come along; rows that point at the table keep pointing at it
because ``migrate`` turns foreign keys off around migrations, so dropping
the old copy cascades nowhere). PostgreSQL's sequences never go back, so
only the starting point changes there.

Tune ids start at 10_000_001 (``lookalike.store.ids.FIRST_USER_TUNE_ID``,
written out here so that later changes to the constant do not rewrite
history): ``/tunes/{id}/prompts`` takes tune ids and gallery ids alike.
Tunes made before this migration keep their ids; the sequence only moves up.

``server_secrets``: values that every API server on the database must share
and that are made once, such as the key of signed image URLs.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

FIRST_USER_TUNE_ID = 10_000_001
LASTING = ("tunes", "prompts", "callbacks")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _require_foreign_keys_off(bind)
        for table in LASTING:
            with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
                pass
        _raise_sqlite_sequence(bind, "tunes", FIRST_USER_TUNE_ID - 1)
    elif bind.dialect.name == "postgresql":
        _raise_postgres_sequence(bind, "tunes", FIRST_USER_TUNE_ID - 1)
    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("server_secrets")
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _require_foreign_keys_off(bind)
        for table in LASTING:
            with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": False}):
                pass
    # PostgreSQL: the sequences stay where they are; going back down could hand out used ids.


def _require_foreign_keys_off(bind) -> None:
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        # Dropping the old copy of a rebuilt table would cascade-delete every photo, identity and image.
        raise RuntimeError("Run this migration through lookalike.store.database.migrate (it turns SQLite foreign keys off).")


def _raise_sqlite_sequence(bind, table: str, at_least: int) -> None:
    current = bind.execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = :t"), {"t": table}).scalar()
    if current is None:
        bind.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :s)"), {"t": table, "s": at_least})
    elif current < at_least:
        bind.execute(sa.text("UPDATE sqlite_sequence SET seq = :s WHERE name = :t"), {"t": table, "s": at_least})


def _raise_postgres_sequence(bind, table: str, at_least: int) -> None:
    sequence = bind.execute(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}).scalar_one()
    # The name comes from PostgreSQL itself, already quoted where needed.
    last_value, is_called = bind.execute(sa.text(f"SELECT last_value, is_called FROM {sequence}")).one()
    handed_out = last_value if is_called else last_value - 1
    if handed_out < at_least:
        # is_called=true: the next nextval() returns at_least + 1.
        bind.execute(sa.text("SELECT setval(:s, :v, true)"), {"s": sequence, "v": at_least})
