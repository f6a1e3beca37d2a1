"""Each run record says which data format made it (format_version) and the last day its data covers
(covers_till), and the rates its calibration found (rates): `erpgen extend` adds a record per extension,
extends only a dataset of its own format with the original run's rates, and `erpgen verify` compares
digests only within one format.

Records made before this revision get format 1 (erpgen before `extend`) and no covers_till.
Downgrade keeps only the latest record (an older erpgen reads one record per dataset).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("erpgen_runs") as b:
        b.add_column(sa.Column("format_version", sa.Integer(), nullable=True, server_default="1"))
        b.add_column(sa.Column("covers_till", sa.Date(), nullable=True))
        b.add_column(sa.Column("rates", sa.Text(), nullable=True))
    with op.batch_alter_table("erpgen_runs") as b:
        b.alter_column("format_version", existing_type=sa.Integer(), nullable=False, server_default=None)


def downgrade() -> None:
    last = op.get_bind().scalar(sa.text("SELECT MAX(run_id) FROM erpgen_runs"))
    if last is not None:
        op.execute(sa.text("DELETE FROM erpgen_runs WHERE run_id <> :last").bindparams(last=last))
    with op.batch_alter_table("erpgen_runs") as b:
        b.drop_column("rates")
        b.drop_column("covers_till")
        b.drop_column("format_version")
