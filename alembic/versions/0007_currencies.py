"""Currencies and their daily exchange rates into the company's currency.

A database loaded before this revision gets the two tables empty (its run record says format 2, which
`erpgen extend` does not carry on: generate it again for the rates). Downgrade drops them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# VARCHAR on MySQL, which indexes no TEXT column (as schema.TextKey)
CODE = sa.Text().with_variant(sa.String(64, collation="utf8mb4_bin"), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "currencies",
        sa.Column("currency_code", CODE, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("decimals", sa.SmallInteger(), nullable=False),
        sa.Column("is_company", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint("is_company IN (0, 1)", name=op.f("ck_currencies_is_company_flag")),
        sa.PrimaryKeyConstraint("currency_code", name=op.f("pk_currencies")),
    )
    op.create_table(
        "exchange_rates",
        sa.Column("currency_code", CODE, nullable=False),
        sa.Column("rate_date", sa.Date(), nullable=False),
        sa.Column("rate", sa.Numeric(18, 10), nullable=False),
        sa.CheckConstraint("rate > 0", name=op.f("ck_exchange_rates_rate_positive")),
        sa.ForeignKeyConstraint(
            ["currency_code"],
            ["currencies.currency_code"],
            name=op.f("fk_exchange_rates_currency_code_currencies"),
        ),
        sa.PrimaryKeyConstraint("currency_code", "rate_date", name=op.f("pk_exchange_rates")),
    )


def downgrade() -> None:
    op.drop_table("exchange_rates")
    op.drop_table("currencies")
