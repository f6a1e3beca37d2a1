"""Bad input: one line naming the problem, exit code 2, no traceback, the password masked, nothing written."""

from __future__ import annotations

import os

import pytest

from .conftest import erpgen_process
from .helpers import PASSWORD, assert_no_tables, assert_one_clean_line, connect, digests

BAD_PARAMS = {
    "unparseable date": (["--date-from", "2015-13-01"], "--date-from '2015-13-01' is not a date"),
    "word for a date": (["--date-till", "yesterday"], "--date-till 'yesterday' is not a date"),
    "inverted range": (["--date-from", "2020-01-01", "--date-till", "2019-12-31"], "is after --date-till"),
    "zero customers": (["--n-customers", "0"], "--n-customers must be at least 1"),
    "negative customers": (["--n-customers", "-5"], "--n-customers must be at least 1"),
    "absurd customers": (["--n-customers", "1000000000"], "above the limit of 99,999,999"),
    "not a number": (["--n-customers", "lots"], "'lots' is not a valid integer"),
    "probability above 1": (["--p-email", "1.5"], "--p-email must be a probability between 0 and 1"),
    "negative probability": (["--p-sms-opt-in", "-0.1"], "--p-sms-opt-in must be a probability"),
    "too many devices": (["--n-devices", "99"], "more than the catalog universe holds (15)"),
    "negative refills": (["--n-refills", "-1"], "--n-refills must be 0 or more"),
    "unknown locale": (["--faker-locale", "xx_YY"], "is not a Faker locale"),
    "unknown option": (["--n-customerz", "5"], "No such option"),
    "range too long": (["--date-from", "1900-01-01", "--date-till", "2025-12-31"], "the limit is 50"),
    "zero workers": (["--workers", "0"], "--workers must be between 1 and 64"),
    "nothing to write": (["--no-database"], "--no-database leaves nothing to write"),
    "zero block size": (["--block-size", "0"], "--block-size and --batch-size must be at least 1"),
}


@pytest.mark.parametrize("case", sorted(BAD_PARAMS))
def test_bad_parameters_write_nothing(erpgen, tmp_path, case):
    args, message = BAD_PARAMS[case]
    target = tmp_path / "never.db"
    r = erpgen("generate", "--database-url", f"sqlite:///{target}", *args)
    assert_one_clean_line(r, message)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case", sorted(BAD_PARAMS)[:3])
def test_bad_parameters_on_postgres_write_nothing(erpgen, pg_url, case):
    args, message = BAD_PARAMS[case]
    assert_one_clean_line(erpgen("generate", "--database-url", pg_url, *args), message)
    assert_no_tables(pg_url)


def test_unreachable_server(erpgen):
    r = erpgen("generate", "--database-url", f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/erpgen")
    assert_one_clean_line(r, "cannot connect to postgresql://postgres:***@127.0.0.1:1/erpgen", "refused")


def test_unknown_user_and_password_masked(erpgen, pg_server):
    from sqlalchemy.engine import make_url

    url = make_url(pg_server).set(username="no_such_erpgen_user", password=PASSWORD)
    r = erpgen("generate", "--database-url", url.render_as_string(hide_password=False))
    assert_one_clean_line(r, "cannot connect to postgresql://no_such_erpgen_user:***@", "no_such_erpgen_user")


def test_missing_database(erpgen, pg_server):
    from sqlalchemy.engine import make_url

    url = make_url(pg_server).set(database="erpgen_no_such_db", password=PASSWORD)
    r = erpgen("generate", "--database-url", url.render_as_string(hide_password=False))
    assert_one_clean_line(r, "erpgen_no_such_db", "does not exist")


@pytest.mark.parametrize(
    "url, message",
    [
        ("oracle://scott@localhost/x", "unsupported database 'oracle'"),
        ("not a url at all", "cannot parse database URL"),
        (f"postgresql://u:{PASSWORD}@127.0.0.1:5432", "no database name"),
        ("sqlite://", "in-memory SQLite"),
    ],
)
def test_bad_urls(erpgen, url, message):
    assert_one_clean_line(erpgen("generate", "--database-url", url), message)


def test_sqlite_in_missing_directory(erpgen, tmp_path):
    r = erpgen("generate", "--database-url", f"sqlite:///{tmp_path}/nope/x.db")
    assert_one_clean_line(r, "does not exist")
    assert not (tmp_path / "nope").exists()


def test_real_process_prints_one_line_and_exits_2(tmp_path):
    r = erpgen_process("generate", "--n-customers", "0", cwd=tmp_path)
    assert_one_clean_line(r, "--n-customers must be at least 1")
    assert not (tmp_path / "erpgen.db").exists()


def test_debug_shows_the_traceback(erpgen, tmp_path):
    r = erpgen("--debug", "generate", "--database-url", f"sqlite:///{tmp_path}/x.db", "--n-customers", "0")
    assert r.code == 2
    assert "Traceback" in r.err and "ConfigError" in r.err


def test_a_user_without_create_permission(erpgen, pg_url):
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    role = "erpgen_test_no_create"
    admin = create_engine(make_url(pg_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
    try:
        url = make_url(pg_url).set(username=role, password=PASSWORD).render_as_string(hide_password=False)
        r = erpgen("generate", "--database-url", url, "--n-customers", "10")
        assert_one_clean_line(r, "cannot prepare erpgen's tables", "permission denied", "may create tables")
        assert "LINE" not in r.err
        assert_no_tables(pg_url)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--database-url", "sqlite:////proc/erpgen.db"], "cannot connect to sqlite:////proc/erpgen.db"),
        (["--csv-dir", "/proc/erpgen-csv"], "cannot write CSV files in /proc/erpgen-csv"),
    ],
)
def test_unwritable_places(erpgen, tmp_path, args, message):
    """/proc refuses new files even to root (tests run as root here, so chmod cannot make a read-only dir)."""
    target = tmp_path / "x.db"
    full = args if args[0] == "--database-url" else ["--database-url", f"sqlite:///{target}", *args]
    assert_one_clean_line(erpgen("generate", "--n-customers", "10", *full), message)
    assert not target.exists()


def test_unwritable_temporary_directory(erpgen, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", "/proc/erpgen-tmp")  # where finished blocks would wait
    target = tmp_path / "x.db"
    r = erpgen("generate", "--n-customers", "10", "--database-url", f"sqlite:///{target}")
    assert_one_clean_line(r, "cannot make scratch files in /proc/erpgen-tmp", "set TMPDIR")
    assert not target.exists()


INJECTIONS = ['x"; DROP TABLE customers; --', "'; DROP TABLE customers; --", "customers; DELETE FROM stores"]


@pytest.mark.parametrize("attack", INJECTIONS)
def test_injection_strings_are_data_never_sql(erpgen, pg_url, attack):
    """A database with erpgen data survives hostile text in every place a user can type it."""
    from sqlalchemy.engine import make_url

    assert erpgen("generate", "--database-url", pg_url, "--n-customers", "30", "-q").code == 0
    before = digests(pg_url)
    hostile_db = make_url(pg_url).set(database=attack).render_as_string(hide_password=False)
    assert erpgen("generate", "--database-url", hostile_db, "-q").code == 2
    assert erpgen("generate", "--database-url", pg_url, "--scenario", attack, "-q").code == 2
    assert erpgen("validate", "--database-url", pg_url, "--scenario", attack).code == 2
    assert digests(pg_url) == before


@pytest.fixture(scope="module")
def password_server():
    """A throwaway PostgreSQL cluster that checks passwords (the shared test server trusts every login).

    Started with the machine's own initdb and pg_ctl as the postgres user, on a free port; skipped where
    those are not available (they are on the CI machines)."""
    import glob
    import shutil
    import socket
    import subprocess

    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    runuser = shutil.which("runuser")
    if not bins or not runuser or os.geteuid() != 0:
        pytest.skip("needs PostgreSQL's server binaries and root to run them as postgres")
    import tempfile
    from pathlib import Path

    bin_dir = bins[-1]
    base = Path(tempfile.mkdtemp(prefix="erpgen-pwpg-"))  # pytest's own temp root is private to root
    os.chmod(base, 0o777)
    data, pwfile = base / "data", base / "pw"
    pwfile.write_text("right-password\n")
    os.chmod(pwfile, 0o644)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def as_postgres(*cmd: str) -> None:
        subprocess.run([runuser, "-u", "postgres", "--", *cmd], check=True, capture_output=True, timeout=120)

    as_postgres(
        f"{bin_dir}/initdb", "-D", str(data), "-U", "postgres", "--auth=scram-sha-256", f"--pwfile={pwfile}"
    )
    as_postgres(f"{bin_dir}/pg_ctl", "-D", str(data), "-w", "-l", str(base / "log"),
                "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1", "start")  # fmt: skip
    try:
        yield port
    finally:
        subprocess.run([runuser, "-u", "postgres", "--", f"{bin_dir}/pg_ctl", "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


def test_wrong_password_is_one_line_and_masked(erpgen, password_server):
    r = erpgen(
        "generate", "--database-url", f"postgresql://postgres:{PASSWORD}@127.0.0.1:{password_server}/postgres"
    )
    assert_one_clean_line(r, "cannot connect to postgresql://postgres:***@", "password authentication failed")
    ok = erpgen(
        "db",
        "upgrade",
        "--database-url",
        f"postgresql://postgres:right-password@127.0.0.1:{password_server}/postgres",
    )
    assert ok.code == 0 and "right-password" not in ok.out + ok.err


def test_the_password_never_reaches_output_or_the_registry(erpgen, pg_url):
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    with_password = make_url(pg_url).set(password=PASSWORD).render_as_string(hide_password=False)
    r = erpgen("generate", "--database-url", with_password, "--n-customers", "20")
    assert r.code == 0 and PASSWORD not in r.out + r.err and "***" in r.out
    with connect(pg_url) as conn:
        rows = conn.execute(text("SELECT * FROM erpgen_runs")).all()
    assert rows and PASSWORD not in repr(rows)
