"""DuckDB: Arrow tables inserted in one transaction through DuckDB's own bulk path.

As with SQLite, a new file is built under a scratch name and renamed into place when complete, so the
target path only ever holds a finished database; an existing file (--replace) is loaded in place inside
one transaction, DDL included, so a failure rolls it back. A new file is committed table by table: it is
nobody's database before the rename, and DuckDB holds a transaction's rows and key indexes in memory until
it commits, so one transaction over the whole load would hold them all at once. Each batch becomes an
Arrow table (typed by sinks.arrow, as the Parquet export is) that DuckDB reads with no per-row Python.

DuckDB enforces primary keys, foreign keys and CHECKs as rows arrive, and can neither drop nor add a key
on an existing table, so the keys are there throughout the load; only the secondary indexes are built at
the end. Parents go in before their children: the fact lines, made before their orders' headers, wait in a
temporary table until the orders are in. Its foreign keys do not see rows of the same INSERT: the sale
lines go in before the credit-note lines that point at them.

`erpgen extend` adds to the file in place, in one transaction (DatabaseSink's append), with the keys as
they are: it only adds rows and sets unindexed columns (customer_lifecycle's dates, an order's status, a
delivery's day), which DuckDB does in place; a failed or killed extension is rolled back (DuckDB's log holds no uncommitted work).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import URL, Connection
from sqlalchemy.schema import CreateIndex, DropIndex

from erpgen.errors import TargetError
from erpgen.schema import FACT, TABLES
from erpgen.scratch import publish, remove_stale_scratch
from erpgen.sinks.base import Batch, TableWriter
from erpgen.sinks.db import DatabaseSink, bulk_indexes
from erpgen.sinks.names import quote
from erpgen.urls import sqlite_path

_BY_NAME = {t.name: t for t in TABLES}


def _pyarrow():
    try:
        import pyarrow
    except ImportError:
        raise TargetError("duckdb:// needs pyarrow", "pip install 'erpgen[duckdb]'") from None
    return pyarrow


class DuckdbSink(DatabaseSink):
    def __init__(self, url: URL, *, replace: bool, resume: bool = False, append: bool = False):
        super().__init__(url, replace=replace, resume=resume, append=append)
        _pyarrow()  # fail before anything is simulated
        self.path = sqlite_path(url)
        self._fresh = not self.path.exists() or self.path.stat().st_size == 0
        # A resumable load keeps one well-known scratch file (a later --resume finds it); DuckDB's write-ahead
        # log makes each committed block survive a kill.
        tag = "resume" if resume else str(os.getpid())
        self._scratch = self.path.with_name(f".{self.path.name}.{tag}.partial")

    def _connect_url(self) -> URL:
        return self.url.set(database=str(self._scratch)) if self._fresh else self.url

    def begin(self) -> None:
        if self._fresh:
            if self.path.parent.exists() and not os.access(self.path.parent, os.W_OK):
                raise TargetError(
                    f"cannot write in {self.path.parent}", "choose a directory you can write to"
                )
            for suffix in ("", ".wal"):
                remove_stale_scratch(self.path.parent, f".{self.path.name}.*.partial{suffix}")
            if not self.resume:
                _remove(self._scratch)
                waiting = self.path.with_name(f".{self.path.name}.resume.partial")
                if waiting.exists() and not self.replace:
                    raise TargetError(
                        f"{self.describe()} has an interrupted --resume load waiting in {waiting.name}",
                        "add --resume (same options) to carry it on, or --replace to start again",
                    )
                _remove(waiting)
        super().begin()

    @contextlib.contextmanager
    def table_writer(self, table: str) -> Iterator[TableWriter]:
        with super().table_writer(table) as writer:
            yield writer
        if self._fresh and not self.resume:  # a --resume load commits at its own checkpoints
            assert self.conn is not None
            self.conn.commit()
            self.conn.begin()

    _orders_first = False  # whether this run wrote the orders before their lines (an extension does)

    def _defer_constraints(self, conn: Connection) -> None:
        for ix in bulk_indexes():
            conn.execute(DropIndex(ix))

    def _restore_constraints(self, conn: Connection) -> None:
        for ix in bulk_indexes():
            conn.execute(CreateIndex(ix))

    def _finalise(self) -> None:
        if self._fresh:
            # closed: DuckDB has checkpointed its log into the file, so the file alone is the database
            publish(self._scratch, self.path)

    def _discard(self) -> None:
        if self._fresh and not (self.resume and self._scratch.exists() and self._has_checkpoint()):
            _remove(self._scratch)

    def _has_checkpoint(self) -> bool:
        """Whether the scratch file holds a committed part of a resumable load (keep it for --resume)."""
        import duckdb

        try:
            with contextlib.closing(duckdb.connect(str(self._scratch), read_only=True)) as con:
                row = con.execute("SELECT count(*) FROM erpgen_runs WHERE status = 'LOADING'").fetchone()
                return bool(row and row[0])
        except duckdb.Error:
            return False

    @contextlib.contextmanager
    def _writer(self, conn: Connection, table: str) -> Iterator[_Writer]:
        if table == FACT.name:  # its lines name their orders: unless those are in, the lines wait for them
            conn.exec_driver_sql(
                f"CREATE TEMP TABLE IF NOT EXISTS {_WAITING} AS FROM {quote(conn, table)} LIMIT 0"
            )
            yield _Writer(conn, table, into=_WAITING)
            if self._orders_first:  # an extension writes the orders first
                self._lines_in(conn)
            return
        if table == "sales_orders":
            waiting = conn.exec_driver_sql(
                "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", (_WAITING,)
            ).scalar()
            self._orders_first = not waiting
        yield _Writer(conn, table)
        if table == "sales_orders" and not self._orders_first:  # a load makes the lines first
            self._lines_in(conn)

    @staticmethod
    def _lines_in(conn: Connection) -> None:
        """The fact lines that waited for their orders: the sales, then the credit notes that point at them
        (DuckDB's foreign keys do not see rows of the same INSERT), in line order."""
        fact = quote(conn, FACT.name)
        for which in ("IS NULL", "IS NOT NULL"):
            conn.exec_driver_sql(
                f"INSERT INTO {fact} FROM {_WAITING} WHERE returned_line_id {which} ORDER BY line_id"
            )
        conn.exec_driver_sql(f"DROP TABLE {_WAITING}")


def _remove(path: Path) -> None:
    for suffix in ("", ".wal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


_WAITING = "erpgen_lines_waiting"  # a temporary table, without keys


class _Writer:
    def __init__(self, conn: Connection, table: str, into: str | None = None):
        from erpgen.sinks.arrow import arrow_schema

        self.duck = conn.connection.dbapi_connection  # the duckdb connection, in SQLAlchemy's transaction
        self.table = _BY_NAME[table]
        self.schema = arrow_schema(self.table)
        self.quoted_table = into or quote(conn, table)

    def write(self, batch: Batch) -> None:
        from erpgen.sinks.arrow import record_batch

        pa = _pyarrow()
        rows = pa.Table.from_batches([record_batch(self.table, batch, self.schema)])
        if not rows.num_rows:
            return
        if self.table is FACT:
            import pyarrow.compute as pc

            credits = rows.column("returned_line_id").is_valid()
            self._insert(rows.filter(pc.invert(credits)))
            self._insert(rows.filter(credits))
        else:
            self._insert(rows)

    def _insert(self, rows) -> None:
        if not rows.num_rows:
            return
        # DuckDB takes no new work while a result is unread, and a query SQLAlchemy read one row of (the
        # run record a --resume load reads) leaves its rest unread
        self.duck.complete()
        self.duck.register("erpgen_batch", rows)  # DuckDB scans the Arrow buffers in place
        try:
            self.duck.execute(f"INSERT INTO {self.quoted_table} SELECT * FROM erpgen_batch")
        finally:
            self.duck.unregister("erpgen_batch")
