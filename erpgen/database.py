"""Engines and connections: driver settings, SQLite's transactional DDL, and errors turned into one line."""

from __future__ import annotations

import contextlib
import errno
import re
import sqlite3
from collections.abc import Iterator

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from erpgen.errors import TargetError
from erpgen.schema import TABLES
from erpgen.urls import is_file, mask, mask_text, sqlite_path

CONNECT_TIMEOUT_S = 10
FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
POSTGRES_DISK_FULL = "53100"  # SQLSTATE disk_full
MYSQL_DISK_FULL = (1021, 1114)  # ER_DISK_FULL, ER_RECORD_FILE_FULL ("The table is full")
# MariaDB/MySQL report a file they could not write under many codes of their own (3, 1005, 1006, 1026,
# 1030: Error writing file, Can't create table, Got error ... from storage engine); the OS error in the
# text is what says the disk is full: ENOSPC, EDQUOT, or the handler's "No more room in record file"
MYSQL_FULL_TEXT = re.compile(r"\b(?:Errcode|errno): (?:28|122)\b|\bGot error (?:28|122|135)\b")


def make_engine(url: URL, *, sqlite_fast: bool = False, sqlite_foreign_keys: bool = True) -> Engine:
    """An engine for `url`. On SQLite, DDL joins the surrounding transaction (so a failed load rolls
    back the tables too), `sqlite_fast` turns the journal off for a private scratch file, and
    `sqlite_foreign_keys` (on unless a bulk loader checks the keys itself afterwards) enforces FKs."""
    # No pool: a connection is closed when returned. Nor a reset (a rollback) before the close: closing makes
    # the server, or SQLite, roll back whatever was not committed, and a rollback on a connection the server
    # has dropped would fail and log that with a traceback (SQLAlchemy's pool logs errors of its own).
    pool = {"poolclass": _null_pool(), "pool_reset_on_return": None}
    if url.get_backend_name() == "postgresql":
        # As pg_dump does: erpgen's statements (a bulk load, a digest over a whole table) are long and its
        # transactions wait on its own work, so timeouts set for the role would cut them
        options = " ".join(
            [
                *filter(None, [url.query.get("options")]),
                "-c statement_timeout=0 -c idle_in_transaction_session_timeout=0",
            ]
        )  # after the URL's own options (?options=...), which connect_args would otherwise replace
        return create_engine(
            url, connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "options": options}, **pool
        )
    if url.get_backend_name() in ("mysql", "mariadb"):
        # local_infile: LOAD DATA LOCAL INFILE is the bulk path (erpgen.sinks.mysql)
        return create_engine(
            url,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "local_infile": True},
            **pool,
        )
    if url.get_backend_name() == "duckdb":
        _quiet_duckdb_engine()
        return create_engine(url, **pool)
    engine = create_engine(url, **pool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below own the transaction, DDL included
        cur = dbapi_conn.cursor()
        if sqlite_fast:
            cur.execute("PRAGMA journal_mode=OFF")
            cur.execute("PRAGMA synchronous=OFF")
        cur.execute(f"PRAGMA foreign_keys={'ON' if sqlite_foreign_keys else 'OFF'}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        # IMMEDIATE takes the write lock now: a second writer is told at once, not halfway through
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _quiet_duckdb_engine() -> None:
    """duckdb-engine warns, on every reflection, of index reflection it does not do; erpgen reflects table
    names only, so the warning would only reach the user's terminal."""
    import warnings

    with contextlib.suppress(ImportError):
        from duckdb_engine import DuckDBEngineWarning

        warnings.filterwarnings("ignore", category=DuckDBEngineWarning)


def _null_pool():
    from sqlalchemy.pool import NullPool

    return NullPool


def describe_db_error(exc: BaseException, url: URL | None = None) -> str:
    """One line for a driver or file-system error, without the password."""
    orig = getattr(exc, "orig", None) or exc
    if isinstance(orig, OSError) and orig.strerror:
        text = f"{orig.strerror}: {orig.filename}" if orig.filename else orig.strerror
    elif len(orig.args) == 2 and isinstance(orig.args[0], int):  # PyMySQL: (error code, message)
        text = str(orig.args[1])
    else:
        text = str(orig).split("\nLINE ")[0]  # drop the server's echo of the statement
    text = " ".join(text.split()).replace("connection failed: ", "") or type(orig).__name__
    password = url.password if url is not None and isinstance(url.password, str) else None
    return mask_text(text, password)


def is_driver_error(exc: BaseException) -> bool:
    """Whether `exc` comes from a database driver or the file system (what a target can fail with)."""
    import psycopg

    errors: tuple[type, ...] = (DBAPIError, psycopg.Error, sqlite3.Error, OSError)
    with contextlib.suppress(ImportError):
        import pymysql

        errors += (pymysql.Error,)
    with contextlib.suppress(ImportError):
        import duckdb

        errors += (duckdb.Error,)
    return isinstance(exc, errors)


@contextlib.contextmanager
def connect(url: URL, *, shown_as: URL | None = None, **engine_kw) -> Iterator[Connection]:
    """Open a connection or raise TargetError naming the target (password masked) and the cause.

    `shown_as`: the URL to name in errors when `url` is a scratch file standing in for it."""
    shown = shown_as or url
    if is_file(url):
        path = sqlite_path(shown)
        if not path.parent.exists():
            raise TargetError(
                f"cannot create {path}: directory {path.parent} does not exist",
                "create it or choose another path",
            )
    engine = make_engine(url, **engine_kw)
    try:
        try:
            conn = engine.connect()
        except (OperationalError, ProgrammingError, DBAPIError) as exc:
            message = describe_db_error(exc, url)
            if "Could not set lock on file" in message:  # DuckDB: one process at a time may write a file
                hint = "another process has the file open: run again when it has closed it"
            elif is_file(url):
                hint = "check that the directory exists and is writable"
            else:
                hint = "check the host, port, user, password and database name"
            raise TargetError(f"cannot connect to {mask(shown)}: {message}", hint) from None
        with conn:
            yield conn
    finally:
        engine.dispose()


def erpgen_tables_present(conn: Connection) -> list[str]:
    names = set(inspect(conn).get_table_names())
    return [t.name for t in TABLES if t.name in names]


def has_alembic_version(conn: Connection) -> bool:
    return "alembic_version" in inspect(conn).get_table_names()


def lock_timed_out(message: str) -> bool:
    """Whether a server's error says a lock wait ran out (PostgreSQL's lock_timeout, MariaDB/MySQL's
    lock_wait_timeout or innodb_lock_wait_timeout)."""
    return "lock timeout" in message or "Lock wait timeout" in message


def is_disk_full(exc: BaseException) -> bool:
    """Whether a driver or file-system error says that a disk (or a quota) is full."""
    orig = getattr(exc, "orig", None) or exc
    if isinstance(orig, OSError):
        return orig.errno in FULL_ERRNOS
    if isinstance(orig, sqlite3.Error):
        return getattr(orig, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    if getattr(orig, "sqlstate", None) == POSTGRES_DISK_FULL:
        return True
    args = getattr(orig, "args", ())
    text = str(args[1]) if len(args) == 2 else ""
    return bool(args) and (args[0] in MYSQL_DISK_FULL or bool(MYSQL_FULL_TEXT.search(text)))
