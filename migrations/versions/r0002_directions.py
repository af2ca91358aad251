"""Groupings, direction sets, directions and named identities.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "groupings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("generator_id", sa.Integer, sa.ForeignKey("generators.id"), nullable=False),
        sa.Column("group_by_json", sa.Text, nullable=False),
        sa.Column("cutoffs_json", sa.Text, nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id")),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("generator_id", "name", name="uq_grouping_name"),
    )
    op.create_table(
        "group_members",
        sa.Column("grouping_id", sa.Integer, sa.ForeignKey("groupings.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("group_name", sa.String, nullable=False),
    )
    op.create_index("ix_group_members_group", "group_members", ["grouping_id", "group_name"])
    op.create_table(
        "direction_sets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String, nullable=False, unique=True),
        sa.Column("method", sa.String, nullable=False),
        sa.Column("generator_id", sa.Integer, sa.ForeignKey("generators.id")),
        sa.Column("w_dim", sa.Integer, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("sign_flipped", sa.Boolean, nullable=False),
        sa.Column("options_json", sa.Text, nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id")),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "directions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("set_id", sa.Integer, sa.ForeignKey("direction_sets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("property", sa.String, nullable=False),
        sa.Column("group_name", sa.String, nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        sa.Column("metrics_json", sa.Text, nullable=False),
        sa.UniqueConstraint("set_id", "property", "group_name", name="uq_direction"),
    )
    op.create_table(
        "identities",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String, nullable=False, unique=True),
        sa.Column("z_dim", sa.Integer, nullable=False),
        sa.Column("label_size", sa.Integer, nullable=False),
        sa.Column("z", sa.LargeBinary, nullable=False),
        sa.Column("label", sa.LargeBinary),
        sa.Column("group_name", sa.String),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("meta_json", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("identities", "directions", "direction_sets", "group_members", "groupings"):
        op.drop_table(table)
