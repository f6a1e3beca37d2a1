"""Loads that are killed, cut off or run twice at once never leave a broken or half-written database."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from erpgen.database import connect
from erpgen.urls import parse

from .conftest import REPO
from .test_bad_input import assert_one_clean_line
from .test_generate import digests

BIG = ["--n-customers", "60000", "--batch-size", "20000"]


def start(*args: str, cwd) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(REPO / "cli.py"), "generate", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(proc: subprocess.Popen, marker: str, timeout: float = 120) -> list[str]:
    """Read the progress lines on stderr until one contains `marker`."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return seen
    raise AssertionError(f"never saw {marker!r}; got {seen}")


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def table_names(url: str, attempts: int = 50) -> list[str]:
    """Tables seen by a new connection (a killed client's backend may need a moment to roll back)."""
    for _ in range(attempts):
        try:
            with connect(parse(url)) as conn:
                return sorted(inspect(conn).get_table_names())
        except Exception:
            time.sleep(0.1)
    raise AssertionError("target unreadable")


@pytest.mark.parametrize("phase", ["erpgen: customers ", "erpgen: keys and indexes"])
def test_kill_9_on_postgres_leaves_nothing(pg_url, tmp_path, phase):
    proc = start("--database-url", pg_url, *BIG, cwd=tmp_path)
    wait_for(proc, phase)
    kill(proc)
    deadline = time.monotonic() + 20
    while table_names(pg_url) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert table_names(pg_url) == []


def test_kill_9_on_a_new_sqlite_file_leaves_no_file_and_the_next_run_cleans_up(tmp_path):
    target = tmp_path / "erpgen.db"
    proc = start("--database-url", f"sqlite:///{target}", *BIG, cwd=tmp_path)
    wait_for(proc, "erpgen: customers ")
    kill(proc)
    assert not target.exists()
    leftovers = list(tmp_path.glob(".erpgen.db.*.partial*"))
    assert leftovers, "the killed run's scratch file is expected here"
    done = subprocess.run(
        [sys.executable, str(REPO / "cli.py"), "generate", "--database-url", f"sqlite:///{target}",
         "--n-customers", "50", "-q"],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert target.exists() and not list(tmp_path.glob(".erpgen.db.*.partial*"))


def test_kill_9_while_replacing_an_sqlite_dataset_keeps_the_old_one(tmp_path, erpgen):
    target = tmp_path / "erpgen.db"
    url = f"sqlite:///{target}"
    assert erpgen("generate", "--database-url", url, "--n-customers", "500", "-q").code == 0
    before = digests(url)
    for phase in ("erpgen: customers ", "erpgen: keys and indexes"):
        proc = start("--database-url", url, *BIG, "--replace", cwd=tmp_path)
        wait_for(proc, phase)
        kill(proc)
        with sqlite3.connect(target) as raw:  # the first open rolls the hot journal back
            assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert digests(url) == before


def test_server_closing_the_connection_mid_copy(pg_url, tmp_path):
    proc = start("--database-url", pg_url, *BIG, cwd=tmp_path)
    wait_for(proc, "erpgen: customers ")
    database = make_url(pg_url).database
    admin = create_engine(make_url(pg_url).set(drivername="postgresql+psycopg", database="postgres"))
    with admin.connect() as conn:
        killed = conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"
            ),
            {"d": database},
        ).all()
    admin.dispose()
    assert killed and all(k[0] for k in killed)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("erpgen: error: loading into postgresql://") and "nothing was committed" in last
    assert "Traceback" not in err
    assert table_names(pg_url) == []


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


@pytest.mark.parametrize("target", ["sqlite_url", "pg_url", "mysql_url"])
def test_a_database_holding_other_data_is_refused_and_replace_leaves_it_alone(target, request, erpgen):
    any_url = request.getfixturevalue(target)
    with connect(parse(any_url)) as conn, conn.begin():
        conn.execute(text("CREATE TABLE their_orders (id INTEGER PRIMARY KEY, note TEXT)"))
        conn.execute(text("INSERT INTO their_orders VALUES (1, 'keep me')"))
    r = erpgen("generate", "--database-url", any_url, "--n-customers", "50", "-q")
    assert_one_clean_line(r, "already holds data in table(s) their_orders", "--replace")
    assert erpgen("generate", "--database-url", any_url, "--n-customers", "50", "--replace", "-q").code == 0
    with connect(parse(any_url)) as conn:
        assert conn.execute(text("SELECT note FROM their_orders")).scalar() == "keep me"
        assert conn.execute(text("SELECT count(*) FROM customers")).scalar() == 50


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
    assert r.code == 2
    last = r.err.strip().splitlines()[-1]
    assert last.startswith("erpgen: error: loading into") and "No space left on device" in last, r
    assert "Traceback" not in r.err
    assert not target.exists() and not list(csv_dir.glob("*.csv"))


@pytest.fixture(params=["sqlite", "postgresql"])
def resumable_url(request, tmp_path):
    return (
        f"sqlite:///{tmp_path / 'erpgen.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )


def test_resume_carries_on_to_the_same_data(resumable_url, tmp_path, erpgen):
    """A --resume load killed halfway carries on from its last committed block to the very same data."""
    args = ["--database-url", resumable_url, "--n-customers", "30000", "--block-size", "1500"]
    proc = start(*args, "--resume", cwd=tmp_path)
    wait_for(proc, "erpgen: sales_transactions")  # a few blocks are committed by now
    kill(proc)
    # a plain run is told what is there; other options are refused; the same options carry on
    assert_one_clean_line(erpgen("generate", *args), "interrupted --resume load", "--resume")
    r = erpgen("generate", *args, "--resume", "--seed", "43")
    assert_one_clean_line(r, "was started with other parameters", "same options")
    done = erpgen("generate", *args, "--resume", "-q")
    assert done.code == 0, done
    verified = erpgen("verify", "--database-url", resumable_url)
    assert verified.code == 0 and "content matches the recorded digest" in verified.out, verified
    resumed = digests(resumable_url)
    # the same options in one uninterrupted, atomic run
    other = f"sqlite:///{tmp_path / 'straight.db'}"
    assert erpgen("generate", *args[2:], "--database-url", other, "-q").code == 0
    assert digests(other) == resumed


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
    wait_for(proc, "erpgen: customers ")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "erpgen: interrupted; nothing was committed"
    assert table_names(pg_url) == []
