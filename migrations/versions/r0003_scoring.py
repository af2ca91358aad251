"""Scoring and filtering: normalisation statistics per scorer/property, named selections.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "normalisations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("scorer", sa.String, nullable=False),
        sa.Column("property", sa.String, nullable=False),
        sa.Column("mean", sa.Float, nullable=False),
        sa.Column("std", sa.Float, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("reference", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("scorer", "property", name="uq_normalisation"),
    )
    op.create_table(
        "selections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String, nullable=False, unique=True),
        sa.Column("generator_id", sa.Integer, sa.ForeignKey("generators.id"), nullable=False),
        sa.Column("rules_json", sa.Text, nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id")),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "selection_members",
        sa.Column("selection_id", sa.Integer, sa.ForeignKey("selections.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    )
    with op.batch_alter_table("scores") as batch:
        batch.create_index("ix_scores_scorer_property", ["scorer", "property"])


def downgrade() -> None:
    with op.batch_alter_table("scores") as batch:
        batch.drop_index("ix_scores_scorer_property")
    for table in ("selection_members", "selections", "normalisations"):
        op.drop_table(table)
