"""Scoring CNNs, fine-tune lineage and evaluations: ``cnn_models``, ``generators.lineage_json``,
``evaluations`` / ``evaluation_cases``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cnn_models",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("resolution", sa.Integer, nullable=False),
        sa.Column("width", sa.Float, nullable=False),
        sa.Column("folds", sa.Integer, nullable=False),
        sa.Column("metrics_json", sa.Text, nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id")),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("name", "kind", name="uq_cnn_model"),
    )
    with op.batch_alter_table("generators") as batch:
        batch.add_column(sa.Column("lineage_json", sa.Text))
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("generator_id", sa.Integer, sa.ForeignKey("generators.id"), nullable=False),
        sa.Column("direction_set_id", sa.Integer, sa.ForeignKey("direction_sets.id", ondelete="SET NULL")),
        sa.Column("method", sa.String, nullable=False),
        sa.Column("scorer", sa.String, nullable=False),
        sa.Column("options_json", sa.Text, nullable=False),
        sa.Column("summary_json", sa.Text, nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id")),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "evaluation_cases",
        sa.Column("evaluation_id", sa.Integer, sa.ForeignKey("evaluations.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("case", sa.Integer, primary_key=True),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("group_name", sa.String),
        sa.Column("r_eyes", sa.Float),
        sa.Column("r_mouth", sa.Float),
        sa.Column("r_pose", sa.Float),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("metrics_json", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("evaluation_cases")
    op.drop_table("evaluations")
    with op.batch_alter_table("generators") as batch:
        batch.drop_column("lineage_json")
    op.drop_table("cnn_models")
