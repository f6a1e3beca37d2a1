"""Names in SQL text. A name erpgen did not choose itself (the target database, the scratch and resume
databases named after it, a table or index name read back from the server) reaches SQL text only as
the dialect quotes it, through quote() or qualified(); a value, only as a parameter.

SQLAlchemy's identifier preparer quotes for the connection's dialect: backticks on MySQL and MariaDB,
double quotes elsewhere, a quote inside doubled. For the drivers that take %s parameters (PyMySQL,
psycopg) it doubles a % too, which the driver reads back as one % when it is given parameters, as
exec_driver_sql always gives it: such SQL goes through exec_driver_sql, or a raw cursor called with
parameters. On psycopg's own cursors (COPY) psycopg.sql.Identifier quotes instead.
tests/test_identifiers.py fails on SQL text formatted from a name that took neither way.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection, Dialect


def quote(conn: Connection | Dialect, name: str) -> str:
    """`name` as an identifier of the connection's dialect, quoted whatever it holds."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ValueError(f"not a usable SQL name: {name!r}")
    dialect = conn.dialect if isinstance(conn, Connection) else conn
    return dialect.identifier_preparer.quote_identifier(name)


def qualified(conn: Connection | Dialect, *names: str) -> str:
    """A qualified name (database.table), each part quoted."""
    return ".".join(quote(conn, name) for name in names)


LIKE_ESCAPE = "!"  # LIKE ... ESCAPE '!': the same in every SQL mode (a backslash is not, on MySQL)


def like_prefix(prefix: str) -> str:
    """A LIKE pattern, for a parameter of `LIKE %s ESCAPE '!'`, matching the names that start with `prefix`."""
    for special in (LIKE_ESCAPE, "%", "_"):
        prefix = prefix.replace(special, LIKE_ESCAPE + special)
    return prefix + "%"
