"""Loads run twice at once, interrupted or checked, where it is particular to one target. What every target
shares (kill -9 and the server closing the connection mid-load, someone else's data, --resume) is in
test_contract."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from .helpers import (
    FACTS_STARTED,
    assert_one_clean_line,
    connect,
    digests,
    end_group,
    start,
    table_names,
    wait_for,
)

BIG = ["--n-customers", "20000", "--block-size", "2000"]


def test_a_second_run_on_the_same_postgres_database_is_refused(pg_url, erpgen):
    from erpgen.sinks.postgres import ADVISORY_LOCK_KEY

    engine = create_engine(make_url(pg_url).set(drivername="postgresql+psycopg"))
    held, release = threading.Event(), threading.Event()

    def hold() -> None:  # stands in for a first run that is still loading
        with engine.connect() as conn:
            conn.execute(text(f"SELECT pg_advisory_lock({ADVISORY_LOCK_KEY})"))
            held.set()
            release.wait(30)
            conn.execute(text(f"SELECT pg_advisory_unlock({ADVISORY_LOCK_KEY})"))

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert held.wait(10)
        r = erpgen("generate", "--database-url", pg_url, "--n-customers", "50", "-q")
        assert_one_clean_line(r, "another erpgen run is loading into", "wait for it to finish")
        assert table_names(pg_url) == []
    finally:
        release.set()
        t.join()
        engine.dispose()
    assert erpgen("generate", "--database-url", pg_url, "--n-customers", "50", "-q").code == 0


def test_a_second_writer_on_the_same_sqlite_file_is_told_at_once(tmp_path, erpgen):
    url = f"sqlite:///{tmp_path / 'erpgen.db'}"
    assert erpgen("generate", "--database-url", url, "--n-customers", "50", "-q").code == 0
    with sqlite3.connect(tmp_path / "erpgen.db", timeout=0.1) as other:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        r = erpgen("generate", "--database-url", url, "--n-customers", "50", "--replace", "-q")
        other.rollback()
    assert_one_clean_line(r, "database is locked", "another process is writing to it")


def test_full_disk_for_csv_is_one_line_and_nothing_committed(tmp_path, erpgen):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full to simulate a full disk")
    csv_dir = tmp_path / "csv"
    scratch = csv_dir / f".erpgen-{os.getpid()}.partial"  # the in-process run's scratch folder
    scratch.mkdir(parents=True)
    os.symlink("/dev/full", scratch / "sales_transactions.csv")  # every write there fails with ENOSPC
    target = tmp_path / "erpgen.db"
    r = erpgen(
        "generate", "--database-url", f"sqlite:///{target}", "--csv-dir", str(csv_dir), "--n-customers", "50"
    )
    # /dev/full is full while its file system has room: erpgen cannot tell which place it was, says so, and
    # shows every place with its room (tests/test_disk_full.py fills real file systems)
    last = r.err.strip().splitlines()[-1]
    assert r.code == 2 and last.startswith("erpgen: error: a disk was full"), r
    assert (
        f"the CSV folder {csv_dir.resolve()}" in last
        and "free, needs about" in last
        and "Traceback" not in r.err
    )
    assert not target.exists() and not list(csv_dir.glob("*.csv"))


def test_verify_catches_a_changed_row(tmp_path, erpgen):
    url = f"sqlite:///{tmp_path / 'erpgen.db'}"
    assert erpgen("generate", "--database-url", url, "--n-customers", "200", "-q").code == 0
    assert erpgen("verify", "--database-url", url).code == 0
    with sqlite3.connect(tmp_path / "erpgen.db") as raw:
        raw.execute("UPDATE customers SET first_name = 'Mallory' WHERE customer_id = 7")
    r = erpgen("verify", "--database-url", url)
    assert r.code == 1 and "DIFF  customers" in r.out and "ok    sales_transactions" in r.out


def test_ctrl_c_rolls_back(pg_url, tmp_path):
    proc = start("--database-url", pg_url, *BIG, cwd=tmp_path)
    try:
        wait_for(proc, FACTS_STARTED)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        end_group(proc)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "erpgen: interrupted; nothing was committed"
    assert table_names(pg_url) == []


# -- other sessions on the server ------------------------------------------------------------------------
@contextlib.contextmanager
def holding_a_read_lock(url: str) -> Iterator[int]:
    """Another session, idle in a transaction that has read erpgen's customers (as a client left open in a
    transaction does): it holds its lock until it ends. Yields its PostgreSQL pid (0 on MariaDB)."""
    with connect(url) as conn:
        conn.execute(text("SELECT COUNT(*) FROM customers")).scalar()
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar() if url.startswith("postgresql") else 0
        yield pid
        conn.rollback()


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_a_lock_another_session_holds_is_waited_for_then_named(server, request, erpgen):
    url = request.getfixturevalue("pg_url" if server == "postgresql" else "mysql_url")
    assert erpgen("generate", "--database-url", url, "--n-customers", "50", "-q").code == 0
    before = digests(url)
    with holding_a_read_lock(url) as pid:
        r = erpgen(
            "generate", "--database-url", url, "--n-customers", "60", "--replace", "--lock-wait-timeout", "2"
        )
    assert r.code == 2 and "Traceback" not in r.err, r
    last = r.err.strip().splitlines()[-1]
    assert "held locks on" in last or "Lock wait timeout" in last, last
    assert "waited 2 s" in last or "more than 2 s" in last, last
    if pid:  # PostgreSQL names the sessions that hold the locks
        assert f"session {pid}: " in last and "idle in transaction" in last, last
    assert digests(url) == before  # nothing of the run landed
    assert erpgen("generate", "--database-url", url, "--n-customers", "60", "--replace", "-q").code == 0


@contextlib.contextmanager
def role_with_timeouts(pg_url: str) -> Iterator[str]:
    """A role of the test's own, owning the test's database, whose sessions get a statement timeout and an
    idle-in-transaction timeout far shorter than a load's (as a DBA may set them)."""
    role = f"erpgen_timeouts_{os.getpid()}"
    database = make_url(pg_url).database
    with connect(pg_url) as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text(f"ALTER DATABASE {database} OWNER TO {role}"))
        conn.execute(text(f"ALTER ROLE {role} SET statement_timeout = '200ms'"))
        conn.execute(text(f"ALTER ROLE {role} SET idle_in_transaction_session_timeout = '200ms'"))
        conn.commit()
    try:
        yield make_url(pg_url).set(username=role).render_as_string(hide_password=False)
    finally:
        with connect(pg_url) as conn:
            conn.execute(text(f"ALTER DATABASE {database} OWNER TO postgres"))
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
            conn.commit()


def test_timeouts_set_on_the_role_do_not_cut_a_load(pg_url, erpgen):
    with role_with_timeouts(pg_url) as url:
        import psycopg  # not helpers.connect: it sets timeouts of its own

        with psycopg.connect(url) as raw, pytest.raises(psycopg.Error, match="statement timeout"):
            raw.execute("SELECT pg_sleep(1)")  # the role's sessions do have the timeouts
        r = erpgen("generate", "--database-url", url, *BIG, "--workers", "2", "-q")
        assert r.code == 0, r
        assert erpgen("verify", "--database-url", url).code == 0


def test_a_read_only_database_is_one_line(pg_url, erpgen):
    with connect(pg_url) as conn:
        conn.execute(
            text(f"ALTER DATABASE {make_url(pg_url).database} SET default_transaction_read_only = on")
        )
        conn.commit()
    r = erpgen("generate", "--database-url", pg_url, "--n-customers", "50")
    assert_one_clean_line(r, "read-only transaction")
    assert table_names(pg_url) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a read-only file system needs root")
@pytest.mark.parametrize("target", ["sqlite", "csv", "parquet"])
def test_a_read_only_file_system_is_one_line(target, tmp_path, erpgen):
    mount = tmp_path / "ro"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mount)], check=True)
    try:
        args = {
            "sqlite": ["--database-url", f"sqlite:///{mount / 'erpgen.db'}"],
            "csv": ["--no-database", "--csv-dir", str(mount / "csv")],
            "parquet": ["--no-database", "--parquet-dir", str(mount)],
        }[target]
        r = erpgen("generate", *args, "--n-customers", "50")
        assert_one_clean_line(r, f"{mount}")
        assert list(mount.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mount)], check=True)
