"""erpgen.sinks.backlog on a real PostgreSQL connection: what is queued runs in order in the caller's
transaction, answers come back, the first error reaches the caller and stops the rest, and a COPY the
caller gives up fails instead of hanging."""

from __future__ import annotations

import threading

import psycopg
import pytest
from sqlalchemy.engine import make_url

from erpgen.sinks import backlog as backlog_module
from erpgen.sinks.backlog import Backlog, Cancelled


def _within(fn, seconds: float = 10.0, **kw):
    """fn(**kw) on a thread of its own, which must end within `seconds` (a test of a hang fails, not hangs);
    its exception, if it raised one."""
    raised: list[BaseException] = []

    def run():
        try:
            fn(**kw)
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{fn.__name__} did not return within {seconds} s"
    return raised[0] if raised else None


@pytest.fixture
def conn(pg_url):
    with psycopg.connect(make_url(pg_url).set(drivername="postgresql").render_as_string(False)) as conn:
        conn.execute("CREATE TEMP TABLE t (k integer PRIMARY KEY, v text NOT NULL)")
        conn.commit()  # the table outlives the rollbacks below; what is queued runs in the next transaction
        yield conn
        conn.rollback()


def _count(cur) -> int:
    cur.execute("SELECT count(*) FROM t")
    return cur.fetchone()[0]


def test_statements_run_in_order_with_their_answers(conn):
    backlog = Backlog(conn)
    try:
        first = backlog.copy("COPY t (k, v) FROM STDIN")
        for k in range(1, 1001):
            first.write(f"{k}\tv{k}\n".encode())
        first.finish(after=[lambda cur: cur.execute("UPDATE t SET v = 'first' WHERE k = 1")])
        counted = backlog.call(_count)  # behind the COPY: it sees its rows
        second = backlog.copy("COPY t (k, v) FROM STDIN")
        second.write(b"1001\tlast\n")
        second.finish()
        last = backlog.call(
            lambda cur: cur.execute("SELECT v FROM t WHERE k IN (1, 1001) ORDER BY k").fetchall()
        )
        backlog.settle()
        assert counted.result() == 1000
        assert last.result() == [("first",), ("last",)]
    finally:
        backlog.close()


def test_the_first_error_reaches_the_caller_and_stops_the_rest(conn):
    backlog = Backlog(conn)
    try:
        broken = backlog.copy("COPY t (k, v) FROM STDIN")
        broken.write(b"1\ta\n1\tb\n")  # the same key twice
        broken.finish()
        never = backlog.call(_count)
        with pytest.raises(psycopg.errors.UniqueViolation):
            backlog.settle()
        with pytest.raises(Cancelled):
            never.result()
        with pytest.raises(psycopg.errors.UniqueViolation):  # and at every later call
            backlog.copy("COPY t (k, v) FROM STDIN")
    finally:
        backlog.close()
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0


def test_a_copy_given_up_fails_and_the_thread_ends(conn):
    backlog = Backlog(conn)
    given_up = backlog.copy("COPY t (k, v) FROM STDIN")
    given_up.write(b"1\ta\n")
    given_up.cancel()  # the caller's own error: the COPY must not wait for more pieces
    assert isinstance(_within(backlog.settle), Cancelled)
    _within(backlog.close)
    assert not backlog.thread.is_alive()
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0


def test_what_is_still_queued_is_not_sent_when_the_caller_rolls_back(conn):
    backlog = Backlog(conn)
    busy = backlog.call(lambda cur: cur.execute("SELECT pg_sleep(0.5)"))
    queued = backlog.copy("COPY t (k, v) FROM STDIN")
    queued.write(b"1\ta\n")
    queued.finish()
    backlog.close(discard=True)  # while the server sleeps: the COPY behind it is drained
    assert busy.done()
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    conn.rollback()


def test_the_pieces_waiting_are_bounded(conn, monkeypatch):
    """However far ahead the caller is, it holds at most PIECES_AHEAD encoded pieces the server has not taken."""
    monkeypatch.setattr(backlog_module, "PIECES_AHEAD", 2)
    backlog = Backlog(conn)
    try:
        busy = backlog.call(lambda cur: cur.execute("SELECT pg_sleep(0.3)"))
        job = backlog.copy("COPY t (k, v) FROM STDIN")
        job.write(b"1\ta\n")
        job.write(b"2\tb\n")
        assert not busy.done()
        job.write(b"3\tc\n")  # no room until the thread, once the server has slept, takes a piece
        assert busy.done()
        job.finish()
        backlog.settle()
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 3
    finally:
        backlog.close()
        conn.rollback()


def test_closing_cancels_a_copy_the_caller_left_open(conn):
    """A caller interrupted between queueing a COPY and finishing it: closing the backlog fails the COPY rather
    than wait for pieces that will never come."""
    backlog = Backlog(conn)
    left = backlog.copy("COPY t (k, v) FROM STDIN")
    left.write(b"1\ta\n")
    _within(backlog.close, discard=True)
    assert not backlog.thread.is_alive()
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0
