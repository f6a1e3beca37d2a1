"""Alembic environment for erpgen.

Run from code (erpgen.migrate) the caller's connection arrives in config.attributes["connection"], so the
migration joins the caller's transaction. Run from the command line it uses DATABASE_URL, else
sqlalchemy.url from alembic.ini.
"""

import os

from alembic import context
from sqlalchemy import create_engine

from erpgen.schema import metadata
from erpgen.urls import parse

config = context.config


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = os.environ.get("DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    engine = create_engine(parse(url))
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("erpgen migrations run online only: give a database URL")
run_migrations_online()
