"""Run rows record their process (pid, host, process start), so a run whose process is gone can be
told from one still working and shown as ``interrupted``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("pid", sa.Integer))
        batch.add_column(sa.Column("host", sa.String))
        batch.add_column(sa.Column("process_start", sa.String))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("process_start")
        batch.drop_column("host")
        batch.drop_column("pid")
