"""Core tables: generators, runs, images, scores, hand labels.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "generators",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String, nullable=False, unique=True),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("resolution", sa.Integer, nullable=False),
        sa.Column("z_dim", sa.Integer, nullable=False),
        sa.Column("w_dim", sa.Integer, nullable=False),
        sa.Column("label_size", sa.Integer, nullable=False),
        sa.Column("num_layers", sa.Integer, nullable=False),
        sa.Column("config_json", sa.Text, nullable=False),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("generators.id")),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("stage", sa.String, nullable=False),
        sa.Column("options_json", sa.Text, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("ended_at", sa.DateTime),
        sa.Column("version", sa.String, nullable=False),
        sa.Column("message", sa.Text),
    )
    op.create_table(
        "images",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("generator_id", sa.Integer, sa.ForeignKey("generators.id"), nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id")),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("label_mode", sa.String, nullable=False),
        sa.Column("z", sa.LargeBinary, nullable=False),
        sa.Column("label", sa.LargeBinary),
        sa.Column("w", sa.LargeBinary, nullable=False),
        sa.Column("psi", sa.Float, nullable=False),
        sa.Column("trunc_layers", sa.Integer, nullable=False),
        sa.Column("noise_mode", sa.String, nullable=False),
        sa.Column("path", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("generator_id", "seed", "label_mode", name="uq_image_seed"),
    )
    op.create_table(
        "scores",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id", ondelete="CASCADE"), nullable=False),
        sa.Column("property", sa.String, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("scorer", sa.String, nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id")),
        sa.UniqueConstraint("image_id", "property", "scorer", name="uq_score"),
    )
    op.create_table(
        "hand_labels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id", ondelete="CASCADE"), nullable=False),
        sa.Column("property", sa.String, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.UniqueConstraint("image_id", "property", name="uq_hand_label"),
    )


def downgrade() -> None:
    for table in ("hand_labels", "scores", "images", "runs", "generators"):
        op.drop_table(table)
