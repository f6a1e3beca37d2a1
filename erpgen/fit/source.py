"""Reading a sales history: a table of a database, a CSV file or a Parquet file (or folder), streamed in
chunks into a few compact numpy columns (erpgen.fit.measures reads nothing else).

What is kept of each row: the customer, the product, the document and the channel and country as small
integer codes (the values themselves never leave this module, but channel and country names, which the
scenario needs), the day, the amount and the quantity. A source with more rows than `max_rows` is
sampled by customer, in a seeded way: a customer is kept when a keyed hash of (seed, its id) falls under
max_rows / rows, so each kept customer keeps its whole history and the same seed keeps the same ones.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from erpgen.dates import EPOCH
from erpgen.errors import ConfigError, TargetError, one_line

DEFAULT_MAX_ROWS = 20_000_000  # about 40 bytes a row in memory: under a GB
CHUNK_ROWS = 100_000

# Column roles, and the names a role is found by when not given (compared without case, "_" or " ")
ROLES = (
    "customer", "date", "amount", "quantity", "product", "channel", "country", "document", "returns",
)  # fmt: skip
OPTIONAL = ("quantity", "product", "channel", "country", "document", "returns")
NAMES = {
    "customer": ("customer_id", "customer", "customerid", "client_id", "client", "cust_id", "customer_no",
                 "customer_number", "buyer_id", "account_id"),
    "date": ("invoice_date", "order_date", "date", "invoicedate", "transaction_date", "sale_date",
             "purchase_date", "orderdate", "timestamp", "ts", "datetime", "created_at", "order_timestamp"),
    "amount": ("revenue", "amount", "sales", "total", "line_total", "dollar_value", "value", "net_amount",
               "turnover", "price_total", "sales_amount", "total_amount"),
    "quantity": ("quantity", "qty", "units", "number_of_cds", "n_items", "items", "count"),
    "product": ("product_id", "product", "sku", "stockcode", "stock_code", "item_id", "article", "item"),
    "channel": ("channel", "sales_channel", "store_id", "store", "shop"),
    "country": ("country", "country_code", "countrycode", "nation"),
    "document": ("invoice_id", "invoice", "invoice_no", "invoiceno", "order_id", "order_no", "orderid",
                 "document_id", "document", "receipt_id", "transaction_id", "basket_id"),
    "returns": ("is_return", "return", "returned", "is_credit", "return_flag", "credit_note"),
}  # fmt: skip


@dataclass(frozen=True)
class SourceSpec:
    """Where a history is and which columns hold what (None: found by name)."""

    database_url: str | None = None
    table: str | None = None
    csv: str | None = None
    parquet: str | None = None
    columns: dict[str, str | None] = field(default_factory=dict)

    def describe(self) -> str:
        from erpgen import urls

        if self.csv:
            return self.csv
        if self.parquet:
            return self.parquet
        return f"{urls.mask(urls.parse(self.database_url or ''))} table {self.table}"


@dataclass
class History:
    """A sales history as columns, one value per row (line) kept."""

    customer: np.ndarray  # int64 codes
    day: np.ndarray  # int64 days since 1970-01-01
    amount: np.ndarray  # float64, negative on returns where the source says so
    quantity: np.ndarray | None  # float64
    product: np.ndarray | None  # int64 codes
    document: np.ndarray | None  # int64 codes
    channel: np.ndarray | None  # int64 codes into channel_names
    country: np.ndarray | None
    is_return: np.ndarray  # bool
    channel_names: list[str] = field(default_factory=list)
    country_names: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # role -> the source's column
    source_rows: int = 0  # rows read
    sampled: float = 1.0  # share of customers kept (1: all)
    amount_cents: frozenset[int] = frozenset()  # every amount of the source, so none is written back

    @property
    def rows(self) -> int:
        return len(self.day)


def resolve_columns(available: list[str], given: dict[str, str | None], where: str) -> dict[str, str]:
    """The source's column for each role: the one given, else one found by name; customer, date and
    amount must be there."""

    def norm(name: str) -> str:
        return re.sub(r"[^a-z0-9]", "", name.lower())

    by_norm = {norm(c): c for c in available}
    out: dict[str, str] = {}
    for role in ROLES:
        name = given.get(role)
        if name:
            if name not in available:
                match = by_norm.get(norm(name))
                if match is None:
                    raise ConfigError(
                        f"{where} has no column {one_line(name)!r} (given as the {role})",
                        f"its columns: {', '.join(available[:30])}",
                    )
                name = match
            out[role] = name
            continue
        found = next((by_norm[norm(n)] for n in NAMES[role] if norm(n) in by_norm), None)
        if found is not None and found not in out.values():
            out[role] = found
        elif role not in OPTIONAL:
            flag = "--" + role
            raise ConfigError(
                f"{where} has no {role} column that erpgen recognises",
                f"name it with {flag} COLUMN; its columns: {', '.join(available[:30])}",
            )
    return out


def read(spec: SourceSpec, *, max_rows: int = DEFAULT_MAX_ROWS, seed: int = 42) -> History:
    """The history `spec` points at, checked: raises ConfigError or TargetError in one line for what the
    user can fix."""
    if sum(bool(x) for x in (spec.database_url, spec.csv, spec.parquet)) != 1:
        raise ConfigError("give one source: --database-url with --table, --csv FILE or --parquet PATH")
    if spec.csv:
        available, count, chunks = _csv(Path(spec.csv))
    elif spec.parquet:
        available, count, chunks = _parquet(Path(spec.parquet))
    else:
        available, count, chunks = _database(spec)
    columns = resolve_columns(available, spec.columns, spec.describe())
    return _collect(spec.describe(), columns, count, chunks(columns), max_rows, seed)


# -- the three kinds of source: (column names, row count or None, chunks of {column: values}) -----
def _csv(path: Path):
    import pyarrow as pa
    from pyarrow import csv

    if not path.is_file():
        raise ConfigError(f"{path}: no such file", "give the path of a CSV file with --csv")
    try:
        reader = csv.open_csv(path, read_options=csv.ReadOptions(block_size=8 << 20))
        names = reader.schema.names
    except (pa.ArrowInvalid, OSError) as exc:
        raise ConfigError(f"{path}: cannot read it as CSV: {one_line(str(exc))}") from None

    def chunks(columns: dict[str, str]):
        # every column as text: a column typed by its first block could be refused on a later one
        options = csv.ConvertOptions(
            include_columns=list(columns.values()), column_types=dict.fromkeys(columns.values(), pa.string())
        )
        try:
            for batch in csv.open_csv(path, convert_options=options):
                yield {name: batch.column(name).to_pylist() for name in columns.values()}
        except pa.ArrowInvalid as exc:
            raise ConfigError(f"{path}: {one_line(str(exc))}") from None

    return names, None, chunks


def _parquet(path: Path):
    import pyarrow as pa
    import pyarrow.dataset as ds

    if not path.exists():
        raise ConfigError(f"{path}: no such file or folder", "give a Parquet file or folder with --parquet")
    try:
        dataset = ds.dataset(path, format="parquet")
        names = dataset.schema.names
        count = dataset.count_rows()
    except (pa.ArrowInvalid, OSError) as exc:
        raise ConfigError(f"{path}: cannot read it as Parquet: {one_line(str(exc))}") from None

    def chunks(columns: dict[str, str]):
        for batch in dataset.to_batches(columns=list(columns.values()), batch_size=CHUNK_ROWS):
            yield {name: _arrow_values(batch.column(name)) for name in columns.values()}

    return names, count, chunks


def _arrow_values(array) -> list | np.ndarray:
    import pyarrow as pa

    if pa.types.is_date(array.type) or pa.types.is_timestamp(array.type):
        return array.cast(pa.date32()).to_numpy(zero_copy_only=False).astype("datetime64[D]")
    return array.to_pylist()


def _database(spec: SourceSpec):
    from sqlalchemy import MetaData, Table, inspect, select
    from sqlalchemy.exc import NoSuchTableError

    from erpgen import urls
    from erpgen.database import connect

    url = urls.parse(spec.database_url or "")
    if urls.missing_file(url):
        raise TargetError(f"{urls.mask(url)} does not exist", "fix --database-url")
    if not spec.table:
        raise ConfigError(
            f"{urls.mask(url)} holds no erpgen dataset, and --table is missing",
            "name the table that holds the sales lines",
        )
    schema, _, name = spec.table.rpartition(".")
    with connect(url) as conn:
        if spec.table == ERPGEN_VIEW:
            table = _erpgen_sales(conn)
        else:
            try:
                table = Table(name, MetaData(), schema=schema or None, autoload_with=conn)
            except NoSuchTableError:
                tables = inspect(conn).get_table_names(schema=schema or None)
                raise ConfigError(
                    f"{spec.describe()}: no such table",
                    f"tables there: {', '.join(tables[:30]) or 'none'}",
                ) from None
        names = [c.name for c in table.columns]
        count = conn.execute(select(_count()).select_from(table)).scalar_one()

    def chunks(columns: dict[str, str]):
        with connect(url) as conn:
            query = select(*(table.c[c] for c in columns.values()))
            result = conn.execution_options(stream_results=True, yield_per=CHUNK_ROWS).execute(query)
            for part in result.partitions():
                values = list(zip(*part)) if part else [[] for _ in columns]
                yield dict(zip(columns.values(), values))

    return names, count, chunks


def _erpgen_sales(conn):
    """An erpgen dataset's sales lines with their store's channel and country, under the names fit
    finds by itself."""
    from sqlalchemy import MetaData, Table, select

    meta = MetaData()
    sales = Table("sales_transactions", meta, autoload_with=conn)
    stores = Table("stores", meta, autoload_with=conn)
    return (
        select(
            sales.c.customer_id, sales.c.invoice_date, sales.c.revenue, sales.c.quantity, sales.c.product_id,
            stores.c.channel, stores.c.country, sales.c.invoice_id,
        )
        .join_from(sales, stores, sales.c.store_id == stores.c.store_id)
        .subquery("sales")
    )  # fmt: skip


def _count():
    from sqlalchemy import func

    return func.count()


# -- turning values into columns ----------------------------------------------------------------
class _Codes:
    """Values -> small integer codes, in order of first sight; keeps the values only when asked."""

    def __init__(self) -> None:
        self.code: dict[object, int] = {}

    def of(self, values: list) -> np.ndarray:
        codes = self.code
        out = np.empty(len(values), dtype=np.int64)
        for i, v in enumerate(values):
            c = codes.get(v)
            if c is None:
                c = codes[v] = len(codes)
            out[i] = c
        return out

    def names(self) -> list[str]:
        return [str(v) for v in self.code]


def _collect(
    where: str, columns: dict[str, str], count: int | None, chunks: Iterable[dict], max_rows: int, seed: int
) -> History:
    keep_share = 1.0 if count is None or count <= max_rows else max_rows / count
    codes = {role: _Codes() for role in ("customer", "product", "document", "channel", "country")}
    kept_customer: dict[object, bool] = {}
    parts: dict[str, list[np.ndarray]] = {role: [] for role in columns}
    rows = 0
    amounts: set[int] = set()
    for chunk in _sampled_when_too_big(chunks, count, max_rows):
        raw_customer = chunk[columns["customer"]]
        rows += len(raw_customer)
        if keep_share < 1.0:
            keep = np.array([_kept(v, seed, keep_share, kept_customer) for v in raw_customer], dtype=bool)
        else:
            keep = None
        for role, name in columns.items():
            values = chunk[name]
            if keep is not None:
                values = [v for v, k in zip(values, keep) if k] if isinstance(values, list) else values[keep]
            if role == "customer":
                if any(v is None for v in values):
                    raise ConfigError(f"{where}: column {name} ({role}) has empty values")
                column = codes[role].of(values)
            elif role in codes:
                column = codes[role].of(["" if v is None else v for v in values])
            elif role == "date":
                column = _days(values, where, name)
            elif role == "returns":
                column = _flags(values, where, name)
            else:
                column = _numbers(values, where, name, role)
                if role == "amount":
                    amounts.update(np.round(np.abs(column) * 100).astype(np.int64).tolist())
            parts[role].append(column)
    data = {role: np.concatenate(p) if p else np.zeros(0) for role, p in parts.items()}
    if not rows:
        raise ConfigError(f"{where} is empty", "fit needs a sales history with rows")
    n = len(data["date"])
    quantity = data.get("quantity")
    amount = data["amount"]
    is_return = data["returns"].astype(bool) if "returns" in data else np.zeros(n, dtype=bool)
    if quantity is not None:
        is_return |= quantity < 0
    is_return |= amount < 0
    # a return flag with positive amounts: the amount comes back
    amount = np.where(is_return, -np.abs(amount), amount)
    if quantity is not None:
        quantity = np.where(is_return, -np.abs(quantity), quantity)
    return History(
        customer=data["customer"].astype(np.int64),
        day=data["date"].astype(np.int64),
        amount=amount,
        quantity=quantity,
        product=data.get("product"),
        document=data.get("document"),
        channel=data.get("channel"),
        country=data.get("country"),
        is_return=is_return,
        channel_names=codes["channel"].names(),
        country_names=codes["country"].names(),
        columns=dict(columns),
        source_rows=rows,
        sampled=keep_share,
        amount_cents=frozenset(amounts),
    )


def _sampled_when_too_big(chunks: Iterable[dict], count: int | None, max_rows: int) -> Iterator[dict]:
    """The chunks; a source whose size was not known up front (CSV) and turns out too big is refused,
    with the flag that samples it."""
    seen = 0
    for chunk in chunks:
        seen += len(next(iter(chunk.values()), []))
        if count is None and seen > max_rows:
            raise ConfigError(
                f"the CSV file has more than --max-rows {max_rows:,} rows",
                "convert it to Parquet (whose row count is known up front, so fit samples customers), "
                "or raise --max-rows if memory allows",
            )
        yield chunk


def _kept(value: object, seed: int, share: float, cache: dict[object, bool]) -> bool:
    kept = cache.get(value)
    if kept is None:
        digest = hashlib.blake2b(str(value).encode(), digest_size=8, key=str(seed).encode()).digest()
        kept = cache[value] = int.from_bytes(digest, "big") < share * 2**64
    return kept


def _days(values, where: str, name: str) -> np.ndarray:
    if isinstance(values, np.ndarray):  # Parquet's dates and timestamps
        if np.isnat(values).any():
            raise ConfigError(f"{where}: column {name} (date) has empty values")
        return (values.astype("datetime64[D]") - EPOCH).astype(np.int64)
    out = np.empty(len(values), dtype=np.int64)
    epoch = dt.date(1970, 1, 1)
    cache: dict[object, int] = {}
    for i, v in enumerate(values):
        d = cache.get(v)
        if d is None:
            d = cache[v] = _day(v, epoch, where, name)
        out[i] = d
    return out


def _day(v: object, epoch: dt.date, where: str, name: str) -> int:
    if isinstance(v, dt.datetime):
        return (v.date() - epoch).days
    if isinstance(v, dt.date):
        return (v - epoch).days
    text = str(v).strip() if v is not None else ""
    try:
        if re.fullmatch(r"\d{8}", text):  # YYYYMMDD, as CDNOW writes it
            return (dt.date(int(text[:4]), int(text[4:6]), int(text[6:])) - epoch).days
        return (dt.date.fromisoformat(text[:10]) - epoch).days
    except ValueError:
        raise ConfigError(
            f"{where}: column {name} is not a date (a value reads {one_line(text[:40])!r})",
            "name the date column with --date; dates are YYYY-MM-DD, YYYYMMDD or a timestamp",
        ) from None


def _numbers(values, where: str, name: str, role: str) -> np.ndarray:
    try:
        return np.array(
            [
                float(v) if not isinstance(v, (decimal.Decimal, str)) else float(str(v).strip())
                for v in values
            ],
            dtype=np.float64,
        )
    except (TypeError, ValueError):
        bad = next(v for v in values if not _is_number(v))
        raise ConfigError(
            f"{where}: column {name} ({role}) is not a number (a value reads {one_line(str(bad)[:40])!r})",
            f"name the {role} column with --{role}",
        ) from None


def _is_number(v: object) -> bool:
    try:
        float(str(v).strip()) if isinstance(v, str) else float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def _flags(values, where: str, name: str) -> np.ndarray:
    truthy = {"1", "true", "t", "yes", "y", "r", "return", "returned"}
    falsy = {"0", "false", "f", "no", "n", "", "none", "sale"}
    out = np.empty(len(values), dtype=bool)
    for i, v in enumerate(values):
        text = str(v).strip().lower() if v is not None else ""
        if text in truthy:
            out[i] = True
        elif text in falsy:
            out[i] = False
        else:
            raise ConfigError(
                f"{where}: column {name} (return flag) holds {one_line(str(v)[:40])!r}",
                "a return flag is 1/0, true/false or yes/no",
            )
    return out


def erpgen_dataset_spec(database_url: str, table: str | None) -> SourceSpec | None:
    """The spec that reads an erpgen dataset's sales (for `erpgen fit --compare`), or None when the
    database holds none, or holds the `table` named for the other side too."""
    from sqlalchemy import inspect

    from erpgen import urls
    from erpgen.database import connect

    url = urls.parse(database_url)
    if urls.missing_file(url):
        return None
    with connect(url) as conn:
        names = set(inspect(conn).get_table_names())
    if not {"sales_transactions", "stores", "erpgen_runs"} <= names or (table and table in names):
        return None
    return SourceSpec(database_url=database_url, table=ERPGEN_VIEW)


ERPGEN_VIEW = "erpgen:sales_transactions"  # read by _database_erpgen: the sales with their store's channel
