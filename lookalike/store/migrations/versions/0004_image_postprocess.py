"""What post-processing did to each image (applied, or skipped and why), for the API's image details.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("prompt_images") as batch:
        batch.add_column(sa.Column("postprocess", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("prompt_images") as batch:
        batch.drop_column("postprocess")
