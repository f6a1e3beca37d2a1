"""The schema, defined once. Alembic revisions are checked against this metadata (no drift)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    Table,
    Text,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

# SQLite only makes a rowid alias (the fast, compact primary key) of a column typed exactly INTEGER.
LineId = BigInteger().with_variant(Integer(), "sqlite")

CATEGORIES = ("DEVICE", "REFILL", "ACCESSORY", "SPARE_PART")


def _flag(name: str) -> CheckConstraint:
    return CheckConstraint(f"{name} IN (0, 1)", name=f"{name}_flag")


stores = Table(
    "stores",
    metadata,
    Column("store_id", Integer, primary_key=True, autoincrement=False),
    Column("store_name", Text, nullable=False),
)

products = Table(
    "products",
    metadata,
    Column("product_id", Integer, primary_key=True, autoincrement=False),
    Column("product_name", Text, nullable=False),
    Column("brand", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("gramm_g", Integer, nullable=True),
    Column("unit_price", Numeric(12, 2), nullable=False),
    CheckConstraint("category IN ('DEVICE', 'REFILL', 'ACCESSORY', 'SPARE_PART')", name="category"),
    CheckConstraint("(category = 'REFILL') = (gramm_g IS NOT NULL)", name="gramm_only_refills"),
    CheckConstraint("gramm_g > 0", name="gramm_positive"),
    CheckConstraint("unit_price > 0", name="price_positive"),
)

customers = Table(
    "customers",
    metadata,
    Column("customer_id", Integer, primary_key=True, autoincrement=False),
    Column("created_at", Date, nullable=False),
    Column("first_name", Text),
    Column("last_name", Text),
    Column("email", Text),
    Column("phone", Text),
    Column("email_opt_in", SmallInteger, nullable=False),
    Column("sms_opt_in", SmallInteger, nullable=False),
    Column("call_opt_in", SmallInteger, nullable=False),
    _flag("email_opt_in"),
    _flag("sms_opt_in"),
    _flag("call_opt_in"),
    CheckConstraint("email_opt_in = 0 OR email IS NOT NULL", name="email_opt_in_needs_email"),
    CheckConstraint("sms_opt_in = 0 OR phone IS NOT NULL", name="sms_opt_in_needs_phone"),
    CheckConstraint("call_opt_in = 0 OR phone IS NOT NULL", name="call_opt_in_needs_phone"),
)

sales_transactions = Table(
    "sales_transactions",
    metadata,
    Column("line_id", LineId, primary_key=True, autoincrement=False),
    Column("invoice_id", Text, nullable=False),
    Column("customer_id", Integer, ForeignKey("customers.customer_id"), nullable=False),
    Column("invoice_date", Date, nullable=False),
    Column("product_id", Integer, ForeignKey("products.product_id"), nullable=False),
    Column("quantity", Numeric(12, 3), nullable=False),
    Column("revenue", Numeric(14, 2), nullable=False),
    Column("store_id", Integer, ForeignKey("stores.store_id"), nullable=False),
    CheckConstraint("quantity <> 0", name="quantity_nonzero"),
    Index(None, "customer_id"),
    Index(None, "invoice_date"),
)

# Tables erpgen owns, parents first. `--replace` drops exactly these (children first).
TABLES = (stores, products, customers, sales_transactions)
FACT = sales_transactions

# The seed README's columns, in its order: the CSV export and the cross-target digest use these.
SEED_COLUMNS = {
    "products": ("product_id", "product_name", "brand", "category", "gramm_g"),
    "customers": (
        "customer_id",
        "created_at",
        "first_name",
        "last_name",
        "email",
        "phone",
        "email_opt_in",
        "sms_opt_in",
        "call_opt_in",
    ),
    "sales_transactions": (
        "invoice_id",
        "customer_id",
        "invoice_date",
        "product_id",
        "quantity",
        "revenue",
        "store_id",
    ),
}
