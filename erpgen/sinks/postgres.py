"""PostgreSQL: COPY in one transaction, with the fact table's keys built after the load.

Masters go through text COPY row by row (they are small). The fact table, the invoice headers and the
order-to-cash documents go through binary COPY encoded straight from numpy columns into a structured array
whose layout is the COPY wire format (every field fixed width), streamed by a writer thread so the next
block is simulated while the server parses this one. The fact table's primary key, foreign keys and indexes
are dropped on the new, empty table and added back after the load, validated in one pass each, which is much
faster than checking keys row by row.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import struct
from collections.abc import Callable, Iterator

import numpy as np
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    inspect,
)
from sqlalchemy.engine import URL, Connection
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable, DropConstraint, DropIndex

from erpgen.database import connect
from erpgen.dates import day_number, known
from erpgen.errors import TargetError
from erpgen.schema import BULK, CUSTOMER_TABLES, FACT, FACT_COLUMNS, TABLES
from erpgen.schema import invoices as INVOICES
from erpgen.simulation.times import SECONDS_PER_DAY
from erpgen.sinks.backlog import Backlog
from erpgen.sinks.base import Batch
from erpgen.sinks.db import DatabaseSink, bulk_indexes, driver_value, line_pairs, plain_values
from erpgen.sinks.encode import IsoDates, text_lines
from erpgen.sinks.keys import HELD_PARENTS, Collecting, OwnKeys, Probe, WrittenKeys, broken
from erpgen.sinks.names import quote
from erpgen.tables import (
    HEADER_TABLES,
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


# The tables written with binary COPY besides the fact lines: the invoice headers and order-to-cash documents,
# whose every column is a number, a date, a moment or a fixed-width code, as many rows as the lines have
# invoices. The server takes binary fields without parsing their text (dates above all).
BINARY_TABLES = frozenset(HEADER_TABLES)


def encode_rows(table: Table, b: Batch) -> bytes:
    """Rows of a table of BINARY_TABLES in PostgreSQL's binary COPY format (no header or trailer): every field
    at its widest in one structured array, then the bytes past each code's length and each NULL date's value
    cut out, as encode_facts does. The values as text_lines takes them: integers, day numbers (NO_DAY: NULL),
    seconds since 1970-01-01, amounts in minor units (`<name>_units`) and codes as bytes."""
    n = len(b[table.columns[0].name])
    if not n:  # a block may have no rows of a table, its empty columns of any dtype
        return b""
    fields: list[tuple] = [("nfields", ">i2")]
    for col in table.columns:
        if isinstance(col.type, Integer):
            fields += _value_fields(col.name, f">i{_integer_width(col.type)}")
        elif isinstance(col.type, DateTime):
            fields += _value_fields(col.name, ">i8")
        elif isinstance(col.type, Date):
            fields += _value_fields(col.name, ">i4")
        elif isinstance(col.type, Numeric):
            fields += _numeric_fields(col.name)
        else:
            fields += _value_fields(col.name, f"S{max(1, np.asarray(b[col.name]).dtype.itemsize)}")
    rows = np.empty(n, dtype=np.dtype(fields))
    rows["nfields"] = len(table.columns)
    kept: list[tuple[str, np.ndarray]] = []  # (field, bytes of its value each row keeps), where not all
    for col in table.columns:
        name = col.name
        if isinstance(col.type, Integer):
            rows[f"{name}_len"], rows[name] = _integer_width(col.type), b[name]
        elif isinstance(col.type, DateTime):
            rows[f"{name}_len"] = 8
            rows[name] = (np.asarray(b[name]) - PG_EPOCH_DAYS * SECONDS_PER_DAY) * 1_000_000
        elif isinstance(col.type, Date):
            days = np.asarray(b[name])
            dated = known(days)
            rows[f"{name}_len"] = np.where(dated, 4, -1)
            rows[name] = np.where(dated, days - PG_EPOCH_DAYS, 0)
            if not dated.all():
                kept.append((name, np.where(dated, 4, 0)))
        elif isinstance(col.type, Numeric):
            _fill_numeric(rows, name, np.asarray(b[f"{name}_units"]), col.type.scale)
        else:
            codes = np.asarray(b[name])
            if codes.dtype.kind != "S":
                raise TypeError(f"{table.name}.{name} comes as {codes.dtype}, not as codes in bytes")
            length = np.char.str_len(codes)
            rows[f"{name}_len"], rows[name] = length, codes
            if (length < rows.dtype[name].itemsize).any():
                kept.append((name, length))
    raw = rows.view(np.uint8).reshape(n, rows.dtype.itemsize)
    if not kept:
        return raw.tobytes()
    keep = np.ones(raw.shape, dtype=bool)
    for name, length in kept:
        offset, width = rows.dtype.fields[name][1], rows.dtype[name].itemsize
        keep[:, offset : offset + width] = np.arange(width) < length[:, None]
    return raw[keep].tobytes()


def _integer_width(t: Integer) -> int:
    return 2 if isinstance(t, SmallInteger) else 8 if isinstance(t, BigInteger) else 4


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
    # an extension's (_defer_in_place): whether its session skips the key triggers of the fact lines, their
    # headers and documents, and checks their keys itself as it writes them (erpgen.sinks.keys)
    _trusted = False
    # and the keys of the small parents its rows' keys are checked against, by table
    _held: dict[str, np.ndarray] | None = None
    # and the keys this transaction wrote to the tables whose keys are probed (erpgen.sinks.keys)
    _written: OwnKeys | None = None
    # an extension's statements, sent by a thread of their own (erpgen.sinks.backlog)
    _backlog: Backlog | None = None

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
        # A superuser's session can leave the triggers of the fact lines, their invoice headers and the
        # order-to-cash documents out (session_replication_role, as pg_restore --disable-triggers does) and
        # check the keys of what it writes itself (erpgen.sinks.keys); another user drops the keys and validates
        # each once over the whole table afterwards, as a load does (figures: bench/README.md). The
        # transaction holds the tables meanwhile.
        self._held, self._written = {}, OwnKeys()
        self._trusted = conn.exec_driver_sql("SELECT current_setting('is_superuser')").scalar() == "on"
        if not self._trusted:
            for fk in _bulk_foreign_keys():
                conn.execute(DropConstraint(fk))
        else:  # read now: once the backlog sends, the connection is its own
            for parent in sorted(HELD_PARENTS):
                self._held[parent] = _keys_of(conn, _BY_NAME[parent].primary_key.columns[0])
        self._backlog = Backlog(conn.connection.dbapi_connection)

    def _settle(self) -> None:
        if self._backlog is not None:
            self._backlog.settle()

    def _stop_sending(self, *, discard: bool = False) -> None:
        if self._backlog is not None:
            backlog, self._backlog = self._backlog, None
            backlog.close(discard=discard)

    def _restore_in_place(self, conn: Connection) -> None:
        if not self._trusted:
            self._add_foreign_keys(conn)

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

    def lines_of_later(
        self, customers: np.ndarray, *, lines_from: dt.date, lines_till: dt.date
    ) -> Callable[[], np.ndarray]:
        """lines_of as one query for every customer (an array, where the other targets take them a few hundred
        at a time), on the backlog where one sends: the lines it reads were there before the extension began,
        so the rows queued before it change nothing of its answer."""
        statement = (
            f"SELECT customer_id, line_id FROM {FACT.name} WHERE customer_id = ANY(%s::bigint[]) "
            "AND invoice_date >= %s AND invoice_date < %s"
        )
        params = [customers.tolist(), lines_from, lines_till]

        def ask(cur) -> np.ndarray:
            cur.execute(statement, params)
            return line_pairs(cur.fetchall())

        if self._backlog is not None:
            return self._backlog.call(ask).result
        assert self.conn is not None
        with self.conn.connection.dbapi_connection.cursor() as cur:
            found = ask(cur)
        return lambda: found

    def lines_of(self, customers: np.ndarray, *, lines_from: dt.date, lines_till: dt.date) -> np.ndarray:
        return self.lines_of_later(customers, lines_from=lines_from, lines_till=lines_till)()

    def update_rows(self, table: str, batch: Batch) -> None:
        """One UPDATE ... FROM the batch's columns as arrays (unnest): one round trip, not one per row;
        queued behind the rows written before it, where an extension's backlog sends them."""
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
        statement = (
            f"UPDATE {quote(conn, t.name)} SET {sets} FROM unnest({typed}) AS v({names}) "
            f"WHERE {quote(conn, t.name)}.{quote(conn, key.name)} = v.{quote(conn, key.name)}"
        )
        if self._backlog is not None:
            self._backlog.call(lambda cur: cur.execute(statement, arrays))
        else:
            conn.exec_driver_sql(statement, arrays)

    def written_keys(self, conn: Connection, table: str) -> WrittenKeys:
        """The checker of the keys of `table`'s rows an extension writes past the key triggers, with the keys
        of their small parents (HELD_PARENTS) read now, before a COPY occupies the connection."""
        assert self._held is not None and self._written is not None
        for fk in _BY_NAME[table].foreign_key_constraints:
            (element,) = fk.elements
            parent = element.column
            if parent.table.name in HELD_PARENTS and parent.table.name not in self._held:
                self._settle()  # what is queued is in, and the connection free
                self._held[parent.table.name] = _keys_of(conn, parent)
        return WrittenKeys.of(table, self._held, self._written)

    @staticmethod
    def run_probe(cur, probe: Probe) -> None:
        """Look `probe`'s values up, on a raw cursor (what the backlog does after a COPY)."""
        _Probe(probe)(cur)

    @contextlib.contextmanager
    def _writer(self, conn: Connection, table: str) -> Iterator[object]:
        from psycopg import sql

        if self._backlog is not None:  # an extension's
            with self._queued_writer(conn, table) as writer:
                yield writer
            return
        raw = conn.connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as cur:
            if table == FACT.name:
                with cur.copy(
                    _copy_sql(table, COPY_COLUMNS, binary=True), writer=_queued_writer(cur)
                ) as copy:
                    copy.write(BINARY_HEADER)
                    yield _FactWriter(copy)
                    copy.write(BINARY_TRAILER)
                return
            columns = [c.name for c in _BY_NAME[table].columns]
            binary = table in BINARY_TABLES
            with cur.copy(_copy_sql(table, columns, binary=binary), writer=_queued_writer(cur)) as copy:
                if binary:
                    copy.write(BINARY_HEADER)
                yield _RowWriter(copy, table, binary=binary)
                if binary:
                    copy.write(BINARY_TRAILER)
            if table not in {t.name for t in BULK}:
                # its statistics now, while the workers simulate, rather than at the end (rows added to
                # a loaded table are left to autovacuum's analyse, as any application's inserts are)
                cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))

    @contextlib.contextmanager
    def _queued_writer(self, conn: Connection, table: str) -> Iterator[object]:
        """An extension's COPY, queued on the backlog: the same statements as _writer's, sent by its thread
        while this one goes on (the key checks of the rows as they are encoded, the probes after)."""
        assert self._backlog is not None
        fact = table == FACT.name
        trusted = self._trusted and (fact or table in _PAST_TRIGGERS)
        keys = self.written_keys(conn, table) if trusted else None
        binary = fact or table in BINARY_TABLES
        columns = COPY_COLUMNS if fact else [c.name for c in _BY_NAME[table].columns]
        job = self._backlog.copy(
            _copy_sql(table, columns, binary=binary),
            before=("SET LOCAL session_replication_role = replica",) if trusted else (),
        )
        # a parent whose keys are held (the customers): the keys written join them, rather than be read again
        held = self._held.get(table) if self._held else None
        writer = _FactWriter(job, keys) if fact else _RowWriter(job, table, keys, binary=binary)
        key = _BY_NAME[table].primary_key.columns[0].name
        collecting = None if held is None else Collecting(writer, key)
        try:
            if binary:
                job.write(BINARY_HEADER)
            yield writer if collecting is None else collecting
            if binary:
                job.write(BINARY_TRAILER)
        except BaseException:
            job.cancel()
            raise
        job.finish([] if keys is None else [_replication_origin, *map(_Probe, keys.probes())])
        if collecting is not None and self._held is not None:
            self._held[table] = collecting.joined(held)


def _keys_of(conn: Connection, key: Column) -> np.ndarray:
    """The values of a small parent's key column, sorted: read as one value of text, not a row per key (tens
    of thousands of customers are read in a moment)."""
    text = conn.exec_driver_sql(
        f"SELECT coalesce(string_agg({key.name}::text, E'\\n'), '') FROM {key.table.name}"
    ).scalar_one()
    kind = np.int64 if isinstance(key.type, Integer) else str
    return np.sort(np.array(text.split("\n") if text else [], dtype=kind))


def _replication_origin(cur) -> None:
    cur.execute("SET LOCAL session_replication_role = origin")


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


def _array_type(column: Column) -> str:
    """The array type of a column's values, as update_rows and the key probes send them (text, dates or
    integers)."""
    if isinstance(column.type, Date):
        return "date[]"
    if isinstance(column.type, Integer):
        return "bigint[]"
    if isinstance(column.type, Text | String):
        return "text[]"
    raise TypeError(f"no array type for the {column.type} column {column.name}")


# the tables an extension writes past their key triggers, beside the fact lines: the headers and documents,
# and the lifecycle tables, whose only key (to customers) is checked in memory
_PAST_TRIGGERS = frozenset(
    {INVOICES.name, "sales_orders", "deliveries", "payments", "customer_lifecycle", "lifecycle_events"}
)


class _Probe:
    """A probe of an extension's keys (erpgen.sinks.keys.Probe) as a step of the backlog: its values sent as
    one text value, split by the server (psycopg adapts a list value by value), on the cursor it is called
    with."""

    def __init__(self, probe: Probe):
        self.probe = probe
        values = probe.values
        self.text = (
            b"\n".join(values.tolist()).decode()
            if values.dtype.kind == "S"
            else "\n".join(map(str, values.tolist()))
        )

    def __call__(self, cur) -> None:
        from psycopg import sql

        parent = self.probe.parent
        cur.execute(
            sql.SQL(
                "SELECT u.v FROM unnest(string_to_array(%s, E'\\n')::{}) AS u(v) "
                "WHERE NOT EXISTS (SELECT 1 FROM {} p WHERE p.{} = u.v) LIMIT 5"
            ).format(
                sql.SQL(_array_type(parent)), sql.Identifier(parent.table.name), sql.Identifier(parent.name)
            ),
            [self.text],
        )
        missing = [v for (v,) in cur.fetchall()]
        if missing:
            broken(self.probe.table, self.probe.child, parent.table.name, missing)


# Rows encoded at a time: the server parses the first piece while the next is encoded.
LINES_PER_PIECE = 16_384
ROWS_PER_PIECE = 4096  # of the other tables, whose rows are wider


def _pieces(b: Batch, rows: int) -> Iterator[Batch]:
    """The batch `rows` rows at a time (itself, if it has no more)."""
    n = len(next(iter(b.values()), ()))  # type: ignore[arg-type]
    if n <= rows:
        yield b
        return
    for lo in range(0, n, rows):
        yield {name: values[lo : lo + rows] for name, values in b.items()}  # type: ignore[index]


class _FactWriter:
    """Binary COPY of the fact lines; their keys, if checked here, while the server takes the rows (a broken
    one fails the transaction all the same)."""

    def __init__(self, copy, keys: WrittenKeys | None = None):
        self.copy, self.keys = copy, keys

    def write(self, batch: Batch) -> None:
        # the codes made once for the whole batch, kept in it for the key check and the digest, not per piece
        batch_invoice_ids(batch)
        batch_order_ids(batch)
        batch_return_reasons(batch)
        for piece in _pieces(batch, LINES_PER_PIECE):
            self.copy.write(encode_facts(piece))
        if self.keys is not None:
            self.keys.check(batch)


class _RowWriter:
    """COPY of the other tables, ROWS_PER_PIECE rows at a time: text for the masters, customers and
    lifecycle, binary for BINARY_TABLES; their keys checked as the fact lines' are."""

    def __init__(self, copy, table: str, keys: WrittenKeys | None = None, *, binary: bool = False):
        self.copy, self.table, self.keys, self.binary = copy, table, keys, binary
        self.dates = IsoDates()

    def write(self, b: Batch) -> None:
        for piece in _pieces(b, ROWS_PER_PIECE):
            if self.binary:
                self.copy.write(encode_rows(_BY_NAME[self.table], piece))
            else:
                self.copy.write(text_lines(self.table, piece, self.dates))
        if self.keys is not None:
            self.keys.check(b)
