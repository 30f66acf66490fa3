"""Alembic environment: runs on the connection handed over by lookalike.store.database.migrate."""

from alembic import context

from lookalike.store.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations through lookalike.store.database.migrate (or `lookalike db upgrade`).")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
