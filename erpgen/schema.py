"""The schema, defined once. Alembic revisions are checked against this metadata (no drift)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
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
# MySQL indexes no TEXT column without a prefix length: a text key is a VARCHAR there, compared and
# ordered byte by byte as in SQLite and PostgreSQL (not case-insensitively, MySQL's default).
TextKey = Text().with_variant(String(64, collation="utf8mb4_bin"), "mysql", "mariadb")

ROLES = ("DEVICE", "REFILL", "ACCESSORY", "SPARE_PART")
CHANNELS = ("ONLINE", "RETAIL", "B2B")
SEGMENTS = ("ONE_TIME", "LOYAL", "OCCASIONAL", "B2B")
EVENTS = ("ACQUIRED", "FIRST_PURCHASE", "DORMANT", "REACTIVATED", "LOST")
# where an order stands at the end of the data (sales_orders.status)
ORDER_STATUSES = ("OPEN", "CANCELLED", "SHIPPED", "INVOICED", "PAID")
RETURN_REASONS = (
    "NO_LONGER_NEEDED",
    "NOT_AS_DESCRIBED",
    "DEFECTIVE",
    "DAMAGED",
    "WRONG_ITEM",
    "ARRIVED_LATE",
)
PAYMENT_METHODS = ("CARD", "CASH", "TRANSFER")


def _flag(name: str) -> CheckConstraint:
    return CheckConstraint(f"{name} IN (0, 1)", name=f"{name}_flag")


def _one_of(column: str, values: tuple[str, ...], name: str | None = None) -> CheckConstraint:
    """An OR chain, not an IN list: SQLite builds a temporary table per row for IN in a CHECK (0004)."""
    return CheckConstraint(" OR ".join(f"{column} = '{v}'" for v in values), name=name or column)


stores = Table(
    "stores",
    metadata,
    Column("store_id", Integer, primary_key=True, autoincrement=False),
    Column("store_name", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("country", Text, nullable=False),
    _one_of("channel", CHANNELS),
)

categories = Table(
    "categories",
    metadata,
    Column("category", TextKey, primary_key=True),
    Column("role", Text, nullable=False),
    _one_of("role", ROLES),
)

products = Table(
    "products",
    metadata,
    Column("product_id", Integer, primary_key=True, autoincrement=False),
    Column("product_name", Text, nullable=False),
    Column("brand", Text, nullable=False),
    Column("category", TextKey, ForeignKey("categories.category"), nullable=False),
    Column("gramm_g", Integer, nullable=True),
    Column("unit_price", Numeric(12, 2), nullable=False),
    CheckConstraint("gramm_g > 0", name="gramm_positive"),
    CheckConstraint("unit_price > 0", name="price_positive"),
)

currencies = Table(
    "currencies",
    metadata,
    Column("currency_code", TextKey, primary_key=True),  # ISO 4217
    Column("name", Text, nullable=False),
    Column("decimals", SmallInteger, nullable=False),  # minor units (JPY: 0)
    Column("is_company", SmallInteger, nullable=False),  # 1: the company's own currency
    _flag("is_company"),
)

# RATE_SCALE decimals: 6 would leave a yen or a won in pounds (0.000603) three significant digits
RATE_SCALE = 10
exchange_rates = Table(
    "exchange_rates",
    metadata,
    Column("currency_code", TextKey, ForeignKey("currencies.currency_code"), primary_key=True),
    Column("rate_date", Date, primary_key=True),
    # units of the company's currency per unit of currency_code (the company's own: 1 every day)
    Column("rate", Numeric(18, RATE_SCALE), nullable=False),
    CheckConstraint("rate > 0", name="rate_positive"),
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
    Column("country", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("company_name", Text),
    _flag("email_opt_in"),
    _flag("sms_opt_in"),
    _flag("call_opt_in"),
    CheckConstraint("email_opt_in = 0 OR email IS NOT NULL", name="email_opt_in_needs_email"),
    CheckConstraint("sms_opt_in = 0 OR phone IS NOT NULL", name="sms_opt_in_needs_phone"),
    CheckConstraint("call_opt_in = 0 OR phone IS NOT NULL", name="call_opt_in_needs_phone"),
    _one_of("channel", CHANNELS),
    CheckConstraint("(channel = 'B2B') = (company_name IS NOT NULL)", name="company_only_b2b"),
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
    Column("unit_price", Numeric(12, 2), nullable=False),
    # a credit-note line points at the sale it gives back
    Column("returned_line_id", LineId, ForeignKey("sales_transactions.line_id"), nullable=True),
    # the moment the invoice (or credit note) was made, on invoice_date (0006: after the older columns)
    Column("invoiced_at", DateTime, nullable=False),
    # 0009: the order a sale line was invoiced for; a credit-note line keeps its sale's (NULL only on lines
    # loaded before 0009), and says why the goods came back
    Column("order_id", TextKey, ForeignKey("sales_orders.order_id"), nullable=True),
    Column("return_reason", Text, nullable=True),
    CheckConstraint("quantity <> 0", name="quantity_nonzero"),
    CheckConstraint("(quantity < 0) = (returned_line_id IS NOT NULL)", name="returns_reference_a_sale"),
    Index(None, "customer_id"),
    Index(None, "invoice_date"),
)

# One header per invoice id of the fact lines (a sale or a credit note). The lines' revenue is in the
# company's currency (the prices are its), so total_company is their sum; total is it in the document's
# currency (the store's country's) at the invoice date's rate, rounded to cents.
invoices = Table(
    "invoices",
    metadata,
    Column("invoice_id", TextKey, primary_key=True),
    Column("customer_id", Integer, ForeignKey("customers.customer_id"), nullable=False),
    Column("store_id", Integer, ForeignKey("stores.store_id"), nullable=False),
    Column("is_credit", SmallInteger, nullable=False),  # 1: a credit note (CRN-...)
    Column("invoice_date", Date, nullable=False),
    Column("invoiced_at", DateTime, nullable=False),
    Column("due_on", Date, nullable=False),  # invoice_date + the channel's payment_days
    Column("currency_code", TextKey, ForeignKey("currencies.currency_code"), nullable=False),
    Column("total", Numeric(14, 2), nullable=False),
    Column("total_company", Numeric(14, 2), nullable=False),
    # 0009: the order invoiced (a credit note: the order whose goods it takes back; NULL before 0009)
    Column("order_id", TextKey, ForeignKey("sales_orders.order_id"), nullable=True),
    _flag("is_credit"),
    CheckConstraint("due_on >= invoice_date", name="due_after_invoice"),
    Index(None, "customer_id"),
)

# The order-to-cash chain (0009), erpgen.simulation.documents. An order is what a customer asked for; the
# invoice of each sale (INV-c-s) has one (SO-c-2s), and a cancelled order (SO-c-2s-1) may come before it.
# Its status is where it stands at the end of the data: an extension updates it (and cancelled_on).
sales_orders = Table(
    "sales_orders",
    metadata,
    Column("order_id", TextKey, primary_key=True),
    Column("customer_id", Integer, ForeignKey("customers.customer_id"), nullable=False),
    Column("store_id", Integer, ForeignKey("stores.store_id"), nullable=False),
    Column("order_date", Date, nullable=False),
    Column("ordered_at", DateTime, nullable=False),
    Column("currency_code", TextKey, ForeignKey("currencies.currency_code"), nullable=False),
    Column("status", Text, nullable=False),
    Column("cancelled_on", Date, nullable=True),
    _one_of("status", ORDER_STATUSES),
    CheckConstraint("(status = 'CANCELLED') = (cancelled_on IS NOT NULL)", name="cancelled_when_cancelled"),
    CheckConstraint("cancelled_on IS NULL OR cancelled_on >= order_date", name="cancelled_after_order"),
    Index(None, "customer_id"),
)

# One per order shipped (the order's key; its customer's, as every table keyed by customer): delivered_on is NULL while the goods are on their way at the
# end of the data (an extension sets it).
deliveries = Table(
    "deliveries",
    metadata,
    Column("order_id", TextKey, ForeignKey("sales_orders.order_id"), primary_key=True),
    Column("customer_id", Integer, ForeignKey("customers.customer_id"), nullable=False),
    Column("shipped_on", Date, nullable=False),
    Column("promised_on", Date, nullable=False),
    Column("delivered_on", Date, nullable=True),
    CheckConstraint("promised_on >= shipped_on", name="promised_after_shipping"),
    CheckConstraint("delivered_on IS NULL OR delivered_on >= shipped_on", name="delivered_after_shipping"),
)

# One per invoice settled by the end of the data: a sale's payment, or a credit note's refund (its amount
# negative, as the credit note's total), in the invoice's currency.
payments = Table(
    "payments",
    metadata,
    Column("payment_id", TextKey, primary_key=True),
    Column("invoice_id", TextKey, ForeignKey("invoices.invoice_id"), nullable=False),
    Column("customer_id", Integer, ForeignKey("customers.customer_id"), nullable=False),
    Column("paid_on", Date, nullable=False),
    Column("method", Text, nullable=False),
    Column("currency_code", TextKey, ForeignKey("currencies.currency_code"), nullable=False),
    Column("amount", Numeric(14, 2), nullable=False),
    _one_of("method", PAYMENT_METHODS),
    Index(None, "customer_id"),
)

customer_lifecycle = Table(
    "customer_lifecycle",
    metadata,
    Column(
        "customer_id", Integer, ForeignKey("customers.customer_id"), primary_key=True, autoincrement=False
    ),
    Column("segment", Text, nullable=False),
    Column("acquired_on", Date, nullable=False),
    Column("first_purchase_on", Date),
    Column("lost_on", Date),
    _one_of("segment", SEGMENTS),
)

lifecycle_events = Table(
    "lifecycle_events",
    metadata,
    Column(
        "customer_id", Integer, ForeignKey("customers.customer_id"), primary_key=True, autoincrement=False
    ),
    Column("event_no", Integer, primary_key=True, autoincrement=False),
    Column("event", Text, nullable=False),
    Column("event_date", Date, nullable=False),
    _one_of("event", EVENTS),
)

erpgen_runs = Table(
    "erpgen_runs",
    metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=False),
    Column("erpgen_version", Text, nullable=False),
    Column("scenario", Text, nullable=False),
    Column("scenario_toml", Text, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("parameters", Text, nullable=False),
    Column("loaded_at", DateTime, nullable=True),  # when the load was committed (NULL while LOADING)
    Column("status", Text, nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("row_counts", Text, nullable=False),  # JSON: table -> rows
    Column("content_digest", Text, nullable=False),  # JSON: table -> SHA-256 (erpgen.digest)
    Column("block_size", Integer, nullable=False),  # what --resume needs to carry on
    Column("blocks_done", Integer, nullable=False),
    Column("next_line_id", BigInteger, nullable=False),
    # the data format that made the record (runlog.FORMAT): what `extend` and `verify` may compare with
    Column("format_version", Integer, nullable=False),
    Column("covers_till", Date, nullable=True),  # the last day the data covers after this run
    Column("rates", Text, nullable=True),  # JSON: the calibrated simulation.Rates, which extensions reuse
    # set when the data ends within covers_till (erpgen live): the last second of that day it covers
    Column("covers_till_second", Integer, nullable=True),
    _one_of("status", ("LOADING", "COMPLETE")),
)

# Tables erpgen owns, parents first. `--replace` drops exactly these (children first).
TABLES = (
    stores,
    categories,
    products,
    currencies,
    exchange_rates,
    customers,
    sales_orders,
    sales_transactions,
    invoices,
    deliveries,
    payments,
    customer_lifecycle,
    lifecycle_events,
    erpgen_runs,
)
FACT = sales_transactions
FACT_COLUMNS = tuple(c.name for c in FACT.columns)  # its columns in order, as every bulk path writes them
# The content digest (erpgen.digest) of the tables keyed by customer is taken in segments of this many
# consecutive customer ids, so that whoever holds whole segments (a Dask worker) can hash them; the engines
# cut blocks to fit.
DIGEST_SEGMENT = 1_000
# The tables whose rows a block of customers makes on its own (a Dask worker writes and hashes them)
CUSTOMER_TABLES = (
    customers, sales_orders, sales_transactions, invoices, deliveries, payments, customer_lifecycle,
    lifecycle_events,
)  # fmt: skip
# The master tables that gain rows when a dataset is carried on to a later day (erpgen extend)
DATED_MASTERS = (exchange_rates,)
# Tables whose keys and indexes are built after the bulk load
BULK = (
    sales_orders,
    sales_transactions,
    invoices,
    deliveries,
    payments,
    customer_lifecycle,
    lifecycle_events,
)

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
