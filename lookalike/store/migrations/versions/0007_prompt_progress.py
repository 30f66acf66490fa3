"""A running prompt's live progress (docs/SERVICE.md, "Progress"): phase, step of N, finishing step.

Revision ID: 0007
Revises: 0006

Written by the worker that runs the prompt (throttled, conditional on the
row still being ``processing``), read by the API's polling and its events
stream, and cleared when the prompt succeeds or fails. Prompts stored
before this revision have none; a queued prompt's position is computed when
it is read, never stored.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # add_column needs no table rebuild on SQLite, so foreign keys stay as they are.
    op.add_column("prompts", sa.Column("progress", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("prompts") as batch:
        batch.drop_column("progress")
