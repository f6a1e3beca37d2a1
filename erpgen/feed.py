"""`erpgen live`: bring a dataset up to now, then move it on with a clock, committing each moment's rows as
the clock passes it, in small transactions (for dashboards that refresh and for CDC pipelines).

The rows are exactly those `erpgen extend` would add; only when they are committed differs:
- the clock: simulated time = where it started + wall time x speed. It starts now, or where the dataset
  stands if that is later (an earlier, faster live ran ahead of the calendar);
- a window of days is simulated at a time, by an extension (erpgen.extension) into memory instead of the
  target: its rows, and the digests the whole tables have at the window's end. The next window is
  simulated in a thread while this one is committed;
- each commit writes the rows whose moment has passed: a sale or a credit note at its invoiced_at; a new
  customer, its lifecycle row, its lifecycle events and what becomes known of it (first_purchase_on,
  lost_on) at the start of their day, the lifecycle values not known yet as NULL;
- the dataset's run record moves in the same transaction: covers_till, and the second of that day the
  data reaches (covers_till_second). At a window's end the record holds the whole tables' digests, as an
  extension's does; within a window only the masters', and `erpgen verify` simulates the rest to that
  second.
A stop (Ctrl-C, SIGTERM, the time given to run) falls between commits; the next live carries on from
the record.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from erpgen import runlog
from erpgen.dates import NO_DAY, day_number
from erpgen.errors import ConfigError, TargetError
from erpgen.extension import ExtendSummary, moment, position
from erpgen.schema import FACT, FACT_COLUMNS, TABLES
from erpgen.simulation.times import SECONDS_PER_DAY
from erpgen.sinks.base import Batch
from erpgen.sinks.names import quote
from erpgen.urls import sqlite_path

MAX_SPEED = 10_000_000  # a simulated day in under a hundredth of a second: far past what a target takes
TICK = 0.5  # seconds of wall time between commits
# A window lasts at least this long in wall time, so that the next one is simulated before it is needed;
# and at most a month of simulated time, which bounds the rows held in memory.
WINDOW_WALL = 20.0
MAX_WINDOW_DAYS = 31
_LEARNT = ("first_purchase_on", "lost_on")  # the lifecycle values learnt on their day (extension.LATER_TRUTH)
# the tables whose rows a window adds, parents first (the other masters never change)
_ORDER = (
    "exchange_rates", "customers", "sales_orders", FACT.name, "invoices", "deliveries", "payments",
    "customer_lifecycle", "lifecycle_events",
)  # fmt: skip


@dataclass
class LiveSummary:
    """What live() did: where (safe to print), from which simulated moment to which, the commits and the
    rows they added, the catch-up extension to now (if there was one), and the wall time."""

    target: str
    speed: float
    began: dt.datetime
    reached: dt.datetime
    commits: int = 0
    added: dict[str, int] = field(default_factory=dict)
    updated: int = 0
    caught_up: ExtendSummary | None = None
    seconds: float = 0.0

    def render(self) -> str:
        rows = ", ".join(f"{n:,} {t}" for t, n in self.added.items() if n) or "no rows"
        return (
            f"erpgen: live on {self.target} from {self.began} to {self.reached} at speed {self.speed:g}: "
            f"{self.commits:,} commits in {self.seconds:.1f} s, {rows} added"
            + (f", {self.updated:,} lifecycle values learnt" if self.updated else "")
        )


def live(
    *,
    database_url: str | None = None,
    speed: float = 1.0,
    run_for: float | None = None,
    on_commit: Callable[[dt.datetime, dict[str, int]], None] | None = None,
    on_progress: Callable[[str, int], None] | None = None,
    stop: threading.Event | None = None,
) -> LiveSummary:
    """Carry the dataset at `database_url` (default sqlite:///erpgen.db) on to now (erpgen extend), then
    commit its rows as a clock running `speed` times real time passes their moments, until `run_for`
    seconds have passed, `stop` is set, or SIGINT/SIGTERM arrives (in the main thread). on_commit(moment,
    rows added per table) follows each commit. Raises ConfigError for a bad speed, TargetError for a target
    without a dataset of this erpgen's format, or one another erpgen run is writing to."""
    from erpgen import urls
    from erpgen.extension import extend

    if not (isinstance(speed, int | float) and math.isfinite(speed) and 0 < speed <= MAX_SPEED):
        raise ConfigError(f"--speed must be above 0 and at most {MAX_SPEED:,}, got {speed}")
    if run_for is not None and not (math.isfinite(run_for) and run_for > 0):
        raise ConfigError(f"--for must be a number of seconds above 0, got {run_for}")
    url = urls.parse(database_url or urls.DEFAULT_URL)
    target = urls.mask(url)
    if url.get_backend_name() not in ("sqlite", "postgresql", "mysql", "mariadb"):
        raise TargetError(
            f"erpgen live feeds SQLite, PostgreSQL and MariaDB/MySQL databases, not {url.get_backend_name()}",
            "use erpgen extend to carry the dataset on instead",
        )
    clock = time.perf_counter()
    stop = stop or threading.Event()
    # the catch-up is one transaction, which Ctrl-C rolls back as it does an extend's; the feed is stopped
    # between its commits
    yesterday = _now().date() - dt.timedelta(days=1)
    caught_up = extend(database_url=database_url, till=yesterday, on_progress=on_progress)
    with _stopped_by_signals(stop), _held(url, target) as conn:
        feed = _Feed(conn, url, target, speed)
        summary = LiveSummary(target, speed, feed.began, feed.began)
        summary.caught_up = caught_up if caught_up.changed else None
        feed.run(summary, stop, run_for, on_commit)
    summary.seconds = time.perf_counter() - clock
    return summary


def _now() -> dt.datetime:
    return runlog.now()


@contextlib.contextmanager
def _stopped_by_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set `stop` (in the main thread, where Python takes signals): the feed ends after
    its current commit rather than inside it. A second one, when that commit does not come (a server that
    stopped answering), is handled as it would be without the feed: the command line unwinds at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def stopped(signum, frame) -> None:
        if not stop.is_set():
            stop.set()
            return
        handler = previous[signum]
        if callable(handler):
            handler(signum, frame)
        elif handler == signal.SIG_DFL:  # the process ends by the signal, as it would have
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    for s, handler in previous.items():
        if handler != signal.SIG_IGN:  # a shell's background job keeps ignoring Ctrl-C
            signal.signal(s, stopped)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def _held(url, target: str):
    """A connection to the target, holding the lock a load or an extension takes (so that none runs
    while this one feeds, nor a second live) for as long as the feed runs."""
    from erpgen.database import connect
    from erpgen.sinks.mysql import load_lock
    from erpgen.sinks.postgres import ADVISORY_LOCK_KEY

    busy = TargetError(f"another erpgen run is writing to {target}", "wait for it to finish, then run again")
    backend = url.get_backend_name()
    with contextlib.ExitStack() as stack:
        conn = stack.enter_context(connect(url))
        if backend == "postgresql":
            if not conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({ADVISORY_LOCK_KEY})").scalar():
                raise busy
            conn.commit()
        elif backend in ("mysql", "mariadb"):
            if not conn.exec_driver_sql("SELECT GET_LOCK(%s, 0)", (load_lock(url.database),)).scalar():
                raise busy
            conn.commit()
        else:
            stack.enter_context(_file_lock(sqlite_path(url), busy))
        yield conn


@contextlib.contextmanager
def _file_lock(database: Path, busy: TargetError) -> Iterator[None]:
    """An flock on a file beside the SQLite database (sinks.sqlite.live_lock), held while the feed runs:
    SQLite's own lock lasts one transaction, and a load or an extension checks this one first."""
    import fcntl

    from erpgen.sinks.sqlite import live_lock

    path = live_lock(database)
    with open(path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy from None
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                path.unlink()


class _Feed:
    """The clock, the windows and the commits of one live run on a locked target."""

    def __init__(self, conn, url, target: str, speed: float):
        from erpgen.calibrate import calibrate
        from erpgen.extension import _usable
        from erpgen.masters import catalog_for
        from erpgen.simulation import Rates

        self.conn, self.url, self.target, self.speed = conn, url, target, speed
        self.mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        self.sqlite_file = _inode(url)
        record = _usable(runlog.dataset_record(conn, target), target)
        conn.rollback()
        self.cfg = runlog.config_of(record)
        self.catalog = catalog_for(self.cfg)
        knobs = json.loads(record["rates"]) if record["rates"] else None
        self.rates = Rates.of_record(knobs) if knobs else calibrate(self.cfg, self.catalog)
        day = day_number(record["covers_till"] or self.cfg.date_till)
        self.at = moment(day, record["covers_till_second"])  # where the data ends: its last second
        self.began = _as_datetime(self.at)
        self.rows = json.loads(record["row_counts"])
        self.masters = {k: v for k, v in json.loads(record["content_digest"]).items() if k not in _ORDER}
        self.record = self._insert_record(record)

    # -- the clock ---------------------------------------------------------------------------------
    def run(self, summary: LiveSummary, stop: threading.Event, run_for, on_commit) -> None:
        from sqlalchemy.exc import DBAPIError

        from erpgen.database import describe_db_error

        start = max(self.at, _seconds(_now()))
        wall0 = time.monotonic()
        days = max(1, min(MAX_WINDOW_DAYS, math.ceil(self.speed * WINDOW_WALL / SECONDS_PER_DAY)))
        with ThreadPoolExecutor(1, thread_name_prefix="erpgen-window") as pool:

            def after(record: dict) -> Future:
                """The window of `days` days after where `record` ends."""
                first = (
                    moment(day_number(record["covers_till"]), record["covers_till_second"]) + 1
                ) // SECONDS_PER_DAY
                horizon = EPOCH_DATE + dt.timedelta(days=first + days - 1)
                return pool.submit(_simulate_window, self.cfg, self.catalog, self.rates, record, horizon)

            window, following = after(self.record), None
            while True:
                elapsed = time.monotonic() - wall0
                clock = start + int(elapsed * self.speed)
                current = window.result()
                if following is None and clock >= (current.start + current.end) // 2:
                    following = after(current.end_record)
                try:
                    added = self._commit(current, min(clock, current.end))
                except DBAPIError as exc:
                    message = describe_db_error(exc, self.url)
                    if "locked" not in message:  # SQLite: another run's transaction; the next tick retries
                        raise TargetError(
                            f"live stopped: {message}",
                            f"the dataset stands at {_as_datetime(self.at)}; start erpgen live again",
                        ) from None
                else:
                    summary.commits += 1
                    for table, n in added.items():
                        if table != "learnt":
                            summary.added[table] = summary.added.get(table, 0) + n
                    summary.updated += added.get("learnt", 0)
                    summary.reached = _as_datetime(self.at)
                    if on_commit:
                        on_commit(summary.reached, added)
                if self.at >= current.end:  # the window is in: the next one takes over
                    window, following = following or after(current.end_record), None
                if stop.is_set() or (run_for is not None and elapsed >= run_for):
                    break
                stop.wait(max(0.0, TICK - (time.monotonic() - wall0 - elapsed)))
            if following is not None:
                following.cancel()

    # -- commits -------------------------------------------------------------------------------------
    def _commit(self, window: _Window, clock: int) -> dict[str, int]:
        """One transaction: the rows whose moment is at or before `clock`, and the record moved there."""
        from erpgen.sinks.encode import IsoDates

        m = self.mark
        if _inode(self.url) != self.sqlite_file:
            raise TargetError(f"{self.target} was replaced by another run", "start erpgen live again")
        dates = IsoDates()
        marks = {name: timeline.next for name, timeline in window.timelines.items()}
        marks["learnt"] = window.learnt.next
        marks["moved"] = window.moved.next
        due = {name: timeline.due(clock) for name, timeline in window.timelines.items()}
        learnt = window.learnt.due(clock)
        moved = window.moved.due(clock)
        whole = clock >= window.end
        at = window.end if whole else clock
        day, second = divmod(at, SECONDS_PER_DAY)
        now = {
            "run_id": self.record["run_id"],
            "covers_till": EPOCH_DATE + dt.timedelta(days=int(day)),
            # only a window's end is whole: within a window the record holds no digest of the customers' tables
            "covers_till_second": None if whole else int(second),
        }
        rows = dict(self.rows)
        added: dict[str, int] = {}
        try:
            with self.conn.begin():
                latest = runlog.latest_run(self.conn)
                if latest is None or position(latest) != position(self.record):
                    raise TargetError(
                        f"another erpgen run changed {self.target} while live fed it",
                        "start erpgen live again",
                    )
                for table in _ORDER:
                    n = _length(due[table])
                    if n:
                        self._insert_rows(table, due[table], dates)
                    rows[table] = rows.get(table, 0) + n
                    added[table] = n
                added["learnt"] = self._learn(learnt, dates)
                self._move(moved, dates)
                self.conn.exec_driver_sql(
                    f"UPDATE erpgen_runs SET covers_till = {m}, covers_till_second = {m}, row_counts = {m}, "
                    f"content_digest = {m}, loaded_at = {m} WHERE run_id = {m}",
                    (
                        now["covers_till"].isoformat(),
                        now["covers_till_second"],
                        runlog.as_json(rows),
                        runlog.as_json(window.end_digests if whole else self.masters),
                        runlog.as_text(runlog.now()),  # as every record holds its times (runlog)
                        self.record["run_id"],
                    ),
                )
        except BaseException:  # rolled back: the same rows are due again at the next commit
            for name, timeline in window.timelines.items():
                timeline.next = marks[name]
            window.learnt.next = marks["learnt"]
            window.moved.next = marks["moved"]
            raise
        self.at, self.rows = at, rows
        self.record.update(now)
        return added

    def _learn(self, learnt: Batch, dates) -> int:
        """Set the lifecycle values learnt (first_purchase_on, lost_on) on the rows they belong to."""
        column = np.asarray(learnt.get("column", []))
        for k, name in enumerate(_LEARNT):
            mine = column == k
            if mine.any():
                pairs = zip(
                    dates(np.asarray(learnt["day"])[mine]).tolist(),
                    np.asarray(learnt["customer_id"])[mine].tolist(),
                    strict=True,
                )
                self.conn.exec_driver_sql(
                    f"UPDATE customer_lifecycle SET {name} = {self.mark} WHERE customer_id = {self.mark}",
                    list(pairs),
                )
        return len(column)

    def _move(self, moved: Batch, dates) -> None:
        """Set where documents stand now (_documents), in the order they moved."""
        m = self.mark
        days = np.asarray(moved.get("day", []), dtype=np.int64)
        iso = dates(np.where(days == NO_DAY, 0, days)).tolist() if len(days) else []
        for table, key, status, day, text in zip(moved.get("table", []), moved.get("key", []),
                                                 moved.get("status", []), days.tolist(), iso):  # fmt: skip
            value = None if day == NO_DAY else text
            if table == "deliveries":
                sql, args = f"UPDATE deliveries SET delivered_on = {m} WHERE order_id = {m}", (value, key)
            else:
                sql = f"UPDATE sales_orders SET status = {m}, cancelled_on = {m} WHERE order_id = {m}"
                args = (status, value, key)
            self.conn.exec_driver_sql(sql, args)

    def _insert_rows(self, table: str, rows: Batch, dates) -> None:
        from erpgen.sinks.encode import table_rows

        if table == FACT.name:
            columns, values = FACT_COLUMNS, _fact_rows(rows, dates)
        else:
            columns = tuple(c.name for c in _BY_NAME[table].columns)
            values = list(table_rows(table, rows, dates))
        marks = ", ".join([self.mark] * len(columns))
        into = f"{quote(self.conn, table)} ({', '.join(quote(self.conn, c) for c in columns)})"
        self.conn.exec_driver_sql(f"INSERT INTO {into} VALUES ({marks})", values)

    def _insert_record(self, previous: dict) -> dict:
        """This run's record: the dataset's latest with the next run_id, committed before any row (a stop
        at once leaves the dataset as it was), moved by every commit."""
        from erpgen.sinks.encode import IsoDates

        batch = runlog.extension_record(
            previous, started=runlog.now(), till=previous["covers_till"] or self.cfg.date_till, rows=self.rows,
            digests=json.loads(previous["content_digest"]), second=previous["covers_till_second"],
        )  # fmt: skip
        with self.conn.begin():
            self._insert_rows("erpgen_runs", batch, IsoDates())
            record = runlog.latest_run(self.conn)
        assert record is not None and record["run_id"] == previous["run_id"] + 1
        return record


EPOCH_DATE = dt.date(1970, 1, 1)
_BY_NAME = {t.name: t for t in TABLES}


def _seconds(moment_: dt.datetime) -> int:
    return (
        day_number(moment_.date()) * SECONDS_PER_DAY
        + moment_.hour * 3600
        + moment_.minute * 60
        + moment_.second
    )


def _as_datetime(seconds: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1) + dt.timedelta(seconds=int(seconds))


def _inode(url) -> int | None:
    """The SQLite file's inode: a load that replaced the file (generate --replace) is noticed."""
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    with contextlib.suppress(OSError):
        return os.stat(sqlite_path(url)).st_ino
    return None


def _length(b: Batch) -> int:
    return len(next(iter(b.values()))) if b else 0  # type: ignore[arg-type]


def _fact_rows(b: Batch, dates) -> list[tuple]:
    """Fact lines as the driver takes them, in FACT_COLUMNS' order: money as exact text ('12.50')."""
    from erpgen.sinks.encode import cents_to_text, moment_text
    from erpgen.tables import batch_invoice_ids, batch_order_ids, batch_return_reasons

    returned = np.asarray(b["returned_line_id"])
    columns = {
        "line_id": np.asarray(b["line_id"]).tolist(),
        "invoice_id": batch_invoice_ids(b).astype("U").tolist(),
        "customer_id": np.asarray(b["customer_id"]).tolist(),
        "invoice_date": dates(np.asarray(b["invoice_date"])).tolist(),
        "product_id": np.asarray(b["product_id"]).tolist(),
        "quantity": np.asarray(b["quantity"]).tolist(),
        "revenue": cents_to_text(np.asarray(b["revenue_cents"])).astype("U").tolist(),
        "store_id": np.asarray(b["store_id"]).tolist(),
        "unit_price": cents_to_text(np.asarray(b["unit_price_cents"])).astype("U").tolist(),
        "returned_line_id": [None if r <= 0 else r for r in returned.tolist()],
        "order_id": batch_order_ids(b).astype("U").tolist(),
        "return_reason": [r.decode() or None for r in batch_return_reasons(b).tolist()],
        "invoiced_at": moment_text(b["invoiced_at"], dates).view("S19").ravel().astype("U").tolist(),
    }
    return list(zip(*(columns[name] for name in FACT_COLUMNS), strict=True))


# -- a window: an extension simulated into memory ----------------------------------------------------------
class _Timeline:
    """Rows of one table in the order they are committed, with the moment of each."""

    def __init__(self, rows: Batch, at: np.ndarray):
        order = np.argsort(at, kind="stable")
        self.at = np.asarray(at)[order]
        self.rows = _take(rows, order)
        self.next = 0

    def due(self, clock: int) -> Batch:
        """The rows not committed yet whose moment is at or before `clock`."""
        end = int(np.searchsorted(self.at, clock, side="right"))
        part = _take(self.rows, np.arange(self.next, end))
        self.next = max(self.next, end)
        return part


@dataclass
class _Window:
    start: int  # the first moment it holds rows for (seconds since 1970-01-01)
    end: int  # its last second
    timelines: dict[str, _Timeline]
    learnt: _Timeline  # (customer_id, column: index into _LEARNT, day) learnt on `day`
    moved: _Timeline  # (table, key, status, day): a document's state moving on (_documents)
    end_digests: dict[str, str]
    end_record: dict  # the record of the dataset at the window's end


def _simulate_window(cfg, catalog, rates, record: dict, horizon: dt.date) -> _Window:
    """The rows an extension from `record` to `horizon` adds, as timelines, and the record at its end."""
    from erpgen.extension import Collected, InProcess, _check_till, _Extension
    from erpgen.simulation import Model

    _check_till(cfg, horizon)

    collected = Collected(record)
    run = _Extension(InProcess(Model(cfg, catalog, rates, horizon=horizon)), collected, record, None)
    run.write(runlog.now())
    covered_day = day_number(record["covers_till"])
    start = moment(covered_day, record["covers_till_second"]) + 1
    end = moment(day_number(horizon), None)
    b = {name: _joined(batches) for name, batches in collected.batches.items()}
    timelines = {
        "exchange_rates": _Timeline(b["exchange_rates"], _day_start(b["exchange_rates"], "rate_date")),
        "customers": _Timeline(b["customers"], _day_start(b["customers"], "created_at")),
        FACT.name: _Timeline(b[FACT.name], np.asarray(b[FACT.name].get("invoiced_at", []), dtype=np.int64)),
        # a header with its lines, at its invoiced_at
        "invoices": _Timeline(
            b["invoices"], np.asarray(b["invoices"].get("invoiced_at", []), dtype=np.int64)
        ),
        "lifecycle_events": _Timeline(b["lifecycle_events"], _day_start(b["lifecycle_events"], "event_date")),
    }
    # a new customer's lifecycle row shows what is known on its first day; the rest is learnt later
    lifecycle = b["customer_lifecycle"]
    acquired = np.asarray(lifecycle.get("acquired_on", []), dtype=np.int64)
    learnt: list[tuple[np.ndarray, int, np.ndarray]] = []
    for k, column in enumerate(_LEARNT):
        values = np.asarray(lifecycle.get(column, []), dtype=np.int64)
        later = (values != NO_DAY) & (values > acquired)
        learnt.append((np.asarray(lifecycle.get("customer_id", []))[later], k, values[later]))
        if len(values):
            lifecycle[column] = np.where(later, NO_DAY, values)
    timelines["customer_lifecycle"] = _Timeline(lifecycle, acquired * SECONDS_PER_DAY)
    moved = _documents(b, collected.updates, timelines, start)
    for update in collected.updates.get("customer_lifecycle", []):  # values learnt after where it stood
        for k, column in enumerate(_LEARNT):
            values = np.asarray(update[column], dtype=np.int64)
            later = (values != NO_DAY) & (values > covered_day)
            learnt.append((np.asarray(update["customer_id"])[later], k, values[later]))
    ids = np.concatenate([c for c, _, _ in learnt]) if learnt else np.zeros(0, dtype=np.int64)
    learnt_rows = {
        "customer_id": ids.astype(np.int64),
        "column": np.concatenate([np.full(len(c), k) for c, k, _ in learnt]) if learnt else ids,
        "day": np.concatenate([d for _, _, d in learnt]) if learnt else ids,
    }
    (runs,) = collected.batches["erpgen_runs"]
    digests = json.loads(runs["content_digest"][0])
    end_record = {
        **record,
        "covers_till": horizon,
        "covers_till_second": None,
        "row_counts": runs["row_counts"][0],
        "content_digest": runs["content_digest"][0],
    }
    return _Window(
        start,
        end,
        timelines,
        _Timeline(learnt_rows, learnt_rows["day"] * SECONDS_PER_DAY),
        moved,
        digests,
        end_record,
    )


def _documents(
    b: dict[str, Batch], updates: dict[str, list[Batch]], timelines: dict, start: int
) -> _Timeline:
    """The order-to-cash rows of a window as they happen, and the changes of state that follow them.

    The extension gives each document as it stands at the window's end. A new order goes in at the moment
    it was placed, OPEN; a delivery when the goods leave, not yet delivered; a payment when it is made (not
    before its invoice). Each order then moves on (SHIPPED, INVOICED, PAID, or CANCELLED) at the moment of
    the document that moves it, and a delivery's delivered_on is set on its day, so that no row shows what
    has not happened yet and the window ends as the extension did."""
    orders, deliveries, payments, invoices = (
        b.get(t, {}) for t in ("sales_orders", "deliveries", "payments", "invoices")
    )
    ordered = dict(
        zip(_keys(orders, "order_id"), np.asarray(orders.get("ordered_at", []), dtype=np.int64).tolist())
    )
    invoiced = {}  # order id -> its sale invoice's moment, for the invoices of the window
    for oid, credit, at in zip(_keys(invoices, "order_id"), np.asarray(invoices.get("is_credit", [])).tolist(),
                               np.asarray(invoices.get("invoiced_at", []), dtype=np.int64).tolist()):  # fmt: skip
        if not credit:
            invoiced[oid] = at
    invoice_at = dict(
        zip(
            _keys(invoices, "invoice_id"),
            np.asarray(invoices.get("invoiced_at", []), dtype=np.int64).tolist(),
        )
    )
    events: list[tuple[int, str, str, str | None, int, int]] = []  # moment, table, key, status, day, rank
    # deliveries: in when shipped (after their order), delivered_on set on its day
    shipped = {}
    if deliveries:
        at = np.asarray(deliveries["shipped_on"], dtype=np.int64) * SECONDS_PER_DAY
        keys = _keys(deliveries, "order_id")
        at = np.array([max(a, ordered.get(k, a)) for k, a in zip(keys, at.tolist())], dtype=np.int64)
        delivered = np.asarray(deliveries["delivered_on"], dtype=np.int64)
        later = (delivered != NO_DAY) & (delivered * SECONDS_PER_DAY > at)
        for k, day in zip(np.asarray(keys)[later].tolist(), delivered[later].tolist()):
            events.append((day * SECONDS_PER_DAY, "deliveries", k, None, day, 0))
        deliveries = {**deliveries, "delivered_on": np.where(later, NO_DAY, delivered)}
        timelines["deliveries"] = _Timeline(deliveries, at)
        shipped = dict(zip(keys, at.tolist()))
    for update in updates.get("deliveries", []):
        for k, day in zip(_keys(update, "order_id"), np.asarray(update["delivered_on"]).tolist()):
            events.append((max(day * SECONDS_PER_DAY, start), "deliveries", k, None, day, 0))
    # payments: when paid, not before their invoice
    paid = {}
    if payments:
        keys = _keys(payments, "invoice_id")
        at = np.array(
            [max(d * SECONDS_PER_DAY, invoice_at.get(k, start)) for k, d in
             zip(keys, np.asarray(payments["paid_on"], dtype=np.int64).tolist())], dtype=np.int64,
        )  # fmt: skip
        timelines["payments"] = _Timeline(payments, at)
        paid = {_order_of(k): a for k, a in zip(keys, at.tolist()) if k.startswith("INV")}
    # orders: in when placed, OPEN; then each move at its document's moment
    final = {}
    if orders:
        final.update(
            zip(
                _keys(orders, "order_id"),
                zip(_keys(orders, "status"), np.asarray(orders["cancelled_on"]).tolist()),
            )
        )
        timelines["sales_orders"] = _Timeline(
            {**orders, "status": np.full(len(ordered), b"OPEN"),
             "cancelled_on": np.full(len(ordered), NO_DAY, dtype=np.int64)},
            np.asarray(orders["ordered_at"], dtype=np.int64),
        )  # fmt: skip
    for update in updates.get("sales_orders", []):
        final.update(
            zip(
                _keys(update, "order_id"),
                zip(_keys(update, "status"), np.asarray(update["cancelled_on"]).tolist()),
            )
        )
    for k, (status, cancelled_on) in final.items():
        placed = ordered.get(k, start)
        if status == "CANCELLED":
            moves = [(max(cancelled_on * SECONDS_PER_DAY, placed), "CANCELLED", cancelled_on)]
        else:
            moves = [(max(shipped[k], placed), "SHIPPED", NO_DAY)] if k in shipped else []
            if k in invoiced:
                moves.append((invoiced[k], "INVOICED", NO_DAY))
            if k in paid:
                moves.append((paid[k], "PAID", NO_DAY))
        moves = [m for m in moves if _RANK[m[1]] <= _RANK[status]]
        last = max((m[0] for m in moves), default=max(placed, start))
        moves.append((last, status, cancelled_on))  # the end state, whatever moved it
        for rank, (at, to, day) in enumerate(moves):
            events.append((at, "sales_orders", k, to, day, rank))
    for table in ("sales_orders", "deliveries", "payments"):  # a window may have none of them
        timelines.setdefault(table, _Timeline({}, np.zeros(0, dtype=np.int64)))
    events.sort(key=lambda e: (e[0], e[5]))
    rows = {
        "table": [e[1] for e in events], "key": [e[2] for e in events], "status": [e[3] for e in events],
        "day": np.array([e[4] for e in events], dtype=np.int64),
    }  # fmt: skip
    return _Timeline(rows, np.array([e[0] for e in events], dtype=np.int64))


_RANK = {"OPEN": 0, "SHIPPED": 1, "INVOICED": 2, "PAID": 3, "CANCELLED": 3}


def _keys(b: Batch, name: str) -> list[str]:
    values = b.get(name, [])
    if isinstance(values, np.ndarray) and values.dtype.kind == "S":
        return values.astype("U").tolist()
    return [v.decode() if isinstance(v, bytes) else v for v in values]


def _order_of(invoice_id: str) -> str:
    """The order of a sale invoice: INV-c-s is SO-c-2s (erpgen.tables.order_ids)."""
    return f"SO-{invoice_id[4:12]}-{2 * int(invoice_id[13:]):07d}"


def _day_start(b: Batch, column: str) -> np.ndarray:
    return np.asarray(b.get(column, []), dtype=np.int64) * SECONDS_PER_DAY


def _joined(batches: list[Batch]) -> Batch:
    if not batches:
        return {}
    out: Batch = {}
    for name in batches[0]:
        parts = [b[name] for b in batches]
        if all(isinstance(p, np.ndarray) for p in parts):
            out[name] = np.concatenate(parts)  # type: ignore[arg-type]
        else:
            out[name] = [v for p in parts for v in (p.tolist() if isinstance(p, np.ndarray) else p)]  # type: ignore[union-attr]
    return out


def _take(b: Batch, at: np.ndarray) -> Batch:
    out: Batch = {}
    for name, values in b.items():
        if isinstance(values, np.ndarray):
            out[name] = values[at]
        else:
            out[name] = [values[i] for i in at.tolist()]  # type: ignore[index]
    return out
