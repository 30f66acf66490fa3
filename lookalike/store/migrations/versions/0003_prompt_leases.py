"""Prompt leases and publishing marks, for workers in other processes (Celery).

Revision ID: 0003
Revises: 0002

``published_at``: when the prompt was last handed to the broker (NULL: not
yet, or the broker refused it). ``lease_until`` and ``claimed_by``: which
worker runs it and until when its claim holds without renewal.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch_alter_table: SQLite cannot add several columns in one ALTER otherwise.
    with op.batch_alter_table("prompts") as batch:
        batch.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("prompts") as batch:
        batch.drop_column("claimed_by")
        batch.drop_column("lease_until")
        batch.drop_column("published_at")
