"""Tunes, their photos, per-photo embeddings and identities.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tunes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("model_type", sa.String(32), nullable=False),
        sa.Column("base_model_id", sa.String(128), nullable=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_tunes_account_id", "tunes", ["account_id"])
    op.create_table(
        "tune_photos",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tune_id", sa.Integer(), sa.ForeignKey("tunes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(255), nullable=True),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("box", sa.JSON(), nullable=False),
        sa.Column("landmarks", sa.JSON(), nullable=False),
        sa.Column("quality", sa.JSON(), nullable=False),
        sa.Column("ignored_faces", sa.Integer(), nullable=False),
        sa.Column("crop_key", sa.String(512), nullable=False),
        sa.Column("large_crop_key", sa.String(512), nullable=False),
        sa.Column("original_key", sa.String(512), nullable=True),
    )
    op.create_index("ix_tune_photos_tune_id", "tune_photos", ["tune_id"])
    op.create_table(
        "photo_embeddings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("photo_id", sa.Integer(), sa.ForeignKey("tune_photos.id", ondelete="CASCADE"), nullable=False),
        sa.Column("encoder", sa.String(64), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("photo_id", "encoder"),
    )
    op.create_index("ix_photo_embeddings_photo_id", "photo_embeddings", ["photo_id"])
    op.create_table(
        "tune_identities",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tune_id", sa.Integer(), sa.ForeignKey("tunes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("encoder", sa.String(64), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("min_similarity", sa.Float(), nullable=False),
        sa.UniqueConstraint("tune_id", "encoder"),
    )
    op.create_index("ix_tune_identities_tune_id", "tune_identities", ["tune_id"])


def downgrade() -> None:
    op.drop_table("tune_identities")
    op.drop_table("photo_embeddings")
    op.drop_table("tune_photos")
    op.drop_table("tunes")
