"""Database URLs: the default target, driver selection and password masking."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from erpgen.errors import TargetError

DEFAULT_URL = "sqlite:///erpgen.db"
SUPPORTED = ("sqlite", "duckdb", "postgresql", "mysql", "mariadb")
# Targets that are one local file (a scratch file renamed into place; `validate` and friends need it to exist)
FILE_BACKENDS = ("sqlite", "duckdb")


def parse(url: str) -> URL:
    """Parse a user-supplied URL and pin the driver erpgen uses (psycopg 3 for PostgreSQL, PyMySQL for
    MySQL and MariaDB)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise TargetError(
            f"cannot parse database URL {mask_text(url)!r}",
            "use sqlite:///path/to/file.db, duckdb:///path/to/file.duckdb, postgresql://user@host:5432/dbname "
            "or mysql://user@host:3306/dbname",
        ) from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED:
        raise TargetError(
            f"unsupported database {backend!r} in {mask(parsed)}",
            "erpgen loads into sqlite:/// and duckdb:/// files and postgresql://, mysql:// or mariadb:// servers",
        )
    if backend in ("mysql", "mariadb"):
        # PyMySQL: pure Python, so no C compiler or client library; LOAD DATA does the bulk work anyway
        parsed = parsed.set(drivername=f"{backend}+pymysql")
        if importlib.util.find_spec("pymysql") is None:
            raise TargetError(
                f"{backend}:// needs the PyMySQL driver, which is not installed",
                "pip install 'erpgen[mysql]' (or pip install PyMySQL)",
            )
        if not parsed.database:
            raise TargetError(
                f"no database name in {mask(parsed)}", f"add it: {backend}://user@host:3306/dbname"
            )
    if backend == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
        if not parsed.database:
            raise TargetError(
                f"no database name in {mask(parsed)}", "add it: postgresql://user@host:5432/dbname"
            )
    if backend == "duckdb":
        parsed = parsed.set(drivername="duckdb")
        if importlib.util.find_spec("duckdb") is None or importlib.util.find_spec("duckdb_engine") is None:
            raise TargetError(
                "duckdb:// needs the duckdb and duckdb-engine packages, which are not installed",
                "pip install 'erpgen[duckdb]'",
            )
        if not parsed.database or parsed.database == ":memory:":
            raise TargetError(
                "an in-memory DuckDB database would vanish when erpgen exits",
                "give a file: duckdb:///erpgen.duckdb",
            )
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite")
        if not parsed.database or parsed.database == ":memory:":
            raise TargetError(
                "an in-memory SQLite database would vanish when erpgen exits",
                "give a file: sqlite:///erpgen.db",
            )
    return parsed


def mask(url: URL | str) -> str:
    """The URL as text with its password replaced by ***."""
    if isinstance(url, str):
        try:
            url = make_url(url)
        except ArgumentError:
            return mask_text(url)
    text = url.render_as_string(hide_password=True)
    return re.sub(r"^(postgresql|mysql|mariadb)\+\w+://", r"\1://", text)


def mask_text(text: str, password: str | None = None) -> str:
    """Remove a password from free text (error messages from drivers, unparseable URLs)."""
    if password:
        text = text.replace(password, "***")
    # user:password@ inside anything URL-shaped
    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)


def sqlite_path(url: URL) -> Path:
    """The file of a sqlite:/// or duckdb:/// URL."""
    return Path(url.database or "").expanduser()


def is_file(url: URL) -> bool:
    """Whether the target is one local file (SQLite, DuckDB) rather than a server."""
    return url.get_backend_name() in FILE_BACKENDS


def missing_file(url: URL) -> bool:
    """A file target that does not exist (reading it would create an empty one)."""
    return is_file(url) and not sqlite_path(url).exists()
