"""Channels and countries, categories with roles, line prices and returns, lifecycle ground truth, runs.

Existing rows are kept: stores and customers become US retail, the categories table is filled from the
products, line unit prices are revenue / quantity.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

LINE_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ROLES = "'DEVICE', 'REFILL', 'ACCESSORY', 'SPARE_PART'"
CHANNELS = "'ONLINE', 'RETAIL', 'B2B'"
# VARCHAR on MySQL, which indexes no TEXT column (the variant was added before any MySQL database existed)
CATEGORY = sa.Text().with_variant(sa.String(64, collation="utf8mb4_bin"), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "categories",
        sa.Column("category", CATEGORY, nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.CheckConstraint(f"role IN ({ROLES})", name=op.f("ck_categories_role")),
        sa.PrimaryKeyConstraint("category", name=op.f("pk_categories")),
    )
    op.execute("INSERT INTO categories (category, role) SELECT DISTINCT category, category FROM products")

    with op.batch_alter_table("stores") as b:
        b.add_column(sa.Column("channel", sa.Text(), nullable=False, server_default="RETAIL"))
        b.add_column(sa.Column("country", sa.Text(), nullable=False, server_default="US"))
        b.create_check_constraint(op.f("ck_stores_channel"), f"channel IN ({CHANNELS})")
    with op.batch_alter_table("stores") as b:
        b.alter_column("channel", server_default=None)
        b.alter_column("country", server_default=None)

    with op.batch_alter_table("products") as b:
        b.drop_constraint(op.f("ck_products_category"), type_="check")
        b.drop_constraint(op.f("ck_products_gramm_only_refills"), type_="check")
        b.create_foreign_key(
            op.f("fk_products_category_categories"), "categories", ["category"], ["category"]
        )

    with op.batch_alter_table("customers") as b:
        b.add_column(sa.Column("country", sa.Text(), nullable=False, server_default="US"))
        b.add_column(sa.Column("channel", sa.Text(), nullable=False, server_default="RETAIL"))
        b.add_column(sa.Column("company_name", sa.Text(), nullable=True))
        b.create_check_constraint(op.f("ck_customers_channel"), f"channel IN ({CHANNELS})")
        b.create_check_constraint(
            op.f("ck_customers_company_only_b2b"), "(channel = 'B2B') = (company_name IS NOT NULL)"
        )
    with op.batch_alter_table("customers") as b:
        b.alter_column("country", server_default=None)
        b.alter_column("channel", server_default=None)

    with op.batch_alter_table("sales_transactions") as b:
        b.add_column(sa.Column("unit_price", sa.Numeric(12, 2), nullable=True))
        b.add_column(sa.Column("returned_line_id", LINE_ID, nullable=True))
    op.execute("UPDATE sales_transactions SET unit_price = revenue * 1.0 / quantity")
    with op.batch_alter_table("sales_transactions") as b:
        b.alter_column("unit_price", existing_type=sa.Numeric(12, 2), nullable=False)
        b.create_foreign_key(
            op.f("fk_sales_transactions_returned_line_id_sales_transactions"),
            "sales_transactions",
            ["returned_line_id"],
            ["line_id"],
        )
        b.create_check_constraint(
            op.f("ck_sales_transactions_returns_reference_a_sale"),
            "(quantity < 0) = (returned_line_id IS NOT NULL)",
        )

    op.create_table(
        "customer_lifecycle",
        sa.Column("customer_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("segment", sa.Text(), nullable=False),
        sa.Column("acquired_on", sa.Date(), nullable=False),
        sa.Column("first_purchase_on", sa.Date(), nullable=True),
        sa.Column("lost_on", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "segment IN ('ONE_TIME', 'LOYAL', 'OCCASIONAL', 'B2B')",
            name=op.f("ck_customer_lifecycle_segment"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.customer_id"],
            name=op.f("fk_customer_lifecycle_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_lifecycle")),
    )
    op.create_table(
        "lifecycle_events",
        sa.Column("customer_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event_no", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("event_date", sa.Date(), nullable=False),
        sa.CheckConstraint(
            "event IN ('ACQUIRED', 'FIRST_PURCHASE', 'DORMANT', 'REACTIVATED', 'LOST')",
            name=op.f("ck_lifecycle_events_event"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.customer_id"], name=op.f("fk_lifecycle_events_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("customer_id", "event_no", name=op.f("pk_lifecycle_events")),
    )
    op.create_table(
        "erpgen_runs",
        sa.Column("run_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("erpgen_version", sa.Text(), nullable=False),
        sa.Column("scenario", sa.Text(), nullable=False),
        sa.Column("scenario_toml", sa.Text(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_erpgen_runs")),
    )


def downgrade() -> None:
    op.drop_table("erpgen_runs")
    op.drop_table("lifecycle_events")
    op.drop_table("customer_lifecycle")
    # 0001 has no returns or line prices: credit-note lines go with the columns. An index lets the
    # self-referencing key check each deleted line at once rather than by a scan of the table (MySQL
    # has one already: it indexes every foreign key).
    indexed = op.get_bind().dialect.name in ("mysql", "mariadb")
    if not indexed:
        op.create_index("ix_sales_transactions_returned_line_id", "sales_transactions", ["returned_line_id"])
    op.execute("DELETE FROM sales_transactions WHERE returned_line_id IS NOT NULL")
    if not indexed:
        op.drop_index("ix_sales_transactions_returned_line_id", "sales_transactions")
    with op.batch_alter_table("sales_transactions") as b:
        b.drop_constraint(op.f("ck_sales_transactions_returns_reference_a_sale"), type_="check")
        b.drop_constraint(
            op.f("fk_sales_transactions_returned_line_id_sales_transactions"), type_="foreignkey"
        )
        b.drop_column("returned_line_id")
        b.drop_column("unit_price")
    with op.batch_alter_table("customers") as b:
        b.drop_constraint(op.f("ck_customers_company_only_b2b"), type_="check")
        b.drop_constraint(op.f("ck_customers_channel"), type_="check")
        b.drop_column("company_name")
        b.drop_column("channel")
        b.drop_column("country")
    with op.batch_alter_table("products") as b:
        b.drop_constraint(op.f("fk_products_category_categories"), type_="foreignkey")
        b.create_check_constraint(
            op.f("ck_products_category"), "category IN ('DEVICE', 'REFILL', 'ACCESSORY', 'SPARE_PART')"
        )
        b.create_check_constraint(
            op.f("ck_products_gramm_only_refills"), "(category = 'REFILL') = (gramm_g IS NOT NULL)"
        )
    with op.batch_alter_table("stores") as b:
        b.drop_constraint(op.f("ck_stores_channel"), type_="check")
        b.drop_column("country")
        b.drop_column("channel")
    op.drop_table("categories")
