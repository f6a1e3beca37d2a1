"""Each sales line carries the moment its invoice or credit note was made (invoiced_at), and a run record
may end within a day (covers_till_second): `erpgen live` commits the day's sales as their moments pass.

Lines loaded before this revision are given midnight of their invoice_date: the data format changes
(runlog.FORMAT 3), so such a dataset is verified and extended only after generating it again.
Downgrade drops both columns; it refuses a dataset whose last record ends within a day, which an older
erpgen would read as covering that whole day and never complete.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("sales_transactions") as b:
        b.add_column(sa.Column("invoiced_at", sa.DateTime(), nullable=True))
    midnight = "invoice_date || ' 00:00:00'" if dialect == "sqlite" else "CAST(invoice_date AS TIMESTAMP)"
    if dialect in ("mysql", "mariadb"):
        midnight = "CAST(invoice_date AS DATETIME)"
    op.execute(f"UPDATE sales_transactions SET invoiced_at = {midnight}")
    with op.batch_alter_table("sales_transactions") as b:
        b.alter_column("invoiced_at", existing_type=sa.DateTime(), nullable=False)
    with op.batch_alter_table("erpgen_runs") as b:
        b.add_column(sa.Column("covers_till_second", sa.Integer(), nullable=True))


def downgrade() -> None:
    last = (
        op.get_bind()
        .execute(sa.text("SELECT covers_till_second FROM erpgen_runs ORDER BY run_id DESC LIMIT 1"))
        .first()
    )
    if last is not None and last[0] is not None:
        raise RuntimeError(
            "this dataset ends within a day (erpgen live), which an older erpgen cannot carry on: "
            "generate it again after the downgrade"
        )
    with op.batch_alter_table("erpgen_runs") as b:
        b.drop_column("covers_till_second")
    with op.batch_alter_table("sales_transactions") as b:
        b.drop_column("invoiced_at")
