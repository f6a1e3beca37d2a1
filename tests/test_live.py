"""`erpgen live`: a dataset brought up to now, then moved on by a clock in small commits, on real databases.

A live dataset is the dataset `extend` makes, committed in time order: verify checks it against the
simulation up to its last second, validate finds it clean, and extending it on gives what extending the
dataset it started from gives.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import time

import pytest
from sqlalchemy import text

from erpgen.cli import STOP_GRACE
from erpgen.database import connect
from erpgen.digest import database_digests
from erpgen.urls import parse

from .helpers import assert_one_clean_line, sessions, start, stop_processes

TODAY = dt.datetime.now(dt.UTC).date()
# a small dataset that ended a few days ago: live first extends it to yesterday
DATASET = [
    "--n-customers", "1500", "--date-from", str(TODAY.replace(year=TODAY.year - 3)),
    "--date-till", str(TODAY - dt.timedelta(days=5)), "--seed", "11", "-q",
]  # fmt: skip


def _state(url: str) -> tuple[int, str | None, dict]:
    """Fact lines, the latest invoiced_at and the latest run record."""
    with connect(parse(url)) as conn:
        n, last = conn.execute(text("SELECT count(*), max(invoiced_at) FROM sales_transactions")).one()
        run = conn.execute(text("SELECT * FROM erpgen_runs ORDER BY run_id DESC LIMIT 1")).mappings().one()
        return n, str(last), dict(run)


def _clean(erpgen, url: str) -> None:
    verified = erpgen("verify", "--database-url", url)
    assert verified.code == 0 and "ok    sales_transactions" in verified.out, verified
    validated = erpgen("validate", "--database-url", url)
    assert validated.code == 0 and "all checks passed" in validated.out, validated


def test_rows_arrive_in_several_commits_in_time_order(erpgen, sqlite_url, tmp_path):
    assert erpgen("generate", "--database-url", sqlite_url, *DATASET).code == 0
    proc = start("--database-url", sqlite_url, "--speed", "21600", "--for", "6", cwd=tmp_path, command="live")
    seen: list[tuple[int, str]] = []  # (lines, latest moment) as a dashboard polling the file sees them
    try:
        while proc.poll() is None:
            n, last, run = _state(sqlite_url)
            if run["covers_till_second"] is not None and (not seen or n != seen[-1][0]):
                if seen:  # no line committed since the last look is earlier than what it saw
                    with connect(parse(sqlite_url)) as conn:
                        earlier = conn.execute(
                            text("SELECT count(*) FROM sales_transactions WHERE invoiced_at <= :m"),
                            {"m": seen[-1][1]},
                        ).scalar()
                    assert earlier == seen[-1][0], (earlier, seen)
                seen.append((n, last))
            time.sleep(0.2)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "erpgen: extended" in out and "erpgen: live on" in out, out
    # the counts rise in several steps, and every step's moments come after the ones before it
    assert len(seen) >= 3, seen
    assert [n for n, _ in seen] == sorted(n for n, _ in seen)
    assert [m for _, m in seen] == sorted(m for _, m in seen)
    n, last, run = _state(sqlite_url)
    assert run["status"] == "COMPLETE" and dt.date.fromisoformat(str(run["covers_till"])) >= TODAY
    assert last[:10] >= str(TODAY), "no sale was committed by the clock"
    _clean(erpgen, sqlite_url)


def test_sigterm_stops_between_commits_and_the_next_run_carries_on(erpgen, sqlite_url, tmp_path):
    assert erpgen("generate", "--database-url", sqlite_url, *DATASET).code == 0
    before = tmp_path / "before.db"
    shutil.copy(parse(sqlite_url).database, before)
    proc = start("--database-url", sqlite_url, "--speed", "86400", cwd=tmp_path, command="live")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _state(sqlite_url)[2]["covers_till_second"] is None:
            time.sleep(0.2)
        time.sleep(1.5)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "erpgen: live on" in out and "Traceback" not in err
    stopped = _state(sqlite_url)
    _clean(erpgen, sqlite_url)
    # a second run starts where the first stopped
    again = erpgen("live", "--database-url", sqlite_url, "--speed", "86400", "--for", "2", "-q")
    assert again.code == 0, again
    record = stopped[2]
    where = dt.datetime.combine(dt.date.fromisoformat(str(record["covers_till"])), dt.time()) + dt.timedelta(
        seconds=record["covers_till_second"] if record["covers_till_second"] is not None else 86_399
    )
    assert f"from {where} to" in again.out, again
    moved = _state(sqlite_url)
    assert moved[0] >= stopped[0] and moved[1] >= stopped[1]
    # and extending the live dataset on gives what extending the dataset it started from gives
    till = (dt.datetime.fromisoformat(moved[1]) + dt.timedelta(days=2)).date()
    for url in (sqlite_url, f"sqlite:///{before}"):
        r = erpgen("extend", "--database-url", url, "--till", str(till), "-q")
        assert r.code == 0, r
    with connect(parse(sqlite_url)) as a, connect(parse(f"sqlite:///{before}")) as b:
        assert database_digests(a) == database_digests(b)


def test_a_second_stop_ends_a_feed_whose_server_stopped_answering(erpgen, pg_url, tmp_path):
    """The first SIGTERM waits for the commit under way, which never comes while the server's sessions are
    stopped; the second unwinds the feed as a stopped load is unwound (within STOP_GRACE seconds, past
    which erpgen ends as SIGKILL would end it), saying that what it committed is kept. Once the sessions
    run again the open transaction is rolled back and the dataset is clean."""
    assert erpgen("generate", "--database-url", pg_url, *DATASET).code == 0
    proc = start("--database-url", pg_url, "--speed", "86400", cwd=tmp_path, command="live")
    stopped: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _state(pg_url)[2]["covers_till_second"] is None:
            time.sleep(0.2)
        stopped = stop_processes(sessions(pg_url))
        proc.send_signal(signal.SIGTERM)
        time.sleep(2.0)
        assert proc.poll() is None, "the feed ended without the commit it was waiting for"
        proc.send_signal(signal.SIGTERM)
        second = time.monotonic()
        _, err = proc.communicate(timeout=STOP_GRACE + 30)
        took = time.monotonic() - second
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert (
        err.strip().splitlines()[-1]
        == "erpgen: stopped by SIGTERM; what it committed is kept; run it again to carry on"
    )
    assert took < STOP_GRACE + 5
    deadline = time.monotonic() + 10
    while sessions(pg_url) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sessions(pg_url) == []
    _clean(erpgen, pg_url)


@pytest.mark.parametrize("server", ["pg_url", "mysql_url"])
def test_live_on_a_server(erpgen, request, server):
    url = request.getfixturevalue(server)
    assert erpgen("generate", "--database-url", url, *DATASET).code == 0
    r = erpgen("live", "--database-url", url, "--speed", "3600", "--for", "3")
    assert r.code == 0, r
    n, last, run = _state(url)
    # the clock ran into today: the record holds today (or, three simulated hours past a late start, the
    # whole of it: covers_till_second is then NULL), and a sale of today is in
    assert run["status"] == "COMPLETE" and dt.date.fromisoformat(str(run["covers_till"])) >= TODAY, run
    assert last[:10] >= str(TODAY), "no sale was committed by the clock"
    _clean(erpgen, url)


@pytest.mark.parametrize("server", ["sqlite_url", "pg_url"])
def test_a_second_live_and_an_extend_are_refused_while_it_runs(erpgen, request, server, tmp_path):
    pg_url = request.getfixturevalue(server)
    assert erpgen("generate", "--database-url", pg_url, *DATASET).code == 0
    proc = start("--database-url", pg_url, "--speed", "3600", "--for", "30", cwd=tmp_path, command="live")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _state(pg_url)[2]["covers_till_second"] is None:
            time.sleep(0.2)
        busy = "erpgen live is feeding" if server == "sqlite_url" else "another erpgen run"
        assert_one_clean_line(erpgen("live", "--database-url", pg_url, "--for", "1"), "another erpgen run")
        assert_one_clean_line(
            erpgen("extend", "--database-url", pg_url, "--till", str(TODAY + dt.timedelta(days=9))), busy
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--speed", "0"], "--speed must be above 0"),
        (["--speed", "nan"], "--speed must be above 0"),
        (["--for", "-1"], "--for must be a number of seconds above 0"),
    ],
)
def test_bad_input_is_one_line(erpgen, sqlite_url, args, message):
    assert_one_clean_line(erpgen("live", "--database-url", sqlite_url, *args), message)


def test_targets_it_cannot_feed_are_one_line(erpgen, tmp_path):
    assert_one_clean_line(
        erpgen("live", "--database-url", f"sqlite:///{tmp_path}/none.db", "--for", "1"), "does not exist"
    )
    assert_one_clean_line(
        erpgen("live", "--database-url", f"duckdb:///{tmp_path}/x.duckdb", "--for", "1"),
        "erpgen live feeds SQLite, PostgreSQL and MariaDB/MySQL",
    )
