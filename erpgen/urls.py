"""Database URLs: the default target, driver selection and password masking."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from erpgen.errors import TargetError

DEFAULT_URL = "sqlite:///erpgen.db"
SUPPORTED = ("sqlite", "postgresql")


def parse(url: str) -> URL:
    """Parse a user-supplied URL and pin the driver erpgen uses (psycopg 3 for PostgreSQL)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise TargetError(
            f"cannot parse database URL {mask_text(url)!r}",
            "use sqlite:///path/to/file.db or postgresql://user@host:5432/dbname",
        ) from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED:
        raise TargetError(
            f"unsupported database {backend!r} in {mask(parsed)}",
            "erpgen loads into sqlite:/// files and postgresql:// servers",
        )
    if backend == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
        if not parsed.database:
            raise TargetError(
                f"no database name in {mask(parsed)}", "add it: postgresql://user@host:5432/dbname"
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
    return text.replace("postgresql+psycopg://", "postgresql://")


def mask_text(text: str, password: str | None = None) -> str:
    """Remove a password from free text (error messages from drivers, unparseable URLs)."""
    if password:
        text = text.replace(password, "***")
    # user:password@ inside anything URL-shaped
    import re

    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)


def sqlite_path(url: URL) -> Path:
    return Path(url.database or "").expanduser()
