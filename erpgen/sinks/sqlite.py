"""SQLite: executemany in one transaction.

A new file is built under a scratch name with the journal off (nothing else can see it, and a failed
run just deletes it) and renamed into place when complete, so the target path only ever holds a
finished database. An existing file is loaded in place inside one transaction (DDL included) with its
journal on, so a failure rolls it back. FKs are declared in the schema; they are checked once after the
load with PRAGMA foreign_key_check rather than row by row, and the secondary indexes are built last.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from sqlalchemy.engine import URL, Connection
from sqlalchemy.schema import CreateIndex, DropIndex

from erpgen.errors import TargetError
from erpgen.schema import FACT, FACT_COLUMNS
from erpgen.scratch import publish, remove_stale_scratch
from erpgen.sinks.base import Batch
from erpgen.sinks.db import DatabaseSink, bulk_indexes
from erpgen.sinks.encode import IsoDates, moment_text, table_columns
from erpgen.sinks.names import quote
from erpgen.tables import (
    INVOICE_ID_WIDTH,
    ORDER_ID_WIDTH,
    batch_invoice_ids,
    batch_order_ids,
    batch_return_reasons,
)
from erpgen.urls import sqlite_path


def live_lock(database: Path) -> Path:
    """The file `erpgen live` holds an flock on while it feeds the database (SQLite's own lock lasts a
    transaction): a second live, an extension or a load of the file is refused while it is held."""
    return database.with_name(database.name + ".erpgen-live.lock")


def live_is_feeding(database: Path) -> bool:
    import fcntl

    try:
        fd = os.open(live_lock(database), os.O_RDONLY)
    except OSError:  # none: no live runs (a live killed -9 leaves one that nobody holds)
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


class SqliteSink(DatabaseSink):
    def __init__(self, url: URL, *, replace: bool, resume: bool = False, append: bool = False):
        super().__init__(url, replace=replace, resume=resume, append=append)
        self.path = sqlite_path(url)
        self._fresh = not self.path.exists() or self.path.stat().st_size == 0
        # A resumable load keeps one well-known scratch file (a later --resume finds it) and its journal
        # on, since it commits block by block and must survive being killed between commits.
        tag = "resume" if resume else str(os.getpid())
        self._stem = _scratch_stem(self.path)
        self._scratch = self.path.with_name(f".{self._stem}.{tag}.partial")
        self._dates = IsoDates()

    def _connect_url(self) -> URL:
        return self.url.set(database=str(self._scratch)) if self._fresh else self.url

    def _engine_options(self) -> dict:
        # FKs are checked once after the load (PRAGMA foreign_key_check), not row by row.
        return {"sqlite_fast": self._fresh and not self.resume, "sqlite_foreign_keys": False}

    def begin(self) -> None:
        if live_is_feeding(self.path):
            raise TargetError(
                f"erpgen live is feeding {self.describe()}", "stop it (Ctrl-C or SIGTERM), then run again"
            )
        if self._fresh and not self.append:
            if self.path.parent.exists() and not os.access(self.path.parent, os.W_OK):
                raise TargetError(
                    f"cannot write in {self.path.parent}", "choose a directory you can write to"
                )
            for suffix in ("", "-journal"):
                remove_stale_scratch(self.path.parent, f".{self._stem}.*.partial{suffix}")
            if not self.resume:
                self._scratch.unlink(missing_ok=True)
                waiting = self.path.with_name(f".{self._stem}.resume.partial")
                if waiting.exists() and not self.replace:
                    raise TargetError(
                        f"{self.describe()} has an interrupted --resume load waiting in {waiting.name}",
                        "add --resume (same options) to carry it on, or --replace to start again",
                    )
                waiting.unlink(missing_ok=True)
                Path(f"{waiting}-journal").unlink(missing_ok=True)
        super().begin()

    def _defer_constraints(self, conn: Connection) -> None:
        for ix in bulk_indexes():
            conn.execute(DropIndex(ix))

    def _restore_constraints(self, conn: Connection) -> None:
        for ix in bulk_indexes():
            conn.execute(CreateIndex(ix))
        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchmany(5)
        if broken:
            raise RuntimeError(f"erpgen produced rows without a parent: {broken}")

    def _finalise(self) -> None:
        if self._fresh:
            publish(self._scratch, self.path)

    def _discard(self) -> None:
        if self._fresh and not (self.resume and self._scratch.exists() and self._has_checkpoint()):
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(str(self._scratch) + suffix).unlink(missing_ok=True)

    def _has_checkpoint(self) -> bool:
        """Whether the scratch file holds a committed part of a resumable load (keep it for --resume)."""
        import sqlite3

        try:
            with contextlib.closing(sqlite3.connect(self._scratch)) as con:
                return (
                    con.execute("SELECT count(*) FROM erpgen_runs WHERE status = 'LOADING'").fetchone()[0] > 0
                )
        except sqlite3.Error:
            return False

    @contextlib.contextmanager
    def _writer(self, conn: Connection, table: str) -> Iterator[_Writer]:
        yield _Writer(conn, table, self._dates)


# What a scratch file's name adds to the target's, at most: ".", ".<pid or resume>.partial-journal".
SCRATCH_AFFIXES = len(".") + len(".4194304.partial-journal")


def _scratch_stem(path: Path) -> str:
    """The target's file name, as its scratch files' names begin. A name too long to take the affixes in
    the directory is cut and ended by its hash (the target itself can be as long as SQLite's journal,
    `<name>-journal`, allows)."""
    try:
        limit = os.pathconf(path.parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    name = os.fsencode(path.name)
    if len(name) + SCRATCH_AFFIXES <= limit:
        return path.name
    digest = "~" + hashlib.sha1(name).hexdigest()[:12]
    head = name[: max(0, limit - SCRATCH_AFFIXES - len(digest))]
    return head.decode("utf-8", "ignore") + digest  # a character cut in two is left out


# Rows per INSERT statement: one statement of many VALUES tuples runs faster than executemany of one
# row (the per-statement work is paid once per group), within SQLite's 999 bound variables.
ROWS_PER_INSERT = 50
MAX_VARIABLES = 999


class _Writer:
    def __init__(self, conn: Connection, table: str, dates: IsoDates):
        self.cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        self.table = table
        self.into = quote(conn, table)
        self.dates = dates

    def write(self, batch: Batch) -> None:
        if self.table == FACT.name:
            columns = self._fact_columns(batch)
        else:
            columns = table_columns(self.table, batch, self.dates, money_as_float=True)
        n, width = len(columns[0]), len(columns)
        if not n:
            return
        # the rows as one object matrix, filled column by column, then cut into groups of `per` rows
        values = np.empty((n, width), dtype=object)
        for j, column in enumerate(columns):
            values[:, j] = column
        per = max(1, min(ROWS_PER_INSERT, MAX_VARIABLES // width))
        whole = n // per * per
        row = f"({', '.join('?' * width)})"
        if whole:
            sql = f"INSERT INTO {self.into} VALUES {', '.join([row] * per)}"
            self.cursor.executemany(sql, values[:whole].reshape(-1, per * width).tolist())
        if whole < n:
            self.cursor.executemany(f"INSERT INTO {self.into} VALUES {row}", values[whole:].tolist())

    def _fact_columns(self, b: Batch) -> list[list]:
        """The fact table's columns in the schema's order (INSERT ... VALUES names none)."""
        returned = np.asarray(b["returned_line_id"])
        columns = {
            "line_id": b["line_id"].tolist(),
            "invoice_id": batch_invoice_ids(b).astype(f"U{INVOICE_ID_WIDTH}").tolist(),
            "customer_id": b["customer_id"].tolist(),
            "invoice_date": self.dates(b["invoice_date"]).tolist(),
            "product_id": b["product_id"].tolist(),
            "quantity": b["quantity"].tolist(),
            "revenue": (np.asarray(b["revenue_cents"]) / 100).tolist(),
            "store_id": b["store_id"].tolist(),
            "unit_price": (np.asarray(b["unit_price_cents"]) / 100).tolist(),
            "returned_line_id": (
                np.where(returned > 0, returned, None).tolist() if returned.any() else [None] * len(returned)
            ),
            "invoiced_at": moment_text(b["invoiced_at"], self.dates)
            .view("S19")
            .ravel()
            .astype("U19")
            .tolist(),
            "order_id": batch_order_ids(b).astype(f"U{ORDER_ID_WIDTH}").tolist(),
            "return_reason": [r.decode() or None for r in batch_return_reasons(b).tolist()],
        }
        return [columns[name] for name in FACT_COLUMNS]
