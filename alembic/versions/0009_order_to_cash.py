"""The order-to-cash chain: sales_orders, deliveries and payments; the fact lines and the invoice headers
name their order (order_id), and a credit-note line says why its goods came back (return_reason).

A database loaded before this revision gets the three tables empty and NULL in the new columns (its run
record says format 4, which `erpgen extend` does not carry on: generate it again for the chain).
Downgrade drops the tables and the columns.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# VARCHAR on MySQL, which indexes no TEXT column (as schema.TextKey)
KEY = sa.Text().with_variant(sa.String(64, collation="utf8mb4_bin"), "mysql", "mariadb")


def _fk(table: str, column: str, parent: str, key: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{parent}.{key}"], name=op.f(f"fk_{table}_{column}_{parent}"))


def upgrade() -> None:
    op.create_table(
        "sales_orders",
        sa.Column("order_id", KEY, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("order_date", sa.Date(), nullable=False),
        sa.Column("ordered_at", sa.DateTime(), nullable=False),
        sa.Column("currency_code", KEY, nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("cancelled_on", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "status = 'OPEN' OR status = 'CANCELLED' OR status = 'SHIPPED' OR status = 'INVOICED' "
            "OR status = 'PAID'",
            name=op.f("ck_sales_orders_status"),
        ),
        sa.CheckConstraint(
            "(status = 'CANCELLED') = (cancelled_on IS NOT NULL)",
            name=op.f("ck_sales_orders_cancelled_when_cancelled"),
        ),
        sa.CheckConstraint(
            "cancelled_on IS NULL OR cancelled_on >= order_date",
            name=op.f("ck_sales_orders_cancelled_after_order"),
        ),
        _fk("sales_orders", "customer_id", "customers", "customer_id"),
        _fk("sales_orders", "store_id", "stores", "store_id"),
        _fk("sales_orders", "currency_code", "currencies", "currency_code"),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_sales_orders")),
    )
    op.create_index(op.f("ix_sales_orders_customer_id"), "sales_orders", ["customer_id"], unique=False)
    op.create_table(
        "deliveries",
        sa.Column("order_id", KEY, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("shipped_on", sa.Date(), nullable=False),
        sa.Column("promised_on", sa.Date(), nullable=False),
        sa.Column("delivered_on", sa.Date(), nullable=True),
        sa.CheckConstraint("promised_on >= shipped_on", name=op.f("ck_deliveries_promised_after_shipping")),
        sa.CheckConstraint(
            "delivered_on IS NULL OR delivered_on >= shipped_on",
            name=op.f("ck_deliveries_delivered_after_shipping"),
        ),
        _fk("deliveries", "order_id", "sales_orders", "order_id"),
        _fk("deliveries", "customer_id", "customers", "customer_id"),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_deliveries")),
    )
    op.create_table(
        "payments",
        sa.Column("payment_id", KEY, nullable=False),
        sa.Column("invoice_id", KEY, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("currency_code", KEY, nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.CheckConstraint(
            "method = 'CARD' OR method = 'CASH' OR method = 'TRANSFER'", name=op.f("ck_payments_method")
        ),
        _fk("payments", "invoice_id", "invoices", "invoice_id"),
        _fk("payments", "customer_id", "customers", "customer_id"),
        _fk("payments", "currency_code", "currencies", "currency_code"),
        sa.PrimaryKeyConstraint("payment_id", name=op.f("pk_payments")),
    )
    op.create_index(op.f("ix_payments_customer_id"), "payments", ["customer_id"], unique=False)
    for table in ("sales_transactions", "invoices"):
        with op.batch_alter_table(table) as b:
            b.add_column(sa.Column("order_id", KEY, nullable=True))
            b.create_foreign_key(
                op.f(f"fk_{table}_order_id_sales_orders"), "sales_orders", ["order_id"], ["order_id"]
            )
    with op.batch_alter_table("sales_transactions") as b:
        b.add_column(sa.Column("return_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sales_transactions") as b:
        b.drop_column("return_reason")
    for table in ("invoices", "sales_transactions"):
        with op.batch_alter_table(table) as b:
            b.drop_constraint(op.f(f"fk_{table}_order_id_sales_orders"), type_="foreignkey")
            b.drop_column("order_id")
    op.drop_table("payments")
    op.drop_table("deliveries")
    op.drop_table("sales_orders")
