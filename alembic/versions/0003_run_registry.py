"""Run registry: status, start, row counts and content digest of each load, and what --resume needs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

NEW = (
    ("status", sa.Text(), "COMPLETE"),
    ("started_at", sa.DateTime(), None),
    ("row_counts", sa.Text(), "{}"),
    ("content_digest", sa.Text(), "{}"),
    ("block_size", sa.Integer(), "0"),
    ("blocks_done", sa.Integer(), "0"),
    ("next_line_id", sa.BigInteger(), "0"),
)


def upgrade() -> None:
    with op.batch_alter_table("erpgen_runs") as b:
        for name, type_, default in NEW:
            b.add_column(sa.Column(name, type_, nullable=True, server_default=default))
        b.alter_column("loaded_at", existing_type=sa.DateTime(), nullable=True)
    op.execute("UPDATE erpgen_runs SET started_at = loaded_at")  # runs before 0003 were always complete
    with op.batch_alter_table("erpgen_runs") as b:
        for name, type_, _ in NEW:
            b.alter_column(name, existing_type=type_, nullable=False, server_default=None)
        b.create_check_constraint(op.f("ck_erpgen_runs_status"), "status IN ('LOADING', 'COMPLETE')")


def downgrade() -> None:
    op.execute("DELETE FROM erpgen_runs WHERE loaded_at IS NULL")
    with op.batch_alter_table("erpgen_runs") as b:
        b.drop_constraint(op.f("ck_erpgen_runs_status"), type_="check")
        for name, _, _ in reversed(NEW):
            b.drop_column(name)
        b.alter_column("loaded_at", existing_type=sa.DateTime(), nullable=False)
