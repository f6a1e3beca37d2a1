"""PostgreSQL: COPY in one transaction, with the fact table's keys built after the load.

Masters go through text COPY row by row (they are small). The fact table goes through binary COPY
encoded straight from numpy columns into a structured array whose layout is the COPY wire format (every
field fixed width), streamed by a writer thread so the next block is simulated while the server parses
this one. Its primary key, foreign keys and indexes are dropped on the new, empty table and added back
after the load, validated in one pass each, which is much faster than checking keys row by row.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import struct
from collections.abc import Iterator

import numpy as np
from sqlalchemy import CheckConstraint, Column, Date, Integer, MetaData, String, Table, Text, inspect
from sqlalchemy.engine import URL, Connection
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable, DropConstraint, DropIndex

from erpgen.database import connect
from erpgen.dates import day_number
from erpgen.errors import TargetError
from erpgen.schema import BULK, CUSTOMER_TABLES, FACT, FACT_COLUMNS, TABLES
from erpgen.schema import invoices as INVOICES
from erpgen.simulation.times import SECONDS_PER_DAY
from erpgen.sinks.base import Batch
from erpgen.sinks.db import DatabaseSink, bulk_indexes, driver_value, plain_values
from erpgen.sinks.encode import IsoDates, text_lines
from erpgen.sinks.names import quote
from erpgen.tables import (
    INVOICE_ID_WIDTH,
    ORDER_ID_WIDTH,
    REASON_TEXT,
    batch_invoice_ids,
    batch_order_ids,
    batch_return_reasons,
)

# Every AddConstraint below passes isolate_from_table=False: by default SQLAlchemy marks the
# shared metadata's constraint as not to be rendered in a later CREATE TABLE, so one load into PostgreSQL
# would change the tables a later load in the same process creates.
PG_EPOCH_DAYS = day_number(dt.date(2000, 1, 1))  # PostgreSQL's binary dates count from 2000-01-01
BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
BINARY_TRAILER = struct.pack(">h", -1)
NUMERIC_NEG = 0x4000


def _numeric_fields(prefix: str) -> list[tuple]:
    return [
        (f"{prefix}_len", ">i4"),
        (f"{prefix}_ndigits", ">i2"),
        (f"{prefix}_weight", ">i2"),
        (f"{prefix}_sign", ">u2"),
        (f"{prefix}_dscale", ">i2"),
        (f"{prefix}_digits", ">i2", (4,)),
    ]


def _value_fields(name: str, dtype: str) -> list[tuple]:
    return [(f"{name}_len", ">i4"), (name, dtype)]


# Each fact column's binary COPY fields, every one fixed width.
_FACT_FIELDS = {
    "line_id": _value_fields("line_id", ">i8"),
    "invoice_id": _value_fields("invoice_id", f"S{INVOICE_ID_WIDTH}"),
    "customer_id": _value_fields("customer_id", ">i4"),
    "invoice_date": _value_fields("invoice_date", ">i4"),
    "product_id": _value_fields("product_id", ">i4"),
    "quantity": _numeric_fields("quantity"),
    "revenue": _numeric_fields("revenue"),
    "store_id": _value_fields("store_id", ">i4"),
    "unit_price": _numeric_fields("unit_price"),
    "returned_line_id": _value_fields("returned_line_id", ">i8"),
    "invoiced_at": _value_fields("invoiced_at", ">i8"),
    "order_id": _value_fields("order_id", f"S{ORDER_ID_WIDTH}"),
    "return_reason": _value_fields("return_reason", f"S{REASON_TEXT.itemsize}"),
}
# The columns of the binary COPY, returned_line_id and return_reason last: a sale's are NULL (length -1),
# a credit note's reason shorter than its slot; the bytes they leave unused, at the row's end, are cut out
# after encoding (see encode_facts).
_LAST = ("returned_line_id", "return_reason")
COPY_COLUMNS = (*(c for c in FACT_COLUMNS if c not in _LAST), *_LAST)
FACT_ROW = np.dtype([("nfields", ">i2"), *(f for name in COPY_COLUMNS for f in _FACT_FIELDS[name])])


def _fill_numeric(rows: np.ndarray, prefix: str, minor_units: np.ndarray, scale: int) -> None:
    """Exact NUMERIC from integer minor units: 4 base-10000 digits, weight 2 (the server normalises)."""
    div = 10**scale
    a = np.abs(minor_units)
    whole = a // div
    rows[f"{prefix}_len"] = 16
    rows[f"{prefix}_ndigits"] = 4
    rows[f"{prefix}_weight"] = 2
    rows[f"{prefix}_sign"] = np.where(minor_units < 0, NUMERIC_NEG, 0)
    rows[f"{prefix}_dscale"] = scale
    digits = rows[f"{prefix}_digits"]
    digits[:, 0] = whole // 100_000_000
    digits[:, 1] = (whole // 10_000) % 10_000
    digits[:, 2] = whole % 10_000
    digits[:, 3] = (a % div) * (10_000 // div)


def encode_facts(b: Batch) -> bytes:
    """Rows of sales_transactions in PostgreSQL's binary COPY format (no header or trailer)."""
    n = len(b["line_id"])
    returned = np.asarray(b["returned_line_id"])
    is_return = returned > 0
    rows = np.empty(n, dtype=FACT_ROW)
    rows["nfields"] = len(COPY_COLUMNS)
    for name, width in (
        ("line_id", 8),
        ("invoiced_at", 8),
        ("customer_id", 4),
        ("invoice_date", 4),
        ("product_id", 4),
        ("store_id", 4),
    ):
        rows[f"{name}_len"] = width
    rows["invoice_id_len"] = INVOICE_ID_WIDTH
    rows["line_id"] = b["line_id"]
    rows["invoice_id"] = batch_invoice_ids(b)
    rows["customer_id"] = b["customer_id"]
    rows["invoice_date"] = np.asarray(b["invoice_date"]) - PG_EPOCH_DAYS
    rows["invoiced_at"] = (np.asarray(b["invoiced_at"]) - PG_EPOCH_DAYS * SECONDS_PER_DAY) * 1_000_000
    rows["product_id"] = b["product_id"]
    _fill_numeric(rows, "quantity", np.asarray(b["quantity"]) * 1000, 3)
    _fill_numeric(rows, "revenue", np.asarray(b["revenue_cents"]), 2)
    rows["store_id"] = b["store_id"]
    _fill_numeric(rows, "unit_price", np.asarray(b["unit_price_cents"]), 2)
    rows["returned_line_id_len"] = np.where(is_return, 8, -1)
    rows["returned_line_id"] = returned
    rows["order_id_len"] = ORDER_ID_WIDTH
    rows["order_id"] = batch_order_ids(b)
    reasons = batch_return_reasons(b)
    length = np.char.str_len(reasons)
    rows["return_reason_len"] = np.where(is_return, length, -1)
    rows["return_reason"] = reasons
    # cut the value bytes of every NULL (a sale's returned_line_id and reason) and the unused end of each
    # reason's slot; a boolean mask keeps the byte order
    width = REASON_TEXT.itemsize
    raw = rows.view(np.uint8).reshape(n, FACT_ROW.itemsize)
    keep = np.ones(raw.shape, dtype=bool)
    keep[:, -width:] = np.arange(width) < np.where(is_return, length, 0)[:, None]
    keep[~is_return, -width - 4 - 8 : -width - 4] = False
    return raw[keep].tobytes()


# Key of the advisory lock that keeps two erpgen runs from loading one database at the same time.
_BY_NAME = {t.name: t for t in TABLES}
ADVISORY_LOCK_KEY = 0x65727067656E  # "erpgen"


# --engine dask: the workers COPY the tables keyed by customer into staging tables of this prefix,
# committed as they go; the load's transaction swaps them in for the (empty) tables at the end, or drops them.
STAGE_PREFIX = "erpgen_stage_"


class PostgresSink(DatabaseSink):
    stages: dict[str, str] = {}  # table -> its staging table, once handed to an engine's workers
    # The server parses and stores the lines: one worker keeps it busy, so the writer simulating too would
    # add a block's memory for no gain in speed.
    offloads_writing = True
    # an extension's (_defer_in_place): whether its session skips the key triggers of the fact lines and
    # their headers, and checks the lines from _unchecked_from on and their headers itself
    _trusted = False
    _unchecked_from: int | None = None
    # and the keys of the small parents its rows' keys are checked against as they are written, by table
    _held: dict[str, np.ndarray] | None = None

    def _session(self, conn: Connection) -> None:
        # a lock others hold (a --replace drops the old tables) is waited for --lock-wait-timeout, then named
        # (the role's statement and idle timeouts are off on every connection: erpgen.database.make_engine)
        conn.exec_driver_sql(f"SET lock_timeout = {max(1, round(self.lock_wait * 1000))}")

    def _lock_holders(self) -> str:
        names = [t.name for t in TABLES] + ["alembic_version"]
        sql = (
            "SELECT DISTINCT a.pid, coalesce(nullif(a.application_name, ''), a.usename::text), a.state "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid JOIN pg_class c ON c.oid = l.relation "
            "WHERE l.granted AND a.pid <> pg_backend_pid() AND a.datname = current_database() "
            "AND c.relname = ANY(%(names)s) ORDER BY 1"
        )
        with contextlib.suppress(Exception), connect(self.url) as conn:
            held = conn.exec_driver_sql(sql, {"names": names}).all()
            if held:
                return " (" + "; ".join(f"session {pid}: {who}, {state}" for pid, who, state in held) + ")"
        return ""

    def _lock(self, conn: Connection) -> None:
        if not conn.exec_driver_sql(f"SELECT pg_try_advisory_xact_lock({ADVISORY_LOCK_KEY})").scalar():
            raise TargetError(
                f"another erpgen run is loading into {self.describe()}",
                "wait for it to finish, then run again",
            )
        # Holding the lock, no other run is live: staging tables still here belong to killed runs.
        for name in inspect(conn).get_table_names():
            if name.startswith(STAGE_PREFIX):
                conn.exec_driver_sql(f"DROP TABLE {quote(conn, name)}")

    def parallel_writer(self) -> _StageWriter:
        """Workers COPY into a staging table per table keyed by customer, with its columns and CHECKs and
        no keys; commit() swaps them in. They are created and committed on a connection of its own, so
        that the workers can see them."""
        import uuid

        run = uuid.uuid4().hex[:12]
        self.stages = {t.name: f"{STAGE_PREFIX}{run}_{t.name}" for t in CUSTOMER_TABLES}
        with connect(self.url) as conn:
            for t in CUSTOMER_TABLES:
                conn.execute(CreateTable(_stage_table(self.stages[t.name], t)))
            conn.commit()
        return _StageWriter(_conninfo(self.url), self.stages)

    def _restore_constraints(self, conn: Connection) -> None:
        for table, stage in self.stages.items():
            conn.exec_driver_sql(f"DROP TABLE {table}")  # its foreign keys were deferred: no one refers to it
            conn.exec_driver_sql(f"ALTER TABLE {quote(conn, stage)} RENAME TO {table}")
        for t in CUSTOMER_TABLES:
            if self.stages and t not in BULK:  # customers: keys and statistics as its own load gives them
                conn.execute(AddConstraint(t.primary_key, isolate_from_table=False))
                conn.exec_driver_sql(f"ANALYZE {t.name}")
        self._restore_keys(conn)

    def _discard(self) -> None:
        if self.stages:
            with contextlib.suppress(Exception), connect(self.url) as conn:
                for stage in self.stages.values():
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(conn, stage)}")
                conn.commit()

    def _defer_constraints(self, conn: Connection) -> None:
        for ix in bulk_indexes():
            conn.execute(DropIndex(ix))
        for fk in _bulk_foreign_keys():
            conn.execute(DropConstraint(fk))
        for table in BULK:
            conn.execute(DropConstraint(table.primary_key))

    def _defer_in_place(self, conn: Connection) -> None:
        # A COPY into tables with foreign keys checks every row with a query of its own (a trigger each).
        # A superuser's session can leave the triggers of the fact lines and their invoice headers out
        # (session_replication_role, as pg_restore --disable-triggers does) and check what it wrote in a
        # query per table of its own
        # (_restore_in_place); another user drops the keys and validates each once over the whole table
        # afterwards, as a load does (figures: bench/README.md). The transaction holds the tables meanwhile.
        self._unchecked_from, self._held = None, {}
        self._trusted = conn.exec_driver_sql("SELECT current_setting('is_superuser')").scalar() == "on"
        # where the data ended: the order-to-cash documents an extension adds are all dated after it
        self._old_end = conn.exec_driver_sql(
            "SELECT coalesce(covers_till, (SELECT max(rate_date) FROM exchange_rates)) FROM erpgen_runs "
            "WHERE status = 'COMPLETE' ORDER BY run_id DESC LIMIT 1"
        ).scalar()
        if not self._trusted:
            for fk in _bulk_foreign_keys():
                conn.execute(DropConstraint(fk))

    def _restore_in_place(self, conn: Connection) -> None:
        if not self._trusted:
            self._add_foreign_keys(conn)
        else:
            _check_keys_from(conn, self._unchecked_from, self._old_end)

    def _restore_keys(self, conn: Connection) -> None:
        for table in BULK:
            conn.execute(AddConstraint(table.primary_key, isolate_from_table=False))
        self._add_foreign_keys(conn)
        for ix in bulk_indexes():
            conn.execute(CreateIndex(ix))
        for table in BULK:  # the others were analysed as soon as they were loaded (_writer)
            conn.exec_driver_sql(f"ANALYZE {table.name}")

    @staticmethod
    def _add_foreign_keys(conn: Connection) -> None:
        for fk in _bulk_foreign_keys():
            if fk.referred_table is fk.parent:
                with _index_probes(conn):
                    conn.execute(AddConstraint(fk, isolate_from_table=False))
            else:
                conn.execute(AddConstraint(fk, isolate_from_table=False))

    def update_rows(self, table: str, batch: Batch) -> None:
        """One UPDATE ... FROM the batch's columns as arrays (unnest): a statement per row was a round trip
        each."""
        conn = self.conn
        assert conn is not None
        t = _BY_NAME[table]
        key, *columns = (t.c[name] for name in batch)
        arrays = {
            f"v{i}": [driver_value(c, v) for v in plain_values(batch[c.name])]
            for i, c in enumerate([key, *columns])
        }
        typed = ", ".join(f"%(v{i})s::{_array_type(c)}" for i, c in enumerate([key, *columns]))
        names = ", ".join(quote(conn, c.name) for c in (key, *columns))
        sets = ", ".join(f"{quote(conn, c.name)} = v.{quote(conn, c.name)}" for c in columns)
        conn.exec_driver_sql(
            f"UPDATE {quote(conn, t.name)} SET {sets} FROM unnest({typed}) AS v({names}) "
            f"WHERE {quote(conn, t.name)}.{quote(conn, key.name)} = v.{quote(conn, key.name)}",
            arrays,
        )

    def _held_parents(self, conn: Connection, table: str) -> _HeldKeys:
        """The keys of `table`'s small parents (_HELD_PARENTS), read before its COPY occupies the
        connection: what its rows are checked against as they are written."""
        assert self._held is not None
        keys = {}
        for child, parent, key in _held_keys(table):
            if parent not in self._held:
                values = conn.exec_driver_sql(f"SELECT {key} FROM {parent}").scalars().all()
                self._held[parent] = np.sort(np.array(values))
            keys[child] = (parent, self._held[parent])
        return _HeldKeys(table, keys)

    @contextlib.contextmanager
    def _writer(self, conn: Connection, table: str) -> Iterator[object]:
        from psycopg import sql

        raw = conn.connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as cur:
            if table == FACT.name:
                copy_facts = _copy_sql(table, COPY_COLUMNS, binary=True)
                trusted = self.append and self._trusted
                if trusted:  # the lines' keys are checked as written and at the end (_restore_in_place)
                    cur.execute("SET LOCAL session_replication_role = replica")
                held = self._held_parents(conn, table) if trusted else None
                with cur.copy(copy_facts, writer=_queued_writer(cur)) as copy:
                    copy.write(BINARY_HEADER)
                    writer = _FactWriter(copy, held)
                    yield writer
                    copy.write(BINARY_TRAILER)
                if trusted:
                    cur.execute("SET LOCAL session_replication_role = origin")
                    if writer.first_line is not None:
                        self._unchecked_from = min(
                            self._unchecked_from or writer.first_line, writer.first_line
                        )
            else:
                columns = [c.name for c in next(t for t in TABLES if t.name == table).columns]
                # an extension's headers and documents: checked with their lines' (_check_keys_from)
                trusted = self.append and self._trusted and table in _CHECKED_AFTER
                if trusted:
                    cur.execute("SET LOCAL session_replication_role = replica")
                held = self._held_parents(conn, table) if trusted else None
                with cur.copy(_copy_sql(table, columns)) as copy:
                    yield _RowWriter(copy, table, held)
                if trusted:
                    cur.execute("SET LOCAL session_replication_role = origin")
                if self._held is not None:
                    self._held.pop(table, None)  # rows came in: read its keys again when next needed
                if not self.append and table not in {t.name for t in BULK}:
                    # its statistics now, while the workers simulate, rather than at the end (rows added to
                    # a loaded table are left to autovacuum's analyse, as any application's inserts are)
                    cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))


def _copy_sql(table: str, columns, *, binary: bool = False):
    """COPY ... FROM STDIN into `table`, its names quoted by psycopg (for a raw cursor)."""
    from psycopg import sql

    return sql.SQL("COPY {} ({}) FROM STDIN {}").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL("(FORMAT BINARY)" if binary else ""),
    )


def _stage_table(name: str, table: Table) -> Table:
    """The table's columns (types, NOT NULL) and CHECKs (checked as the workers COPY, and named as the
    table's, which they become) under another name; no keys or indexes."""
    checks = [c for c in table.constraints if isinstance(c, CheckConstraint)]
    return Table(
        name,
        MetaData(),
        *(Column(c.name, c.type, nullable=c.nullable) for c in table.columns),
        *(CheckConstraint(c.sqltext, name=c.name) for c in sorted(checks, key=lambda c: str(c.name))),
    )


def _conninfo(url: URL) -> str:
    """libpq's key=value form of `url`, each value quoted by psycopg (a URL rendered as text leaves a space
    or a slash in the database name as it is, which libpq then refuses or cuts)."""
    from psycopg.conninfo import make_conninfo

    query = {k: v if isinstance(v, str) else v[-1] for k, v in url.query.items()}
    parts = {"host": url.host, "port": url.port, "dbname": url.database, "user": url.username,
             "password": url.password, **query}  # fmt: skip
    return make_conninfo(**{k: v for k, v in parts.items() if v is not None})


class _StageWriter:
    """Runs on a Dask worker: one COPY per block and table into its staging table, committed at once
    (binary for the fact lines, text for the others)."""

    def __init__(self, conninfo: str, stages: dict[str, str]):
        self.conninfo, self.stages = conninfo, stages

    def write(self, table: str, batch: Batch, block_no: int) -> None:
        conn = _worker_connection(self.conninfo)
        stage = self.stages[table]
        with conn.cursor() as cur:
            if table == FACT.name:
                with cur.copy(_copy_sql(stage, COPY_COLUMNS, binary=True)) as copy:
                    copy.write(BINARY_HEADER)
                    copy.write(encode_facts(batch))
                    copy.write(BINARY_TRAILER)
                return
            columns = [c.name for c in next(t for t in TABLES if t.name == table).columns]
            with cur.copy(_copy_sql(stage, columns)) as copy:
                copy.write(text_lines(table, batch, IsoDates()))


_WORKER_CONNECTIONS: dict = {}


def _worker_connection(conninfo: str):
    """One autocommit connection per worker process and target, kept for the blocks that follow."""
    import psycopg

    conn = _WORKER_CONNECTIONS.get(conninfo)
    if conn is None or conn.closed:
        # A failed COPY reaches the client as its error; psycopg's own warning about ending the COPY on a
        # lost connection would only print a second, worker-side line on the user's terminal.
        logging.getLogger("psycopg").setLevel(logging.ERROR)
        conn = _WORKER_CONNECTIONS[conninfo] = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
        conn.execute(
            "SET statement_timeout = 0"
        )  # a block's COPY is one long statement (PostgresSink._session)
    return conn


# Encoded fact lines waiting for the server, in psycopg's pieces of up to 128 KiB: 16 MiB, about 1.5
# batches, enough to keep the server busy. psycopg's own default, 1024 pieces, lets 128 MiB pile up
# whenever the server falls behind, which costs memory and gains no speed.
COPY_QUEUE_PIECES = 128


def _queued_writer(cursor):
    """psycopg's QueuedLibpqWriter (a thread sends to the server while this one encodes the next batch),
    with a shorter queue: its `_queue` is replaced before the thread starts, on the first write."""
    import queue

    from psycopg.copy import QueuedLibpqWriter

    writer = QueuedLibpqWriter(cursor)
    writer._queue = queue.Queue(maxsize=COPY_QUEUE_PIECES)
    return writer


@contextlib.contextmanager
def _index_probes(conn: Connection) -> Iterator[None]:
    """Plan the next statement's joins as index probes. Validating the fact table's self-reference
    (returned_line_id -> line_id) is an anti-join of the few returned lines against the whole table:
    PostgreSQL 15 builds a hash of the whole table for it, where probing the primary key just built
    for each returned line is much faster.

    On an error the settings are left to the transaction's end (SET LOCAL): a RESET in the failed
    transaction would only replace the error with "current transaction is aborted"."""
    conn.exec_driver_sql("SET LOCAL enable_hashjoin = off")
    conn.exec_driver_sql("SET LOCAL enable_mergejoin = off")
    yield
    conn.exec_driver_sql("RESET enable_hashjoin")
    conn.exec_driver_sql("RESET enable_mergejoin")


def _bulk_foreign_keys():
    return [fk for table in BULK for fk in sorted(table.foreign_key_constraints, key=lambda c: str(c.name))]


# an extension's documents, each dated after the old end by this column
_DATED = {"sales_orders": "order_date", "deliveries": "shipped_on", "payments": "paid_on"}
_CHECKED_AFTER = {INVOICES.name, *_DATED}


def _array_type(column: Column) -> str:
    """The array type of a column's values, as update_rows sends them (text, dates or integers)."""
    if isinstance(column.type, Date):
        return "date[]"
    if isinstance(column.type, Integer):
        return "bigint[]"
    if isinstance(column.type, Text | String):
        return "text[]"
    raise TypeError(f"update_rows sends no {column.type} column ({column.name})")


# the parents whose keys an extension written past the key triggers holds in memory, to check the keys of the
# rows it writes as they go (_HeldKeys): a few thousand keys at most (customers), where a query probing them
# for every row took about as long as the probes of the text keys of the documents
_HELD_PARENTS = frozenset({"customers", "products", "stores", "currencies"})


def _held_keys(table: str) -> Iterator[tuple[str, str, str]]:
    """(column, parent table, parent key) of each of `table`'s foreign keys to a held parent."""
    for fk in sorted(_BY_NAME[table].foreign_key_constraints, key=lambda c: str(c.name)):
        (element,) = fk.elements
        if element.column.table.name in _HELD_PARENTS:
            yield element.parent.name, element.column.table.name, element.column.name


class _HeldKeys:
    """Checks the keys of a batch of `table`'s rows to its held parents (those a COPY writes past the key
    triggers): every value must be one of the parent's keys, as its foreign key requires."""

    def __init__(self, table: str, keys: dict[str, tuple[str, np.ndarray]]):
        self.table, self.keys = table, keys

    def check(self, b: Batch) -> None:
        for child, (parent, keys) in self.keys.items():
            values = np.asarray(b[child])
            if values.dtype.kind == "S":  # codes as bytes; the keys read back are text
                values = values.astype(keys.dtype)
            missing = values[~np.isin(values, keys)]
            if len(missing):
                raise RuntimeError(
                    f"erpgen produced {self.table} rows without a parent in {parent} ({child}): "
                    f"{missing[:5].tolist()}"
                )


def _check_keys_from(conn: Connection, first_line: int | None, old_end) -> None:
    """Each foreign key of the fact lines from `first_line` on (over the primary key), of their invoices'
    headers, and of the documents dated after `old_end`, but those to the held parents, in one query per
    table."""
    tables = []
    if first_line is not None:
        # lines are numbered by day: the headers written with them are those from the first one's day on (a
        # scan of the headers with that filter is cheaper than probing their text key for each new line)
        first_day = f"(SELECT n.invoice_date FROM {FACT.name} n WHERE n.line_id = {int(first_line)})"
        tables += [(FACT, f"s.line_id >= {int(first_line)}", "lines"),
                   (INVOICES, f"s.invoice_date >= {first_day}", "invoice headers")]  # fmt: skip
    if old_end is not None:  # the day, a value read from the target: bound, not written into the text
        tables += [(_BY_NAME[t], f"s.{column} >= %s", t) for t, column in _DATED.items()]
    for table, new, what in tables:
        values = (old_end,) if table.name in _DATED else ()
        checks = []
        for fk in sorted(table.foreign_key_constraints, key=lambda c: str(c.name)):
            (element,) = fk.elements
            child, parent = element.parent.name, element.column
            if parent.table.name in _HELD_PARENTS:
                continue  # checked as the rows were written (_HeldKeys)
            alias = "p" if parent.table is not table else "r"
            checks.append(
                f"(s.{child} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {parent.table.name} {alias} "
                f"WHERE {alias}.{parent.name} = s.{child}))"
            )
        if not checks:
            continue
        key = table.primary_key.columns[0].name
        broken = conn.exec_driver_sql(
            f"SELECT s.{key} FROM {table.name} s WHERE {new} AND ({' OR '.join(checks)}) LIMIT 5", values
        ).all()
        if broken:
            raise RuntimeError(f"erpgen produced {what} without a parent: {broken}")


class _FactWriter:
    def __init__(self, copy, held: _HeldKeys | None = None):
        self.copy, self.held = copy, held
        self.first_line: int | None = None  # the lowest line id written

    def write(self, batch: Batch) -> None:
        if self.held is not None:
            self.held.check(batch)
        if len(batch["line_id"]):  # type: ignore[arg-type]
            low = int(np.min(batch["line_id"]))  # type: ignore[call-overload]
            self.first_line = low if self.first_line is None else min(self.first_line, low)
        self.copy.write(encode_facts(batch))


class _RowWriter:
    """Text COPY of the other tables (masters, customers, lifecycle), a batch at a time."""

    def __init__(self, copy, table: str, held: _HeldKeys | None = None):
        self.copy, self.table, self.held = copy, table, held
        self.dates = IsoDates()

    def write(self, b: Batch) -> None:
        if self.held is not None:
            self.held.check(b)
        self.copy.write(text_lines(self.table, b, self.dates))
