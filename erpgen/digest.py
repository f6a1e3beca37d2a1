"""Content digests: one SHA-256 per table, equal whatever the target or format the data went to.

A table's digest is the SHA-256 of its name and of one SHA-256 per column, each over the column's values
in primary-key order in a canonical binary form: integers, NUMERIC(p, s) (as integer units of 10^-s)
and dates (as days since 1970-01-01) as little-endian int64, NULL as the smallest int64; text as UTF-8,
each value ended by a zero byte (NULL and '' alike, as in CSV files). Hashing column by column makes the
digest independent of how rows were batched, and lets a load compute it from its numpy columns on the
way to the sinks (LoadDigests) as cheaply as `erpgen verify` recomputes it from the database.

The tables keyed by customer (schema.CUSTOMER_TABLES: customers, the fact table, invoices and the two
lifecycle tables) are hashed in (customer_id, primary key) order (digest_order), the same way in segments of
SEGMENT consecutive customer ids, and their digest covers the segments' digests in order: a Dask worker
holding whole segments computes their part where the rows are, and only 32 bytes per segment travel.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
from sqlalchemy import Date, DateTime, Integer, Numeric
from sqlalchemy.engine import Connection

from erpgen.dates import day_number, known
from erpgen.schema import CUSTOMER_TABLES, DIGEST_SEGMENT, FACT, SEED_COLUMNS, TABLES
from erpgen.tables import batch_invoice_ids, batch_order_ids, batch_return_reasons

_BY_NAME = {t.name: t for t in TABLES}
NULL = np.iinfo(np.int64).min
CHUNK = 20_000
SEGMENT = DIGEST_SEGMENT
SEGMENTED = frozenset(t.name for t in CUSTOMER_TABLES)


def _kind(column) -> tuple[str, int]:
    t = column.type
    if isinstance(t, Integer):
        return "int", 0
    if isinstance(t, Numeric):
        return "int", t.scale or 0
    if isinstance(t, Date):
        return "date", 0
    if isinstance(t, DateTime):
        return "moment", 0
    return "text", 0


def _canon_values(column, values: list) -> bytes:
    """Canonical bytes of a column's values as drivers, CSV or Parquet readers return them."""
    kind, scale = _kind(column)
    if kind == "text":
        return b"".join(b"\x00" if v is None else str(v).encode() + b"\x00" for v in values)
    if kind == "int" and not scale:
        with contextlib.suppress(TypeError, ValueError):  # no NULLs, no blanks: the common case
            return np.array(values, dtype="<i8").tobytes()
    if kind == "moment" and None not in values:  # datetimes or ISO text: numpy reads both at once
        with contextlib.suppress(TypeError, ValueError):
            return np.array(values, dtype="datetime64[s]").astype("<i8").tobytes()
    out = np.empty(len(values), dtype="<i8")
    for i, v in enumerate(values):
        if v is None or v == "":
            out[i] = NULL
        elif kind == "date":
            d = v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v))
            out[i] = day_number(d)
        elif kind == "moment":  # seconds since 1970-01-01 (a driver's datetime, or text)
            m = v if isinstance(v, dt.datetime) else dt.datetime.fromisoformat(str(v))
            out[i] = day_number(m.date()) * 86_400 + m.hour * 3600 + m.minute * 60 + m.second
        elif scale:
            out[i] = int(Decimal(str(v)).scaleb(scale).to_integral_value())
        else:
            out[i] = int(v)
    return out.tobytes()


class _TableHash:
    def __init__(self, table: str, columns: tuple[str, ...]):
        self.table, self.columns = table, [_BY_NAME[table].c[name] for name in columns]
        self.hashers = [hashlib.sha256() for _ in columns]
        # the tables keyed by customer: hashers per segment of customers, and the digests of the segments
        self.key = columns.index("customer_id") if table in SEGMENTED else None
        self.segment: int | None = None
        self.segments: list[bytes] = []

    def rows(self, rows: Iterable[tuple]) -> None:
        chunk: list[tuple] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= CHUNK:
                self.columns_of(list(zip(*chunk)))
                chunk = []
        if chunk:
            self.columns_of(list(zip(*chunk)))

    def columns_of(self, values: list) -> None:
        """Values column by column, as readers return them."""
        if self.key is None:
            self._update(None, [_canon_values(c, list(v)) for c, v in zip(self.columns, values)])
            return
        for segment, lo, hi in segment_runs(np.asarray(values[self.key], dtype=np.int64)):
            self._update(segment, [_canon_values(c, list(v[lo:hi])) for c, v in zip(self.columns, values)])

    def canonical(self, customer_id: np.ndarray, columns: list[np.ndarray]) -> None:
        """Canonical values (one row of an array per row of the table) of a segmented table, from numpy."""
        for segment, lo, hi in segment_runs(customer_id):
            self._update(segment, [c[lo:hi].tobytes() for c in columns])

    def _update(self, segment: int | None, parts: list[bytes]) -> None:
        if segment != self.segment:
            self.close_segment()
            self.segment = segment
        for h, data in zip(self.hashers, parts, strict=True):
            h.update(data)

    def close_segment(self) -> None:
        if self.segment is not None:
            head = np.int64(self.segment).astype("<i8").tobytes()
            self.segments.append(hashlib.sha256(head + b"".join(h.digest() for h in self.hashers)).digest())
            self.hashers = [hashlib.sha256() for _ in self.columns]
            self.segment = None

    def digest(self) -> str:
        top = hashlib.sha256(("\x1f".join([self.table, *(c.name for c in self.columns)]) + "\n").encode())
        if self.key is None:
            for h in self.hashers:
                top.update(h.digest())
        else:
            self.close_segment()
            for d in self.segments:
                top.update(d)
        return top.hexdigest()


def segment_runs(customer_id: np.ndarray) -> list[tuple[int, int, int]]:
    """(segment, first row, end row) of each run of rows in one segment of customers."""
    if len(customer_id) == 0:
        return []
    seg = (customer_id - 1) // SEGMENT
    starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    ends = np.r_[starts[1:], len(seg)]
    return [(int(seg[a]), int(a), int(b)) for a, b in zip(starts, ends)]


def digest_order(table) -> list[str]:
    """The columns a table's rows are hashed in the order of: its primary key, and for a table keyed by
    customer the customer first. A generated fact table's line ids follow its customers, so both orders
    are one; an extended one's do not (erpgen.extension numbers the lines it adds by day)."""
    key = [c.name for c in table.primary_key.columns]
    return key if table.name not in SEGMENTED or key[0] == "customer_id" else ["customer_id", *key]


def _digest(table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> str:
    t = _TableHash(table, columns)
    t.rows(rows)
    return t.digest()


def database_digests(conn: Connection, *, seed_columns_only: bool = False) -> dict[str, str]:
    """Digest of every erpgen table in the connected database."""
    out = {}
    for table in TABLES:
        if table.name == "erpgen_runs":  # when and by which version, not what
            continue
        if seed_columns_only and table.name not in SEED_COLUMNS:
            continue
        columns = SEED_COLUMNS[table.name] if seed_columns_only else tuple(c.name for c in table.columns)
        order = ", ".join(digest_order(table))
        sql = f"SELECT {', '.join(columns)} FROM {table.name} ORDER BY {order}"
        # per statement: Connection.execution_options() would change the connection for good
        result = conn.exec_driver_sql(sql, execution_options={"stream_results": True, "yield_per": 50_000})
        out[table.name] = _digest(table.name, columns, result)
    return out


def csv_digests(directory: str | Path) -> dict[str, str]:
    """Digest of the CSV export, comparable with database_digests(seed_columns_only=True). An extended
    export's sales_transactions.csv has the lines each extension added after the others, in line id order;
    the file has no line ids, but a customer's lines come in line id order whatever the extensions, so a
    stable sort by customer (in memory) puts them in digest order."""
    out = {}
    for table, columns in SEED_COLUMNS.items():
        with open(Path(directory) / f"{table}.csv", newline="") as f:
            reader = csv.reader(f)
            header = tuple(next(reader))
            if header != columns:
                raise ValueError(f"{table}.csv has columns {header}, expected {columns}")
            order = [columns.index(name) for name in digest_order(_BY_NAME[table]) if name in columns]
            rows = reader if order == [0] else sorted(reader, key=lambda row: [int(row[k]) for k in order])
            out[table] = _digest(table, columns, rows)
    return out


def parquet_digests(directory: str | Path) -> dict[str, str]:
    """Digest of the Parquet export, comparable with database_digests(conn): the files hold every column,
    a small table's rows in primary-key order; a dataset directory (a table keyed by customer, or
    exchange_rates: its part files in any order) is read whole and put in digest order."""
    import pyarrow.parquet as pq

    out = {}
    for table in TABLES:
        if table.name == "erpgen_runs":  # as in database_digests
            continue
        # the tables keyed by customer and exchange_rates: part files (the fact table's in year= folders)
        dataset = Path(directory) / table.name
        if dataset.is_dir():
            data = pq.read_table(dataset, partitioning="hive" if table is FACT else None)
            if table is FACT:
                data = data.drop_columns(["year"])
            data = data.sort_by([(name, "ascending") for name in digest_order(table)])
        else:
            data = pq.read_table(Path(directory) / f"{table.name}.parquet")
        out[table.name] = arrow_digest(table.name, data, f"{table.name}.parquet")
    return out


def arrow_digest(table: str, data, source: str) -> str:
    """Digest of an Arrow table holding every column of `table` in primary-key order (`source` names where
    it was read from, for the error of a table with other columns)."""
    columns = tuple(c.name for c in _BY_NAME[table].columns)
    if tuple(data.column_names) != columns:
        raise ValueError(f"{source} has columns {data.column_names}, expected {columns}")
    return _digest(table, columns, zip(*(c.to_pylist() for c in data.columns)))


def delta_digests(directory: str | Path) -> dict[str, str]:
    """Digest of the Delta export (--delta-dir), comparable with database_digests(conn): each table's
    latest version read with deltalake, in digest order, the fact table without its partition column."""
    from deltalake import DeltaTable

    out = {}
    for table in TABLES:
        if table.name == "erpgen_runs":  # as in database_digests
            continue
        data = DeltaTable(str(Path(directory) / table.name)).to_pyarrow_table()
        if table is FACT:
            data = data.drop_columns(["year"])
        data = data.sort_by([(name, "ascending") for name in digest_order(table)])
        out[table.name] = arrow_digest(table.name, data, f"{table.name} (Delta)")
    return out


@dataclass
class WorkerTables:
    """What an engine's workers made of the tables keyed by customer: rows and segment digests (in order)
    per table."""

    rows: dict[str, int] = field(default_factory=dict)
    segments: dict[str, list[bytes]] = field(default_factory=dict)

    def add(self, other: WorkerTables) -> None:
        for table, n in other.rows.items():
            self.rows[table] = self.rows.get(table, 0) + n
        for table, digests in other.segments.items():
            self.segments.setdefault(table, []).extend(digests)


class LoadDigests:
    """The digests of what a load writes, computed from the batches on their way to the sinks: the same
    values database_digests reads back, so `erpgen verify` can compare. Every column goes straight from
    the batch's numpy arrays (text through one join per column), not row by row."""

    def __init__(self, *, hashed_elsewhere: frozenset[str] = frozenset()) -> None:
        self._tables: dict[str, _TableHash] = {}
        # the tables it hashes, as a sink declares the tables it keeps: erpgen_runs is not content (see
        # database_digests), and the segments of the tables keyed by customer may come from add_segments
        self.tables = frozenset(t.name for t in TABLES if t.name != "erpgen_runs") - hashed_elsewhere

    def describe(self) -> str:
        return "digest"

    def begin(self) -> None:
        pass

    def commit(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def digests(self) -> dict[str, str]:
        return {name: self._tables[name].digest() for name in _BY_NAME if name in self._tables}

    def add_segments(self, table: str, segments: list[bytes]) -> None:
        """A table's segment digests, in order, computed where its rows were (segment_digests)."""
        t = self._tables[table] = _TableHash(table, tuple(c.name for c in _BY_NAME[table].columns))
        t.segments = list(segments)

    @contextlib.contextmanager
    def table_writer(self, table: str):
        t = self._tables[table] = _TableHash(table, tuple(c.name for c in _BY_NAME[table].columns))
        yield _DigestWriter(t)


class _DigestWriter:
    def __init__(self, t: _TableHash) -> None:
        self.t = t

    def write(self, b) -> None:
        if self.t.key is None:
            self.t._update(None, [_batch_canonical(column, b) for column in self.t.columns])
        elif self.t.table == FACT.name:
            self.t.canonical(np.asarray(b["customer_id"]), _fact_canonical(b))
        else:
            for segment, lo, hi in segment_runs(np.asarray(b["customer_id"])):
                part = {name: values[lo:hi] for name, values in b.items()}
                self.t._update(segment, [_batch_canonical(column, part) for column in self.t.columns])


def _batch_canonical(column, b) -> bytes:
    """Canonical bytes of one column of a batch of any table but the fact table (see sinks.base for
    what a batch holds): the same bytes _canon_values makes of the values read back."""
    kind, scale = _kind(column)
    if column.name == "unit_price" and "unit_price_cents" in b:
        return np.asarray(b["unit_price_cents"], dtype="<i8").tobytes()  # cents: units of 10^-2
    if f"{column.name}_units" in b:  # units of 10^-scale already
        return np.asarray(b[f"{column.name}_units"], dtype="<i8").tobytes()
    values = b[column.name]
    if kind == "text" and isinstance(values, np.ndarray) and values.dtype.kind == "S":
        return _fixed_text(values)
    if kind == "moment" and isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        return values.astype("<i8").tobytes()  # seconds since 1970-01-01
    if kind == "text":
        texts = values.tolist() if isinstance(values, np.ndarray) else values
        # UTF-8 of the joined text is the values' UTF-8, each ended by a zero byte
        if not texts:
            return b""
        try:
            joined = "\x00".join(["" if v is None else v for v in texts])
        except TypeError:  # not all str
            joined = "\x00".join("" if v is None else str(v) for v in texts)
        return (joined + "\x00").encode()
    if kind == "date":  # days since 1970-01-01; NO_DAY: NULL
        days = np.asarray(values, dtype=np.int64)
        return np.where(known(days), days, NULL).astype("<i8").tobytes()
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu" and not scale:
        return values.astype("<i8").tobytes()
    return _canon_values(column, list(values))  # NULLs among integers, or scaled numbers


def _fixed_text(values: np.ndarray) -> bytes:
    """A numpy bytes array as canonical text: each value's bytes and a zero byte (a shorter value's
    padding is zero bytes, which are cut out first)."""
    if len(values) and int(np.char.str_len(values).min()) < values.dtype.itemsize:
        return ("\x00".join(values.astype("U").tolist()) + "\x00").encode()
    return _fixed_matrix(values).tobytes()


def _fixed_matrix(values: np.ndarray) -> np.ndarray:
    """Fixed-width ASCII values, each followed by its zero byte, as a (n, width + 1) matrix."""
    width = values.dtype.itemsize  # fixed width: append the zero byte to every value at once
    text = np.zeros((len(values), width + 1), dtype=np.uint8)
    text[:, :width] = np.frombuffer(values.tobytes(), dtype=np.uint8).reshape(-1, width)
    return text


def _fact_canonical(b) -> list[np.ndarray]:
    """The fact table's columns in canonical form, straight from a batch's numpy columns."""
    returned = np.asarray(b["returned_line_id"])
    text = _fixed_matrix(batch_invoice_ids(b))

    def ints(values) -> np.ndarray:
        return np.asarray(values, dtype="<i8")

    canonical = {
        "line_id": ints(b["line_id"]),
        "invoice_id": text,
        "customer_id": ints(b["customer_id"]),
        "invoice_date": ints(b["invoice_date"]),
        "product_id": ints(b["product_id"]),
        "quantity": ints(np.asarray(b["quantity"]) * 1000),
        "revenue": ints(b["revenue_cents"]),
        "store_id": ints(b["store_id"]),
        "unit_price": ints(b["unit_price_cents"]),
        "returned_line_id": ints(np.where(returned > 0, returned, NULL)),
        "invoiced_at": ints(b["invoiced_at"]),
        "order_id": _fixed_matrix(batch_order_ids(b)),
        "return_reason": _Texts(batch_return_reasons(b)),
    }
    return [canonical[c.name] for c in FACT.columns]


class _Texts:
    """Fixed-width bytes of varying length (b'' for NULL) whose slices give their canonical text bytes,
    as _TableHash.canonical takes a column."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def __getitem__(self, rows: slice) -> _Texts:
        return _Texts(self.values[rows])

    def tobytes(self) -> bytes:
        return b"\x00".join(self.values.tolist()) + b"\x00" if len(self.values) else b""


def segment_digests(table: str, b) -> list[bytes]:
    """The segment digests of a batch of a table keyed by customer that holds whole segments of customers."""
    t = _TableHash(table, tuple(c.name for c in _BY_NAME[table].columns))
    _DigestWriter(t).write(b)
    t.close_segment()
    return t.segments
