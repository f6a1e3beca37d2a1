"""Invoice headers: one row per invoice id of the fact lines (sales and credit notes), with the due date
from the channel's payment terms and the total in the document's currency and the company's.

A database loaded before this revision gets the table empty (its run record says format 3, which
`erpgen extend` does not carry on: generate it again for the headers). Downgrade drops it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# VARCHAR on MySQL, which indexes no TEXT column (as schema.TextKey)
KEY = sa.Text().with_variant(sa.String(64, collation="utf8mb4_bin"), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "invoices",
        sa.Column("invoice_id", KEY, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("is_credit", sa.SmallInteger(), nullable=False),
        sa.Column("invoice_date", sa.Date(), nullable=False),
        sa.Column("invoiced_at", sa.DateTime(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("currency_code", KEY, nullable=False),
        sa.Column("total", sa.Numeric(14, 2), nullable=False),
        sa.Column("total_company", sa.Numeric(14, 2), nullable=False),
        sa.CheckConstraint("is_credit IN (0, 1)", name=op.f("ck_invoices_is_credit_flag")),
        sa.CheckConstraint("due_on >= invoice_date", name=op.f("ck_invoices_due_after_invoice")),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.customer_id"], name=op.f("fk_invoices_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(["store_id"], ["stores.store_id"], name=op.f("fk_invoices_store_id_stores")),
        sa.ForeignKeyConstraint(
            ["currency_code"],
            ["currencies.currency_code"],
            name=op.f("fk_invoices_currency_code_currencies"),
        ),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_invoices")),
    )
    op.create_index(op.f("ix_invoices_customer_id"), "invoices", ["customer_id"], unique=False)


def downgrade() -> None:
    # the table with its index (MariaDB refuses to drop an index a foreign key uses, ahead of the table)
    op.drop_table("invoices")
