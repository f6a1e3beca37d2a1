"""What every database sink shares: one transaction from schema to last row, target checks, and
constraints on the fact table built after the bulk load (as pg_restore does), from the same metadata."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from abc import abstractmethod
from collections.abc import Iterator, Sequence

import numpy as np
from sqlalchemy import Date, MetaData, Table, bindparam, exists, func, inspect, select, table, update
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError

from erpgen import migrate, runlog
from erpgen.database import (
    connect,
    describe_db_error,
    erpgen_tables_present,
    has_alembic_version,
    is_disk_full,
    lock_timed_out,
)
from erpgen.dates import EPOCH_DATE, NO_DAY
from erpgen.errors import TargetError
from erpgen.schema import BULK, FACT, TABLES
from erpgen.sinks.base import Batch, ExtendableSink, ResumableSink, StorySoFar, TableWriter
from erpgen.urls import mask

_TABLE = {t.name: t for t in TABLES}


class DatabaseSink(ResumableSink, ExtendableSink):
    def __init__(
        self, url: URL, *, replace: bool, resume: bool = False, append: bool = False, lock_wait: float = 60.0
    ):
        self.url = url
        self.replace = replace
        self.resume = resume
        self.append = append  # `erpgen extend`: rows added to the dataset in place, in one transaction
        self.lock_wait = lock_wait  # seconds; what a server's session waits for a lock others hold
        self.resuming: dict | None = None  # the interrupted run --resume carries on, if there is one
        self.conn: Connection | None = None
        self._stack = contextlib.ExitStack()

    def describe(self) -> str:
        return mask(self.url)

    # -- subclass hooks -----------------------------------------------------------------------
    def _connect_url(self) -> URL:
        return self.url

    def _engine_options(self) -> dict:
        return {}

    @abstractmethod
    def _defer_constraints(self, conn: Connection) -> None:
        """Drop what slows the bulk load of the (empty) fact table."""

    @abstractmethod
    def _restore_constraints(self, conn: Connection) -> None:
        """Build it again after the load; the final schema is exactly the Alembic head's."""

    @abstractmethod
    def _writer(self, conn: Connection, table: str) -> contextlib.AbstractContextManager[TableWriter]: ...

    def _session(self, conn: Connection) -> None:
        """The load's own limits on its connection, set first: a server's lock waits, its timeouts."""

    def _lock_holders(self) -> str:
        """Who holds locks on erpgen's tables in the target (for the message of a lock wait that timed out)."""
        return ""

    def _prepare(self, conn: Connection) -> None:
        """Make room for the new tables, inside the load's transaction."""
        if self.replace:
            self._drop_existing(conn)

    def _publish(self, conn: Connection) -> None:
        """After commit, before close (MySQL moves its scratch database's tables into the target here)."""

    def _finalise(self) -> None:
        """After commit and close (SQLite moves its scratch file into place here)."""

    def _discard(self) -> None:
        """After rollback and close."""

    def _lock_in_place(self, conn: Connection) -> None:
        """Keep out a second erpgen run while this one adds to the dataset in place (extend)."""
        self._lock(conn)

    def _defer_in_place(self, conn: Connection) -> None:
        """Before an extension's rows: drop what checks them row by row, where that is slower than
        checking the whole table once at the end (_restore_in_place)."""

    def _restore_in_place(self, conn: Connection) -> None:
        """Before an extension commits: build again what _defer_in_place dropped."""

    def _settle(self) -> None:
        """Before this process uses the connection itself: wait for what a thread of the sink's own still
        sends on it (PostgreSQL's backlog), and raise its error if it failed."""

    def _stop_sending(self, *, discard: bool = False) -> None:
        """Before commit or rollback: stop that thread (`discard`: what it has not sent yet, before a
        rollback)."""

    # -- the Sink interface ---------------------------------------------------------------------
    def begin(self) -> None:
        if self.append:
            self._begin_in_place()
            return
        self.conn = self._stack.enter_context(
            connect(self._connect_url(), shown_as=self.url, **self._engine_options())
        )
        try:
            self.conn.begin()
            self._session(self.conn)
            self._lock(self.conn)
            if self.resume and not self.replace:
                self.resuming = self._interrupted_run(self.conn)
            if self.resuming is None:
                self._check_target(self.conn)
                self._prepare(self.conn)
                migrate.upgrade(self.conn, "head")
                self._defer_constraints(self.conn)
        except DBAPIError as exc:
            self.abort()
            if is_disk_full(exc):  # not the user's rights: the caller names the disk and what it needs
                raise
            message = describe_db_error(exc, self.url)
            if lock_timed_out(message):
                raise TargetError(
                    f"cannot prepare erpgen's tables in {self.describe()}: other sessions held locks on them "
                    f"for more than {self.lock_wait:g} s{self._lock_holders()}",
                    "end their transactions (or wait for them), then run again; --lock-wait-timeout waits longer",
                ) from None
            raise TargetError(
                f"cannot prepare erpgen's tables in {self.describe()}: {message}",
                "another process is writing to it; run again when it is done"
                if "locked" in message
                else "check that the user may create tables there",
            ) from None
        except BaseException:
            self.abort()
            raise

    def _begin_in_place(self) -> None:
        """One transaction on the target itself, with its keys and indexes as they are: an extension adds
        a small share of rows to tables that stay in place, where a load builds new ones."""
        self.conn = self._stack.enter_context(connect(self.url, **self._engine_options()))
        try:
            self.conn.begin()
            self._lock_in_place(self.conn)
            self._defer_in_place(self.conn)
        except DBAPIError as exc:
            self.abort()
            if is_disk_full(exc):
                raise
            message = describe_db_error(exc, self.url)
            raise TargetError(
                f"cannot write to {self.describe()}: {message}",
                "another process is writing to it; run again when it is done"
                if "locked" in message
                else "check that the user may write there",
            ) from None
        except BaseException:
            self.abort()
            raise

    def run_record(self) -> dict | None:
        assert self.conn is not None
        self._settle()
        return runlog.dataset_record(self.conn, self.describe())

    def story_so_far(self, *, lost_from: dt.date, lines_till: dt.date) -> StorySoFar:
        """The lifecycle rows of the customers not lost before lost_from, and how many fact lines are dated
        before lines_till: the largest of their ids, as ids go by day from the original end on (and every
        line up to it is dated before lines_till), which the primary key finds at once where a count would
        read the whole invoice_date index."""
        assert self.conn is not None
        self._settle()
        lifecycle, lines = _TABLE["customer_lifecycle"], _TABLE[FACT.name]
        going_on = (
            self.conn.execute(
                select(lifecycle.c.customer_id).where(
                    lifecycle.c.lost_on.is_(None) | (lifecycle.c.lost_on >= lost_from)
                )
            )
            .scalars()
            .all()
        )  # read before the next statement: DuckDB's cursor would drop the rest
        before = self.conn.execute(
            select(func.max(lines.c.line_id)).where(lines.c.invoice_date < lines_till)
        ).scalar_one()
        return StorySoFar(np.sort(np.fromiter(going_on, np.int64)), int(before or 0))

    def lines_of(self, customers: np.ndarray, *, lines_from: dt.date, lines_till: dt.date) -> np.ndarray:
        """By the fact table's customer_id index, a few hundred customers a query."""
        assert self.conn is not None
        self._settle()
        lines = _TABLE[FACT.name]
        found: list[Sequence] = []
        for lo in range(0, len(customers), 500):
            found += self.conn.execute(
                select(lines.c.customer_id, lines.c.line_id).where(
                    lines.c.customer_id.in_(customers[lo : lo + 500].tolist()),
                    lines.c.invoice_date >= lines_from,
                    lines.c.invoice_date < lines_till,
                )
            ).all()
        return line_pairs(found)

    def update_rows(self, table: str, batch: Batch) -> None:
        """Set the columns of `batch` on the rows its first column (the key) names: the truth columns an
        extension learns (few rows: executemany of one UPDATE)."""
        assert self.conn is not None
        t = next(t for t in TABLES if t.name == table)
        key, *columns = list(batch)
        rows = [
            {f"v_{name}": driver_value(t.c[name], v) for name, v in zip(batch, values)}
            for values in zip(*(plain_values(batch[name]) for name in batch))
        ]
        if rows:
            statement = (
                update(t)
                .where(t.c[key] == bindparam(f"v_{key}"))
                .values({name: bindparam(f"v_{name}") for name in columns})
            )
            self.conn.execute(statement, rows)

    @contextlib.contextmanager
    def table_writer(self, table: str) -> Iterator[TableWriter]:
        assert self.conn is not None
        with self._writer(self.conn, table) as writer:
            yield writer

    # -- resume (ResumableSink) ----------------------------------------------------------------------
    def interrupted_run(self) -> dict | None:
        return self.resuming

    def checkpoint(self, *, blocks_done: int, next_line_id: int) -> None:
        """Record the progress, commit what is loaded so far (keys still deferred) and go on in a new
        transaction."""
        assert self.conn is not None
        runlog.record_progress(self.conn, blocks_done=blocks_done, next_line_id=next_line_id)
        self.conn.commit()
        self.conn.begin()
        self._lock(self.conn)

    def complete(self) -> dict[str, int]:
        assert self.conn is not None
        rows = runlog.record_completion(self.conn)
        self.commit()
        return rows

    def _interrupted_run(self, conn: Connection) -> dict | None:
        if (
            "erpgen_runs" not in inspect(conn).get_table_names()
            or migrate.current_revision(conn) != migrate.head_revision()
        ):
            return None
        return runlog.interrupted_run(conn)

    def commit(self) -> None:
        assert self.conn is not None
        if self.append:
            self._settle()
            self._stop_sending()
            self._restore_in_place(self.conn)
            self.conn.commit()
            self._stack.close()
            self.conn = None
            return
        self._restore_constraints(self.conn)
        self.conn.commit()
        self._publish(self.conn)
        self._stack.close()
        self.conn = None
        self._finalise()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._stop_sending(discard=True)
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.rollback()
        with contextlib.suppress(Exception):
            self._stack.close()
        self.conn = None
        if not self.append:  # in place there is nothing of the run's own to remove
            self._discard()

    # -- target checks --------------------------------------------------------------------------
    def _lock(self, conn: Connection) -> None:
        """Keep a second erpgen run out of this target until this one commits or rolls back."""

    def _check_target(self, conn: Connection) -> None:
        ours = {t.name for t in TABLES} | {"alembic_version"}
        others = [name for name in inspect(conn).get_table_names() if name not in ours]
        holding_others = [name for name in others if conn.scalar(select(exists().select_from(table(name))))]
        if holding_others and not self.replace:
            raise TargetError(
                f"{self.describe()} already holds data in table(s) {', '.join(sorted(holding_others))}",
                "use an empty database, or add --replace to load beside them (erpgen drops only its own tables)",
            )
        present = erpgen_tables_present(conn)
        if not present:
            return
        if not has_alembic_version(conn):
            raise TargetError(
                f"{self.describe()} already has table(s) named {', '.join(present)} that erpgen did not create",
                "use an empty database (erpgen never drops tables it did not make)",
            )
        holding = [
            t.name for t in TABLES if t.name in present and conn.scalar(select(exists().select_from(t)))
        ]
        if holding and not self.replace and self._interrupted_run(conn) is not None:
            raise TargetError(
                f"{self.describe()} holds an interrupted --resume load",
                "add --resume (same options) to carry it on, or --replace to start again",
            )
        if holding and not self.replace:
            raise TargetError(
                f"{self.describe()} already holds an erpgen dataset (rows in {', '.join(holding)})",
                "add --replace to drop it and generate again, or choose another database",
            )

    def _drop_existing(self, conn: Connection) -> None:
        """--replace: drop erpgen's tables, children first, whatever revision they are at (running the
        downgrades instead would rewrite every table it alters on the way down)."""
        if has_alembic_version(conn):
            for t in [*reversed(TABLES), Table("alembic_version", MetaData())]:
                t.drop(conn, checkfirst=True)


def plain_values(values) -> list:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def driver_value(column, value):
    """A batch's value as the driver takes it for `column`: dates are day numbers (NO_DAY: NULL)."""
    if isinstance(column.type, Date):
        return None if value is None or value == NO_DAY else EPOCH_DATE + dt.timedelta(days=int(value))
    if isinstance(value, bytes):  # a fixed-width key (order ids)
        return value.decode()
    return value


def bulk_indexes():
    """Indexes of the bulk-loaded tables, built after the load."""
    return sorted((ix for t in BULK for ix in t.indexes), key=lambda ix: ix.name or "")


def line_pairs(rows: Sequence[Sequence[int]]) -> np.ndarray:
    """Rows of (customer_id, line_id) as lines_of answers: a (2, n) array ordered by customer, then line id."""
    # numpy reads plain values at once; rows it would first probe for the array interface, one by one
    pairs = np.fromiter(itertools.chain.from_iterable(rows), np.int64, 2 * len(rows)).reshape(-1, 2).T
    return pairs[:, np.lexsort((pairs[1], pairs[0]))]
