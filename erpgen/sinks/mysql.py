"""MySQL and MariaDB: LOAD DATA LOCAL INFILE into a scratch database, moved into the target by one RENAME.

MySQL commits every DDL statement at once, so no transaction can hold the migration and the load.
Instead the dataset is built in a scratch database of its own and moved into the target at the end by
one multi-table RENAME TABLE, which is atomic: erpgen tables already there (empty, or with --replace)
are moved out to a second scratch database in the same statement and dropped with it afterwards. Until
then the target is untouched. A failed run drops its scratch databases; a killed one leaves them, and
the next run drops every scratch database whose run no longer holds its GET_LOCK (such a lock dies
with its connection, wherever the client ran). A --resume load builds in a database named after the
target instead (erpgen_resume_<target>), committed block by block, which a later --resume carries on.

Each batch goes to the server as tab-separated text by LOAD DATA LOCAL INFILE, the fact table encoded
straight from numpy columns. The fact table keeps its primary key (InnoDB's clustered index: lines
arrive in key order, and adding the key afterwards would rebuild the table); its foreign keys and
secondary indexes are dropped on the new, empty table and built after the load, every foreign key
checked once by a query rather than row by row.

An extension (erpgen extend, live) writes in the target itself, in one transaction, with the keys and
indexes in place and foreign_key_checks off for its session: the sink checks the keys of what it writes
itself (erpgen.sinks.keys), as PostgreSQL's does past its key triggers.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
from sqlalchemy import Integer, inspect
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import DropConstraint

from erpgen.database import connect, describe_db_error, is_disk_full
from erpgen.errors import TargetError
from erpgen.schema import BULK, FACT, FACT_COLUMNS, TABLES
from erpgen.sinks.base import Batch
from erpgen.sinks.db import DatabaseSink, bulk_indexes
from erpgen.sinks.encode import IsoDates, fact_lines, text_lines
from erpgen.sinks.keys import HELD_PARENTS, Collecting, OwnKeys, Probe, WrittenKeys
from erpgen.sinks.names import like_prefix, qualified, quote

SCRATCH_PREFIX = "erpgen_scratch_"
RESUME_PREFIX = "erpgen_resume_"
SCRATCH = re.compile(rf"^({SCRATCH_PREFIX}\d+_[0-9a-f]+)(_old)?$")
_BY_NAME = {t.name: t for t in TABLES}


def load_lock(database: str) -> str:
    """The named lock (GET_LOCK) that keeps a second erpgen run out of a database while one loads (a lock
    name holds 64 characters: a longer one is named by its hash, not cut, so that two names differing
    only at the end have locks of their own)."""
    name = f"erpgen load {database}"
    return name if len(name) <= 64 else f"erpgen load {hashlib.sha1(database.encode()).hexdigest()}"


class MysqlSink(DatabaseSink):
    # an extension's (_defer_in_place): the keys of the small parents its rows' keys are checked against, the
    # keys it wrote to the probed parents, and the checkers whose probes run before it commits
    _held: dict[str, np.ndarray] | None = None
    _written: OwnKeys | None = None
    _probes: list[WrittenKeys] | None = None

    def __init__(
        self, url: URL, *, replace: bool, resume: bool = False, append: bool = False, lock_wait: float = 60.0
    ):
        super().__init__(url, replace=replace, resume=resume, append=append, lock_wait=lock_wait)
        self.tag = f"{SCRATCH_PREFIX}{os.getpid()}_{secrets.token_hex(3)}"  # also this run's GET_LOCK
        self.old = f"{self.tag}_old"  # where the target's previous erpgen tables go
        self.waiting = resume_database(url.database or "")
        self.scratch = self.waiting if resume else self.tag
        self.owned: list[str] = []  # the scratch databases this run may drop: once it holds the target's lock
        self._dates = IsoDates()

    def begin(self) -> None:
        """Check and lock the target on a connection of its own, kept until the swap; then build in the
        scratch database as every database sink builds in its target. An extension (append) writes in
        the target itself: InnoDB's inserts and updates are transactional, only DDL commits at once."""
        if self.append:
            super().begin()
            return
        try:
            self.target = self._stack.enter_context(connect(self.url))
            self._session(self.target)
            self._lock_target(self.target)
            self._note_data_directory(self.target)
            carry_on = self._waiting_run(self.target) and not self.replace
            if carry_on and not self.resume:
                raise TargetError(
                    f"{self.describe()} has an interrupted --resume load waiting in database {self.waiting}",
                    "add --resume (same options) to carry it on, or --replace to start again",
                )
            if not carry_on:
                self.target.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote(self.target, self.waiting)}")
                self._check_target(self.target)
            self._make_scratch(self.target)
            self.target.commit()  # the named locks stay; no snapshot or table lock is kept on the target
        except BaseException:
            self.abort()
            raise
        super().begin()
        # FKs are checked once after the load; with unique_checks off too, InnoDB loads the empty tables in bulk
        self.conn.exec_driver_sql("SET foreign_key_checks = 0, unique_checks = 0")

    def _connect_url(self) -> URL:
        return self.url.set(database=self.scratch)

    def _lock_in_place(self, conn: Connection) -> None:
        self._lock_target(conn)
        self._note_data_directory(conn)

    def _defer_in_place(self, conn: Connection) -> None:
        # InnoDB looks each key of each row up in its parent, and locks it there, as the row goes in: most of
        # an extension's own work after the index upkeep (figures: bench/README.md). With foreign_key_checks
        # off for this session the sink checks the keys of what it writes itself (erpgen.sinks.keys); the
        # transaction holds the rows it adds meanwhile.
        conn.exec_driver_sql("SET SESSION foreign_key_checks = 0")
        self._held = {
            parent: _keys_of(conn, _BY_NAME[parent].primary_key.columns[0]) for parent in sorted(HELD_PARENTS)
        }
        self._written, self._probes = OwnKeys(), []

    def _restore_in_place(self, conn: Connection) -> None:
        """The keys written that the transaction did not write itself, looked up once every row is in."""
        assert self._probes is not None
        for keys in self._probes:
            for probe in keys.probes():
                self.run_probe(conn, probe)
        conn.exec_driver_sql("SET SESSION foreign_key_checks = 1")

    def written_keys(self, table: str) -> WrittenKeys:
        """The checker of the keys of what an extension writes to `table` (after begin())."""
        assert self._held is not None and self._written is not None
        return WrittenKeys.of(table, self._held, self._written)

    @staticmethod
    def run_probe(conn: Connection, probe: Probe) -> None:
        """Look `probe`'s values up in its parent, a thousand a query; raise if one is not there."""
        key, parent = quote(conn, probe.parent.name), quote(conn, probe.parent.table.name)
        values = [v.decode() if isinstance(v, bytes) else v for v in probe.values.tolist()]
        found = []
        for lo in range(0, len(values), 1000):
            part = values[lo : lo + 1000]
            found += (
                conn.exec_driver_sql(
                    f"SELECT {key} FROM {parent} WHERE {key} IN ({', '.join(['%s'] * len(part))})",
                    tuple(part),
                )
                .scalars()
                .all()
            )
        probe.found(found)

    def _note_data_directory(self, conn: Connection) -> None:
        # read now: once the server's disk is full, a query may be one more thing it cannot do
        self.data_directory = conn.exec_driver_sql("SELECT @@datadir").scalar()

    def _prepare(self, conn: Connection) -> None:
        """Nothing to make room for in a new scratch database."""

    def _session(self, conn: Connection) -> None:
        # Locks others hold (the swap into the target renames its tables) are waited for --lock-wait-timeout;
        # a limit on statements set for the account would cut the bulk load (MariaDB's max_statement_time)
        wait = max(1, math.ceil(self.lock_wait))
        conn.exec_driver_sql(
            "SET SESSION lock_wait_timeout = %s, innodb_lock_wait_timeout = %s", (wait, wait)
        )
        if conn.dialect.is_mariadb:
            conn.exec_driver_sql("SET SESSION max_statement_time = 0")

    def _lock_target(self, conn: Connection) -> None:
        if not conn.exec_driver_sql("SELECT GET_LOCK(%s, 0)", (load_lock(self.url.database),)).scalar():
            raise TargetError(
                f"another erpgen run is loading into {self.describe()}",
                "wait for it to finish, then run again",
            )
        if not conn.exec_driver_sql("SELECT @@GLOBAL.local_infile").scalar():
            raise TargetError(
                f"{self.describe()} refuses LOAD DATA LOCAL INFILE, erpgen's bulk path",
                "turn it on: SET GLOBAL local_infile = 1 (MySQL 8 has it off by default)",
            )

    def _make_scratch(self, conn: Connection) -> None:
        """Drop the scratch databases of killed runs; make this run's, with the target's charset."""
        scratch = conn.exec_driver_sql(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s ESCAPE '!'",
            (like_prefix(SCRATCH_PREFIX),),
        ).scalars()
        for name in scratch.all():
            m = SCRATCH.match(name)
            if m and conn.exec_driver_sql("SELECT IS_FREE_LOCK(%s)", (m.group(1),)).scalar():
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote(conn, name)}")
        charset, collation = conn.exec_driver_sql(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
            "WHERE SCHEMA_NAME = DATABASE()"
        ).one()
        conn.exec_driver_sql("SELECT GET_LOCK(%s, 0)", (self.tag,))
        self.owned = [self.scratch, self.old]
        try:
            for name in (self.scratch, self.old):
                conn.exec_driver_sql(
                    f"CREATE DATABASE IF NOT EXISTS {quote(conn, name)} "
                    f"CHARACTER SET {quote(conn, charset)} COLLATE {quote(conn, collation)}"
                )
        except DBAPIError as exc:
            if is_disk_full(exc):
                raise
            raise TargetError(
                f"cannot create the scratch database {name} on {self.describe()}: "
                f"{describe_db_error(exc, self.url)}",
                f"grant the user CREATE and DROP on `{SCRATCH_PREFIX}%`.* (erpgen builds there, then "
                "moves the tables in)",
            ) from None

    def _waiting_run(self, conn: Connection) -> bool:
        """Whether this target's resume database holds a committed part of an interrupted --resume load."""
        if not conn.exec_driver_sql(
            "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 'erpgen_runs'",
            (self.waiting,),
        ).first():
            return False
        runs = qualified(conn, self.waiting, "erpgen_runs")
        return conn.exec_driver_sql(f"SELECT count(*) FROM {runs} WHERE status = 'LOADING'").scalar() > 0

    def _defer_constraints(self, conn: Connection) -> None:
        insp = inspect(conn)
        for table in BULK:
            for fk in sorted(table.foreign_key_constraints, key=lambda c: str(c.name)):
                conn.execute(DropConstraint(fk))
            # the indexes InnoDB made for the foreign keys, and the schema's own
            for ix in insp.get_indexes(table.name):
                conn.exec_driver_sql(f"ALTER TABLE {table.name} DROP INDEX {quote(conn, ix['name'])}")

    def _restore_constraints(self, conn: Connection) -> None:
        # One ALTER per table builds its indexes and foreign keys in a single pass over the rows. With
        # foreign_key_checks off the keys are added in place (no table copy) unchecked: the queries
        # below check them, on the indexes just built.
        for table in BULK:
            adds = [
                f"ADD INDEX {ix.name} ({', '.join(c.name for c in ix.columns)})"
                for ix in bulk_indexes()
                if ix.table is table
            ]
            adds += [
                f"ADD CONSTRAINT {fk.name} FOREIGN KEY ({col}) REFERENCES {parent} ({pcol})"
                for fk, col, parent, pcol in _foreign_keys(table)
            ]
            conn.exec_driver_sql(f"ALTER TABLE {table.name} {', '.join(adds)}")
        for table in TABLES:
            for _, col, parent, pcol in _foreign_keys(table):
                orphan = conn.exec_driver_sql(
                    f"SELECT c.{col} FROM (SELECT DISTINCT {col} FROM {table.name}) c "
                    f"LEFT JOIN {parent} p ON c.{col} = p.{pcol} WHERE c.{col} IS NOT NULL AND p.{pcol} IS NULL"
                ).first()
                if orphan:
                    raise RuntimeError(
                        f"erpgen produced rows without a parent: {table.name}.{col} = {orphan[0]}"
                    )

    def _publish(self, conn: Connection) -> None:
        """Swap the complete dataset into the target in one atomic statement, then drop what it replaced."""
        target, on = self.url.database, self.target  # the target's own connection, which holds its lock
        present = set(
            on.exec_driver_sql(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (target,)
            ).scalars()
        )
        ours = [t.name for t in TABLES] + ["alembic_version"]
        moves = [f"{qualified(on, target, t)} TO {qualified(on, self.old, t)}" for t in ours if t in present]
        moves += [f"{qualified(on, self.scratch, t)} TO {qualified(on, target, t)}" for t in ours]
        on.exec_driver_sql(f"RENAME TABLE {', '.join(moves)}")
        self._drop_scratch(on)

    def _drop_scratch(self, conn: Connection, keep: str | None = None) -> None:
        conn.exec_driver_sql("SET foreign_key_checks = 0")  # the old tables refer to each other
        for name in self.owned:
            if name != keep:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote(conn, name)}")

    def _discard(self) -> None:
        """Drop the scratch databases, but a --resume load's committed part (a later --resume needs it)."""
        if self.owned:
            with contextlib.suppress(Exception), connect(self.url) as conn:
                keep = self.waiting if self.resume and self._waiting_run(conn) else None
                self._drop_scratch(conn, keep)

    @contextlib.contextmanager
    def _writer(self, conn: Connection, table: str) -> Iterator[_LoadData | _Checked]:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        with tempfile.TemporaryDirectory(prefix="erpgen-") as directory, ThreadPoolExecutor(1) as thread:
            writer = _LoadData(raw, table, directory, thread, self._dates)
            checked = None
            if self._written is not None:  # an extension's, past InnoDB's key checks
                assert self._held is not None and self._probes is not None
                keys = self.written_keys(table)
                self._probes.append(keys)
                checked = _Checked(writer, keys, self._held.get(table), table)
            try:
                yield writer if checked is None else checked
            except BaseException:
                with contextlib.suppress(Exception):
                    writer.wait()  # the connection is not to be closed under the thread
                raise
            writer.wait()
            if checked is not None and checked.collecting is not None and self._held is not None:
                self._held[table] = checked.collecting.joined(self._held[table])


class _Checked:
    """An extension's writer: the keys of each batch checked (erpgen.sinks.keys) before it is loaded, and
    the keys written to a held parent (the new customers) kept to join its keys."""

    def __init__(self, writer: _LoadData, keys: WrittenKeys, held: np.ndarray | None, table: str):
        self.keys = keys
        key = _BY_NAME[table].primary_key.columns[0].name
        self.collecting = None if held is None else Collecting(writer, key)
        self.writer = writer if self.collecting is None else self.collecting

    def write(self, batch: Batch) -> None:
        self.keys.check(batch)
        self.writer.write(batch)


def _keys_of(conn: Connection, key) -> np.ndarray:
    """The values of a small parent's key column, sorted."""
    column, table = quote(conn, key.name), quote(conn, key.table.name)
    values = conn.exec_driver_sql(f"SELECT {column} FROM {table}").scalars().all()
    return np.sort(np.array(values, dtype=np.int64 if isinstance(key.type, Integer) else str))


def resume_database(target: str) -> str:
    name = f"{RESUME_PREFIX}{target}"
    return name if len(name) <= 64 else f"{RESUME_PREFIX}{hashlib.sha1(target.encode()).hexdigest()[:16]}"


def _foreign_keys(table):
    """(constraint, column, parent table, parent column) of each of the table's single-column FKs."""
    for fk in sorted(table.foreign_key_constraints, key=lambda c: str(c.name)):
        ((col, ref),) = [(e.parent.name, e.column) for e in fk.elements]
        yield fk, col, ref.table.name, ref.name


def _raw_dialect():
    """The dialect that quotes for the raw PyMySQL connection (given parameters: it reads %% as %)."""
    from sqlalchemy.dialects.mysql.pymysql import MySQLDialect_pymysql

    return MySQLDialect_pymysql()


class _LoadData:
    """One LOAD DATA LOCAL INFILE per batch, from a temporary tab-separated file, run in a thread of its
    own: the server loads one batch while this process makes the next (two files take turns)."""

    def __init__(self, raw, table: str, directory: str, thread: ThreadPoolExecutor, dates: IsoDates):
        self.raw, self.table, self.thread, self.dates = raw, table, thread, dates
        self.paths = [os.path.join(directory, f"{table}.{i}.tsv") for i in (0, 1)]
        self.batches = 0
        self.pending: Future | None = None
        self.columns = ", ".join(c.name for c in _BY_NAME[table].columns)
        self.into = quote(_raw_dialect(), table)

    def write(self, batch: Batch) -> None:
        data = (
            fact_lines(batch, self.dates, FACT_COLUMNS, b"\t")
            if self.table == FACT.name
            else text_lines(self.table, batch, self.dates)
        )
        if not data:
            return
        path = self.paths[self.batches % 2]
        self.batches += 1
        with open(path, "wb") as f:
            f.write(data)
        self.wait()
        self.pending = self.thread.submit(self._load, path, data.count(b"\n"))

    def wait(self) -> None:
        """Until the batch in flight is loaded; its error, if it failed."""
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()

    def _load(self, path: str, rows: int) -> None:
        import pymysql

        try:
            with self.raw.cursor() as cur:
                loaded = cur.execute(
                    f"LOAD DATA LOCAL INFILE %s INTO TABLE {self.into} CHARACTER SET utf8mb4 "
                    f"FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({self.columns})",
                    (path,),
                )
                # LOCAL turns bad values and duplicate keys into warnings and skipped rows: make them errors
                if cur.warning_count or loaded != rows:
                    cur.execute("SHOW WARNINGS LIMIT 3")
                    raise TargetError(
                        f"LOAD DATA into {self.table} lost rows: {cur.fetchall()}", "nothing was committed"
                    )
        except AttributeError:
            # PyMySQL drops its socket when the server closes the connection; sending the file's next
            # packet then fails on the missing socket rather than with a driver error
            if getattr(self.raw, "_sock", True) is not None:
                raise
            raise pymysql.err.OperationalError(2013, "Lost connection to server during query") from None
