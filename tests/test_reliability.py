"""Loads run twice at once, interrupted or checked, where it is particular to one target. What every target
shares (kill -9 and the server closing the connection mid-load, someone else's data, --resume) is in
test_contract."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from .helpers import (
    FACTS_STARTED,
    assert_one_clean_line,
    end_group,
    group_members,
    kill,
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


def test_a_killed_load_leaves_no_process_behind(tmp_path):
    """kill -9 of erpgen must not leave its worker processes running on their own (they end with it:
    engines.local asks the kernel for that)."""
    proc = start("--database-url", f"sqlite:///{tmp_path / 'erpgen.db'}", *BIG, cwd=tmp_path)
    try:
        wait_for(proc, FACTS_STARTED)
        kill(proc, whole_group=False)
        deadline = time.monotonic() + 3
        while group_members(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert group_members(proc.pid) == []
    finally:
        end_group(proc)
