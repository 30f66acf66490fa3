"""LoRA tunes: one training job per tune (queue state, lease, progress, checkpoint, result).

Revision ID: 0008
Revises: 0007

A new table rather than columns on ``tunes``: a FaceID tune has no training,
and the job's churn (progress written several times a second, lease renewals)
then never rewrites the tune row that every read of the tune joins. The row
is removed with its tune (ON DELETE CASCADE), which is how a running training
learns that it was cancelled. Tunes stored before this revision are FaceID
tunes and have none.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tune_trainings",
        sa.Column("tune_id", sa.Integer(), sa.ForeignKey("tunes.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("progress", sa.JSON(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(255), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checkpoint_key", sa.String(512), nullable=True),
        sa.Column("checkpoint_step", sa.Integer(), nullable=True),
        sa.Column("lora_key", sa.String(512), nullable=True),
        sa.Column("lora_digest", sa.String(64), nullable=True),
        sa.Column("callback", sa.String(2048), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_tune_trainings_status", "tune_trainings", ["status"])


def downgrade() -> None:
    op.drop_index("ix_tune_trainings_status", table_name="tune_trainings")
    op.drop_table("tune_trainings")
