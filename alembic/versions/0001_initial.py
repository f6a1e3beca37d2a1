"""Initial schema: stores, products, customers and sales_transactions with real keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# VARCHAR on MySQL, which indexes no TEXT column (the variant was added before any MySQL database existed)
CATEGORY = sa.Text().with_variant(sa.String(64, collation="utf8mb4_bin"), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "stores",
        sa.Column("store_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("store_name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", name=op.f("pk_stores")),
    )
    op.create_table(
        "products",
        sa.Column("product_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("product_name", sa.Text(), nullable=False),
        sa.Column("brand", sa.Text(), nullable=False),
        sa.Column("category", CATEGORY, nullable=False),
        sa.Column("gramm_g", sa.Integer(), nullable=True),
        sa.Column("unit_price", sa.Numeric(12, 2), nullable=False),
        sa.CheckConstraint(
            "category IN ('DEVICE', 'REFILL', 'ACCESSORY', 'SPARE_PART')", name=op.f("ck_products_category")
        ),
        sa.CheckConstraint(
            "(category = 'REFILL') = (gramm_g IS NOT NULL)", name=op.f("ck_products_gramm_only_refills")
        ),
        sa.CheckConstraint("gramm_g > 0", name=op.f("ck_products_gramm_positive")),
        sa.CheckConstraint("unit_price > 0", name=op.f("ck_products_price_positive")),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_products")),
    )
    op.create_table(
        "customers",
        sa.Column("customer_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.Date(), nullable=False),
        sa.Column("first_name", sa.Text(), nullable=True),
        sa.Column("last_name", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("email_opt_in", sa.SmallInteger(), nullable=False),
        sa.Column("sms_opt_in", sa.SmallInteger(), nullable=False),
        sa.Column("call_opt_in", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint("email_opt_in IN (0, 1)", name=op.f("ck_customers_email_opt_in_flag")),
        sa.CheckConstraint("sms_opt_in IN (0, 1)", name=op.f("ck_customers_sms_opt_in_flag")),
        sa.CheckConstraint("call_opt_in IN (0, 1)", name=op.f("ck_customers_call_opt_in_flag")),
        sa.CheckConstraint(
            "email_opt_in = 0 OR email IS NOT NULL", name=op.f("ck_customers_email_opt_in_needs_email")
        ),
        sa.CheckConstraint(
            "sms_opt_in = 0 OR phone IS NOT NULL", name=op.f("ck_customers_sms_opt_in_needs_phone")
        ),
        sa.CheckConstraint(
            "call_opt_in = 0 OR phone IS NOT NULL", name=op.f("ck_customers_call_opt_in_needs_phone")
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customers")),
    )
    op.create_table(
        "sales_transactions",
        sa.Column(
            "line_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("invoice_id", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("invoice_date", sa.Date(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Numeric(12, 3), nullable=False),
        sa.Column("revenue", sa.Numeric(14, 2), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity <> 0", name=op.f("ck_sales_transactions_quantity_nonzero")),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.customer_id"],
            name=op.f("fk_sales_transactions_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.product_id"], name=op.f("fk_sales_transactions_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.store_id"], name=op.f("fk_sales_transactions_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("line_id", name=op.f("pk_sales_transactions")),
    )
    op.create_index(op.f("ix_sales_transactions_customer_id"), "sales_transactions", ["customer_id"])
    op.create_index(op.f("ix_sales_transactions_invoice_date"), "sales_transactions", ["invoice_date"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sales_transactions_invoice_date"), table_name="sales_transactions")
    if op.get_bind().dialect.name not in ("mysql", "mariadb"):  # there the FK holds it until the table goes
        op.drop_index(op.f("ix_sales_transactions_customer_id"), table_name="sales_transactions")
    op.drop_table("sales_transactions")
    op.drop_table("customers")
    op.drop_table("products")
    op.drop_table("stores")
