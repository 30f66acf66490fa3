"""Per-person likeness of an image with several people (issue 13): which face stands for whom, and its score.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("prompt_images") as batch:
        batch.add_column(sa.Column("identity_scores", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("prompt_images") as batch:
        batch.drop_column("identity_scores")
