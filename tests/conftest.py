"""Real databases for the tests: a temp SQLite file per test, and a fresh PostgreSQL database per test.

PostgreSQL is found in this order: ERPGEN_TEST_DATABASE_URL (a server URL on which the tests may create
and drop databases), then testcontainers where a Docker engine answers, then a local server at
127.0.0.1:5432. With ERPGEN_REQUIRE_POSTGRES=1 (set by .ci/run) a missing server fails the run instead
of skipping its tests.

MariaDB/MySQL likewise (mysql_url): ERPGEN_TEST_MYSQL_URL, else 127.0.0.1:3306; ERPGEN_REQUIRE_MARIADB=1.
"""

from __future__ import annotations

import compileall
import contextlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from erpgen.cli import main

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_MYSQL = "mysql://root@127.0.0.1:3306/mysql"


def _reachable(url: str) -> bool:
    try:
        engine = create_engine(
            make_url(url).set(drivername="postgresql+psycopg"), connect_args={"connect_timeout": 3}
        )
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def _docker_postgres(stack: contextlib.ExitStack) -> str | None:
    try:
        import docker  # installed with testcontainers

        try:
            from testcontainers.community.postgres import PostgresContainer
        except ImportError:
            from testcontainers.postgres import PostgresContainer

        docker.from_env(timeout=3).ping()
    except Exception:
        return None
    container = stack.enter_context(PostgresContainer("postgres:16-alpine", driver=None))
    return container.get_connection_url()


@pytest.fixture(scope="session", autouse=True)
def _erpgen_bytecode():
    """erpgen's modules compiled once for the erpgen processes the tests start (they import the checkout's
    erpgen): where the environment says not to write bytecode (PYTHONDONTWRITEBYTECODE, as on the CI
    machines), each of them would otherwise compile every module again."""
    compileall.compile_dir(REPO / "erpgen", quiet=1)


@pytest.fixture(scope="session")
def pg_server():
    """URL of a PostgreSQL server on which tests may create databases."""
    with contextlib.ExitStack() as stack:
        url = os.environ.get("ERPGEN_TEST_DATABASE_URL") or _docker_postgres(stack)
        if not url and _reachable(LOCAL_PG):
            url = LOCAL_PG
        if not url or not _reachable(url):
            if os.environ.get("ERPGEN_REQUIRE_POSTGRES") == "1":
                pytest.fail(f"PostgreSQL is required but not reachable ({url or 'no server found'})")
            pytest.skip("no PostgreSQL server found (set ERPGEN_TEST_DATABASE_URL)")
        yield url


@contextlib.contextmanager
def fresh_database(server: str, admin, quote: str, drop_options: str = ""):
    """A new, empty database on the server (reached through the `admin` engine), dropped afterwards: its
    URL. `quote` quotes its name in the server's SQL."""
    name = f"erpgen_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {quote}{name}{quote}"))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {quote}{name}{quote}{drop_options}"))
        admin.dispose()


def fresh_pg_database(server: str):
    admin = create_engine(make_url(server).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    return fresh_database(server, admin, '"', " WITH (FORCE)")


@pytest.fixture
def pg_url(pg_server):
    """A fresh, empty database for one test, dropped afterwards."""
    with fresh_pg_database(pg_server) as url:
        yield url


def _mysql_engine(url: str):
    u = make_url(url)
    return create_engine(
        u.set(drivername=f"{u.get_backend_name()}+pymysql"), connect_args={"connect_timeout": 3}
    )


@pytest.fixture(scope="session")
def mysql_server():
    """URL of a MariaDB/MySQL server on which tests may create databases: ERPGEN_TEST_MYSQL_URL, else a
    local server. Missing, its tests skip, or fail with ERPGEN_REQUIRE_MARIADB=1 (set by .ci/run)."""
    url = os.environ.get("ERPGEN_TEST_MYSQL_URL") or LOCAL_MYSQL
    try:
        engine = _mysql_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        if os.environ.get("ERPGEN_REQUIRE_MARIADB") == "1":
            pytest.fail(f"MariaDB is required but not reachable at {url}: {exc}")
        pytest.skip(f"no MariaDB/MySQL server at {url} (set ERPGEN_TEST_MYSQL_URL)")
    return url


@pytest.fixture
def mysql_url(mysql_server):
    """A fresh, empty database for one test, dropped afterwards."""
    with fresh_database(mysql_server, _mysql_engine(mysql_server), "`") as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'erpgen.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request):
    """Each test using this runs once per database."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


class Result:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"exit {self.code}\nstdout: {self.out}\nstderr: {self.err}"


@pytest.fixture
def erpgen(capsys, monkeypatch):
    """Run the CLI in-process: erpgen("generate", "--n-customers", "10") -> Result."""
    monkeypatch.delenv("DATABASE_URL", raising=False)

    def run(*args: str) -> Result:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def run_process(args: list[str], cwd: Path, env: dict | None = None, timeout: int = 600) -> Result:
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(args, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def erpgen_process(*args: str, cwd: Path, env: dict | None = None) -> Result:
    """Run `python cli.py ...` from the repository in a real process (what a user types)."""
    return run_process([sys.executable, str(REPO / "cli.py"), *map(str, args)], cwd=cwd, env=env)


@contextlib.contextmanager
def named_database(server: str, name: str):
    """A new, empty database called `name`, whatever characters it holds (quoted by the dialect), on the
    PostgreSQL or MariaDB/MySQL server at `server`; dropped afterwards: its URL."""
    u = make_url(server)
    if u.get_backend_name() == "postgresql":
        admin = create_engine(u.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
        drop_options = " WITH (FORCE)"
    else:
        admin, drop_options = _mysql_engine(server), ""
    quoted = admin.dialect.identifier_preparer.quote_identifier(name)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
    try:
        yield u.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}{drop_options}")
        admin.dispose()
