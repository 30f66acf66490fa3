"""A tune's branch (Astria's ``branch``; ``fast`` for mock tunes) and its Idempotency-Key.

Revision ID: 0006
Revises: 0005

``fast`` marks a mock tune (Astria's way to test an integration): no face
analysis, and its prompts return placeholder images without loading a
model. Other tunes leave it empty and show the base model's family
(``sd15``, ``sdxl1``).

``idempotency_key`` and ``request_hash``: a client that retries ``POST /tunes``
after a dropped connection sends the same ``Idempotency-Key`` and gets the
first tune back, as for prompts; a title is no longer a key unless the
server is told so (Astria's default).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # add_column needs no table rebuild, so foreign keys stay as they are.
    op.add_column("tunes", sa.Column("branch", sa.String(16), nullable=True))
    op.add_column("tunes", sa.Column("idempotency_key", sa.String(255), nullable=True))
    op.add_column("tunes", sa.Column("request_hash", sa.String(64), nullable=True))
    op.create_index("ix_tunes_account_idempotency_key", "tunes", ["account_id", "idempotency_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_tunes_account_idempotency_key", table_name="tunes")
    with op.batch_alter_table("tunes") as batch:
        batch.drop_column("request_hash")
        batch.drop_column("idempotency_key")
        batch.drop_column("branch")
