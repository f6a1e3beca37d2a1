"""Benchmark erpgen against a raw reference loader measured in the same run (run by hand, never by pytest).

Every erpgen run is a separate process, timed end to end (process start included), its peak RSS taken
from os.wait4. For as many fact rows, invoice headers and order-to-cash documents as erpgen printed, the
reference generates rows of those tables' shapes with numpy and loads them, with their keys and indexes,
by the fastest raw path (binary COPY on PostgreSQL, one executemany transaction on SQLite), so the
machine's speed cancels in the ratio erpgen/reference. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import multiprocessing
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import psycopg
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy.engine import URL, make_url

CLI = Path(__file__).resolve().parents[1] / "cli.py"
ELEVEN_YEARS, FIFTEEN_YEARS, DATE_TILL = dt.date(2015, 1, 1), dt.date(2011, 1, 1), dt.date(2025, 12, 31)
THREE_YEARS = dt.date(2023, 1, 1)
ORIGINAL_LINES_PER_S = 29_000  # the original generator, 10,000 customers x 11 years into SQLite
# its 300k customers x 11 years took ~19 minutes at that rate (issue 4): ~110 lines per customer
ORIGINAL_LINES_PER_CUSTOMER = 19 * 60 * ORIGINAL_LINES_PER_S / 300_000
BLOCK_ROWS, N_PRODUCTS, N_STORES, RETURN_SHARE = 500_000, 98, 10, 0.02
PG_EPOCH = dt.date(2000, 1, 1)  # binary COPY dates are days since this day
COPY_HEADER, COPY_TRAILER = b"PGCOPY\n\xff\r\n\x00" + bytes(8), b"\xff\xff"


def _field(value) -> np.dtype:
    """A binary COPY field: its int32 byte length, then the value (big-endian)."""
    return np.dtype([("len", ">i4"), ("v", value)])


# numeric as 4 base-10000 digits with weight 2, not normalised (the server strips the zeros)
DIGITS = [("ndigits", ">i2"), ("weight", ">i2"), ("sign", ">u2"), ("dscale", ">i2"), ("digits", ">i2", (4,))]
NUMERIC, INT4, INT8 = _field(DIGITS), _field(">i4"), _field(">i8")
# the order-to-cash text columns as erpgen writes them (erpgen/schema.py), each drawn with a share near
# erpgen's default scenario's
RETURN_REASONS = {"NO_LONGER_NEEDED": 0.34, "NOT_AS_DESCRIBED": 0.20, "DEFECTIVE": 0.15, "DAMAGED": 0.12,
                  "WRONG_ITEM": 0.09, "ARRIVED_LATE": 0.10}  # fmt: skip
ORDER_STATUSES = {"OPEN": 0.003, "CANCELLED": 0.03, "SHIPPED": 0.001, "INVOICED": 0.006, "PAID": 0.96}
PAYMENT_METHODS = {"CARD": 0.59, "CASH": 0.10, "TRANSFER": 0.31}
ID, TEXT16 = _field("S19"), _field("S16")  # a document id; a text of up to 16 bytes (packed: its length)
ROW = np.dtype([
    ("nfields", ">i2"), ("line_id", INT8), ("invoice_id", ID), ("customer_id", INT4),
    ("invoice_date", INT4), ("product_id", INT4), ("quantity", NUMERIC), ("revenue", NUMERIC),
    ("store_id", INT4), ("unit_price", NUMERIC), ("order_id", ID), ("returned_line_id", INT8),
    ("return_reason", TEXT16),
])  # fmt: skip
INT2 = _field(">i2")
HEADER_ROW = np.dtype([
    ("nfields", ">i2"), ("invoice_id", ID), ("customer_id", INT4), ("store_id", INT4),
    ("is_credit", INT2), ("invoice_date", INT4), ("invoiced_at", INT8), ("due_on", INT4),
    ("currency_code", _field("S3")), ("total", NUMERIC), ("total_company", NUMERIC), ("order_id", ID),
])  # fmt: skip
ORDER_ROW = np.dtype([
    ("nfields", ">i2"), ("order_id", ID), ("customer_id", INT4), ("store_id", INT4), ("order_date", INT4),
    ("ordered_at", INT8), ("currency_code", _field("S3")), ("status", TEXT16), ("cancelled_on", INT4),
])  # fmt: skip
DELIVERY_ROW = np.dtype([
    ("nfields", ">i2"), ("order_id", ID), ("customer_id", INT4), ("shipped_on", INT4), ("promised_on", INT4),
    ("delivered_on", INT4),
])  # fmt: skip
PAYMENT_ROW = np.dtype([
    ("nfields", ">i2"), ("payment_id", ID), ("invoice_id", ID), ("customer_id", INT4), ("paid_on", INT4),
    ("method", TEXT16), ("currency_code", _field("S3")), ("amount", NUMERIC),
])  # fmt: skip
# The order-to-cash tables as erpgen creates them (erpgen/schema.py: columns, NOT NULL and CHECKs, which
# erpgen keeps through its load), without their keys, added after the load; one text for both databases
# (the same type affinities on SQLite as erpgen's DATE, DATETIME and NUMERIC)
DOCUMENT_TABLES = {
    "sales_orders": "order_id text NOT NULL, customer_id integer NOT NULL, store_id integer NOT NULL, "
    "order_date date NOT NULL, ordered_at timestamp NOT NULL, currency_code text NOT NULL, status text NOT NULL, "
    "cancelled_on date, CHECK (status = 'OPEN' OR status = 'CANCELLED' OR status = 'SHIPPED' OR "
    "status = 'INVOICED' OR status = 'PAID'), CHECK ((status = 'CANCELLED') = (cancelled_on IS NOT NULL)), "
    "CHECK (cancelled_on IS NULL OR cancelled_on >= order_date)",
    "deliveries": "order_id text NOT NULL, customer_id integer NOT NULL, shipped_on date NOT NULL, "
    "promised_on date NOT NULL, delivered_on date, CHECK (promised_on >= shipped_on), "
    "CHECK (delivered_on IS NULL OR delivered_on >= shipped_on)",
    "payments": "payment_id text NOT NULL, invoice_id text NOT NULL, customer_id integer NOT NULL, "
    "paid_on date NOT NULL, method text NOT NULL, currency_code text NOT NULL, amount numeric(14,2) NOT NULL, "
    "CHECK (method = 'CARD' OR method = 'CASH' OR method = 'TRANSFER')",
}
# their keys and indexes, and those the fact table and the invoices gain with them
DOCUMENT_KEYS = {"sales_orders": "order_id", "deliveries": "order_id", "payments": "payment_id"}
DOCUMENT_FOREIGN_KEYS = [
    ("sales_transactions", "order_id", "sales_orders"), ("invoices", "order_id", "sales_orders"),
    ("sales_orders", "customer_id", "customers"), ("sales_orders", "store_id", "stores"),
    ("sales_orders", "currency_code", "currencies"), ("deliveries", "order_id", "sales_orders"),
    ("deliveries", "customer_id", "customers"), ("payments", "invoice_id", "invoices"),
    ("payments", "customer_id", "customers"), ("payments", "currency_code", "currencies"),
]  # fmt: skip
DOCUMENT_INDEXES = [("sales_orders", "customer_id"), ("payments", "customer_id")]


@dataclass
class Measurement:
    """One line of the table: which erpgen run, then its figures and its reference's."""

    key: str  # pg, big, sqlite, duckdb, parquet, bigparquet, delta, csv or original
    target: str  # PostgreSQL, SQLite, DuckDB, Parquet, Delta or CSV
    customers: int
    date_from: dt.date
    lines: int = 0
    headers: int = 0  # rows of the invoices table (a header per invoice id of the lines)
    orders: int = 0  # rows of sales_orders, deliveries and payments (the order-to-cash chain)
    deliveries: int = 0
    payments: int = 0
    seconds: float = 0.0
    rss_mib: float = 0.0  # ru_maxrss: the largest single process
    total_mib: float = 0.0  # the whole process tree's proportional set size, at its largest
    lps: float = 0.0  # lines/s
    reference_lps: float | None = None
    ratio: float | None = None  # lps / reference_lps
    error: str = ""
    note: str = ""
    engine: str = ""  # "dask N": --engine dask on a cluster of N workers of erpgen's own; "": --workers
    client_cpu_s: float = 0.0  # CPU seconds of erpgen's own process alone (its workers not counted)
    client_mib: float = 0.0  # the peak RSS (VmHWM) of erpgen's own process alone

    @property
    def what(self) -> str:
        years = DATE_TILL.year - self.date_from.year + 1
        on = f" ({self.engine})" if self.engine else ""
        return f"erpgen -> {self.target} {self.customers / 1000:g}k x {years}y{on}"


def tree_pss_kib(root: int) -> int:
    """Proportional set size of a process and all its descendants, in KiB: pages shared after a fork
    count once in all, split between the processes that share them (Linux; 0 where /proc has no
    smaps_rollup)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError), open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])  # the command name may hold spaces
                children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        with contextlib.suppress(OSError, StopIteration, ValueError), open(f"/proc/{pid}/smaps_rollup") as f:
            total += int(next(line for line in f if line.startswith("Pss:")).split()[1])
    return total


def own_usage(pid: int) -> tuple[float, float] | None:
    """(CPU seconds, peak RSS MiB) of one process alone, not its children (Linux /proc), or None."""
    with contextlib.suppress(OSError, IndexError, ValueError, StopIteration):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/status") as f:
            hwm_kib = int(next(line for line in f if line.startswith("VmHWM:")).split()[1])
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), hwm_kib / 1024
    return None


class Footprint(threading.Thread):
    """Samples tree_pss_kib(pid) every 50 ms until stopped; `peak_mib` is the largest sample, `own` the
    last own_usage(pid) seen (at most 50 ms before the process ended)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_mib, self.done = pid, 0.0, threading.Event()
        self.own = (0.0, 0.0)

    def run(self) -> None:
        while not self.done.wait(0.05):
            self.peak_mib = max(self.peak_mib, tree_pss_kib(self.pid) / 1024)
            self.own = own_usage(self.pid) or self.own

    def stop(self) -> float:
        self.done.set()
        self.join()
        return self.peak_mib


def run_erpgen(
    m: Measurement, workers: int, server: URL, tmp: str, run: int
) -> tuple[float, float, float, int, tuple[float, float]]:
    """One `erpgen generate` process for `m` into a fresh database, SQLite file or Parquet directory:
    (seconds, peak RSS MiB of its largest process, peak MiB of all its processes together, sales
    lines, (CPU seconds, peak RSS MiB) of erpgen's own process alone), or an error holding its last stderr line. A PostgreSQL URL goes through DATABASE_URL, so
    no password shows in the process list."""
    cmd = [sys.executable, CLI, "generate", "--n-customers", str(m.customers), "--seed", "42"]
    cmd += ["--date-from", str(m.date_from), "--date-till", str(DATE_TILL), "--workers", str(workers)]
    if m.engine:
        cmd[-1] = m.engine.split()[1]
        cmd += ["--engine", "dask"]
    env, out = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}, Path(tmp, f"{m.key}-{run}")
    with (
        contextlib.ExitStack() as stack,
        tempfile.TemporaryFile() as stdout,
        tempfile.TemporaryFile() as stderr,
    ):
        if m.target == "PostgreSQL":
            env["DATABASE_URL"] = stack.enter_context(fresh_database(server, f"erpgen_{m.key}_{run}"))
        elif m.target == "SQLite":
            cmd += ["--database-url", f"sqlite:///{out}"]
        elif m.target == "DuckDB":
            cmd += ["--database-url", f"duckdb:///{out}"]
        elif m.target == "Delta":
            cmd += ["--no-database", "--delta-dir", str(out)]
        elif m.target == "CSV":
            cmd += ["--no-database", "--csv-dir", str(out)]
        else:
            cmd += ["--no-database", "--parquet-dir", str(out)]
        # the SQLite file or Parquet directory goes afterwards, to keep the scratch space small
        stack.callback(lambda: shutil.rmtree(out) if out.is_dir() else out.unlink(missing_ok=True))
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, cwd=tmp, env=env)
        footprint = Footprint(proc.pid)
        footprint.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        total_mib = footprint.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        printed, errors = stdout.read().decode(errors="replace"), stderr.read().decode(errors="replace")
    found = re.search(r"^\s*sales_transactions\s+([\d,]+) rows", printed, re.M)
    if proc.returncode or not found:
        raise RuntimeError(errors.strip().splitlines()[-1] if errors.strip() else f"exit {proc.returncode}")
    lines = int(found.group(1).replace(",", ""))
    for field, table in (("headers", "invoices"), ("orders", "sales_orders"), ("deliveries", "deliveries"),
                         ("payments", "payments")):  # fmt: skip
        rows = re.search(rf"^\s*{table}\s+([\d,]+) rows", printed, re.M)
        setattr(m, field, int(rows.group(1).replace(",", "")) if rows else 0)
    return seconds, usage.ru_maxrss / 1024, total_mib, lines, footprint.own


def libpq_url(url: URL, database: str | None = None) -> str:
    """`url` (optionally on another database) as a plain postgresql:// URL for libpq."""
    url = url.set(drivername="postgresql", database=database or url.database)
    return url.render_as_string(hide_password=False)


@contextlib.contextmanager
def fresh_database(server: URL, tag: str) -> Iterator[str]:
    """A new, empty database on `server` for one measurement, dropped afterwards; yields its URL."""
    name = f"erpgen_bench_{os.getpid()}_{tag}"
    with psycopg.connect(libpq_url(server), autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield libpq_url(server, name)
    finally:
        with psycopg.connect(libpq_url(server), autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")


def _choice(rng: np.random.Generator, shares: dict[str, float], m: int) -> np.ndarray:
    """m indexes into `shares` (value -> share), drawn by their shares."""
    cdf = np.cumsum(list(shares.values()))
    return np.minimum(np.searchsorted(cdf / cdf[-1], rng.random(m), side="right"), len(shares) - 1)


def _texts(shares: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """The values of `shares` as 16-byte slots, and their lengths."""
    text = np.array([value.encode() for value in shares], dtype="S16")
    return text, np.char.str_len(text)


def fact_blocks(n: int, n_customers: int, n_days: int, orders: int = 0) -> Iterator[dict[str, np.ndarray]]:
    """The reference's n fact rows as numpy columns, BLOCK_ROWS at a time; ~2% are credit notes that
    return the line before them, each with a return reason. The lines name the `orders` orders in turn (as
    erpgen's name their invoice's); without orders their order_id is None (NULL)."""
    rng = np.random.default_rng(42)
    for start in range(0, n, BLOCK_ROWS):
        m = min(BLOCK_ROWS, n - start)
        line_id = np.arange(start + 1, start + m + 1, dtype=np.int64)
        is_return = (rng.random(m) < RETURN_SHARE) & (line_id > 1)
        quantity_milli = rng.integers(1, 7, m) * np.where(is_return, -1000, 1000)
        price_cents = rng.integers(199, 20_000, m)
        yield {
            "line_id": line_id,
            "invoice_id": document_ids(line_id, second=is_return),
            "customer_id": rng.integers(1, n_customers + 1, m),
            "day": rng.integers(0, n_days, m),  # days after the first day
            "product_id": rng.integers(1, N_PRODUCTS + 1, m),
            "quantity_milli": quantity_milli,
            "revenue_cents": quantity_milli * price_cents // 1000,
            "store_id": rng.integers(1, N_STORES + 1, m),
            "unit_price_cents": price_cents,
            "is_return": is_return,
            "order_id": document_ids((line_id - 1) * orders // n + 1, (b"SO",)) if orders else None,
            "reason": _choice(rng, RETURN_REASONS, m),  # an index into RETURN_REASONS (credit notes only)
        }


def document_ids(
    number: np.ndarray, kinds: tuple[bytes, ...] = (b"INV", b"CRN"), second: np.ndarray | None = None
) -> np.ndarray:
    """19-byte ids like 'INV-00000001-000001' (the second kind where `second`: CRN- on credit notes, RFD-
    on refunds), 'SO-00000001-0000001' for orders: the kind, a dash, 8 digits, a dash and the other digits,
    written digit by digit."""
    chars = np.empty((len(number), 19), np.uint8)
    prefix = len(kinds[0]) + 1
    chars[:, :prefix] = np.frombuffer(kinds[0] + b"-", np.uint8)
    if second is not None:
        chars[second, :prefix] = np.frombuffer(kinds[1] + b"-", np.uint8)
    chars[:, prefix + 8] = ord("-")
    parts = (((number - 1) // 3 + 1, prefix, 8), ((number - 1) % 3 + 1, prefix + 9, 10 - prefix))
    for part, first, width in parts:
        for k in range(width):
            chars[:, first + width - 1 - k] = 48 + part // 10**k % 10
    return chars.view("S19").ravel()


def copy_rows(row: np.dtype, n: int) -> np.ndarray:
    """n binary COPY rows of `row` to fill in, each field's length set to its whole value's (copied from
    one row's bytes, faster than field by field)."""
    first = np.zeros(1, row)
    first["nfields"] = len(row.names) - 1
    for name in row.names[1:]:
        first[name]["len"] = row[name]["v"].itemsize
    rows = np.empty(n, row)
    rows.view(np.uint8).reshape(n, row.itemsize)[:] = first.view(np.uint8)
    return rows


def _fill(rows: np.ndarray, values: dict[str, object]) -> None:
    for name, value in values.items():
        rows[name]["v"] = value


def packed(rows: np.ndarray, lengths: dict[str, np.ndarray]) -> list[memoryview]:
    """The rows' bytes, each field of `lengths` holding that many value bytes (-1: NULL, none), the rest of
    its slot cut out: the rows grouped by those lengths, each group's kept bytes taken at once (a slice
    where all that is cut ends the row). Row order does not matter to keys built after the load."""
    raw = rows.view(np.uint8).reshape(len(rows), rows.dtype.itemsize)
    if not lengths:
        return [raw.ravel().data]
    group = np.zeros(len(rows), np.int64)
    for name, length in lengths.items():
        rows[name]["len"] = length
        group = group * (rows.dtype[name]["v"].itemsize + 2) + length + 1
    chunks = []
    for g in np.flatnonzero(np.bincount(group)):  # the few shapes present, without sorting the rows
        at = group == g
        first, keep = int(np.argmax(at)), np.ones(rows.dtype.itemsize, bool)
        for name in lengths:
            offset, size = rows.dtype.fields[name][1] + 4, rows.dtype[name]["v"].itemsize
            keep[offset + max(int(rows[name]["len"][first]), 0) : offset + size] = False
        kept = np.flatnonzero(keep)
        chunk = raw[at, : len(kept)] if kept[-1] == len(kept) - 1 else raw[at].take(kept, axis=1)
        chunks.append(chunk.ravel().data)
    return chunks


def copy_chunks(b: dict[str, np.ndarray], first_day: int) -> list[memoryview]:
    """A block as binary COPY rows, each kind of row one slice of the rows' bytes (row order does not
    matter to keys built after the load): a sale's NULL returned_line_id holds -1 in the first 4 bytes of
    its value, which stand for its NULL return_reason's length once the rest of the row is cut; a credit
    note's reason as long as it is. Without orders, the rows are packed (order_id NULL)."""
    is_return, reason = b["is_return"], b["reason"]
    rows = copy_rows(ROW, len(is_return))
    _fill(
        rows, {name: b[name] for name in ("line_id", "invoice_id", "customer_id", "product_id", "store_id")}
    )
    _fill(
        rows,
        {"invoice_date": first_day + b["day"], "returned_line_id": np.where(is_return, b["line_id"] - 1, -1)},
    )
    for name, scaled, scale in (("quantity", b["quantity_milli"], 3), ("revenue", b["revenue_cents"], 2),
                                ("unit_price", b["unit_price_cents"], 2)):  # fmt: skip
        _numeric(rows[name], scaled, scale)
    reasons, length = _texts(RETURN_REASONS)
    rows["return_reason"]["v"] = reasons[reason]
    if b["order_id"] is None:
        lengths = {"order_id": np.full(len(rows), -1), "returned_line_id": np.where(is_return, 8, -1),
                   "return_reason": np.where(is_return, length[reason], -1)}  # fmt: skip
        return packed(rows, lengths)
    rows["order_id"]["v"] = b["order_id"]
    rows["returned_line_id"]["len"] = np.where(is_return, 8, -1)
    rows["return_reason"]["len"] = length[reason]  # read on credit notes only
    raw = rows.view(np.uint8).reshape(len(rows), ROW.itemsize)
    sale_end, reason_at = ROW.fields["returned_line_id"][1] + 8, ROW.fields["return_reason"][1] + 4
    chunks = [raw[~is_return, :sale_end].ravel().data]
    for size in np.unique(length[reason[is_return]]):
        chunks.append(raw[is_return & (length[reason] == size), : reason_at + size].ravel().data)
    return chunks


def _numeric(field: np.ndarray, scaled: np.ndarray, scale: int) -> None:
    """Binary COPY numerics of `scaled` (integer units of 10^-scale) into a NUMERIC field column."""
    whole, frac = np.divmod(np.abs(scaled), 10**scale)
    field["len"], v = NUMERIC.itemsize - 4, field["v"]
    v["ndigits"], v["weight"], v["dscale"], v["sign"] = 4, 2, scale, np.where(scaled < 0, 0x4000, 0)
    digits = whole // 10**8, whole // 10**4 % 10**4, whole % 10**4, frac * 10 ** (4 - scale)
    v["digits"] = np.stack(digits, axis=1)


CREDIT_EVERY = 20  # every 20th invoice header is a credit note (5%), which the payments know it by


def header_blocks(n: int, n_customers: int, n_days: int, orders: int = 0) -> Iterator[dict[str, np.ndarray]]:
    """The reference's n invoice headers as numpy columns, BLOCK_ROWS at a time: the invoices table's
    shape, 5% credit notes, due at once or 30 days on, naming the `orders` orders in turn (None without)."""
    rng = np.random.default_rng(43)
    for start in range(0, n, BLOCK_ROWS):
        m = min(BLOCK_ROWS, n - start)
        number = np.arange(start + 1, start + m + 1, dtype=np.int64)
        is_credit = number % CREDIT_EVERY == 0
        day = rng.integers(0, n_days, m)
        total_cents = rng.integers(199, 100_000, m) * np.where(is_credit, -1, 1)
        yield {
            "invoice_id": document_ids(number, second=is_credit),
            "customer_id": rng.integers(1, n_customers + 1, m),
            "store_id": rng.integers(1, N_STORES + 1, m),
            "is_credit": is_credit,
            "day": day,
            "second": rng.integers(0, 86_400, m),
            "due_days": np.where(rng.random(m) < 0.1, 30, 0),
            "total_cents": total_cents,
            "order_id": document_ids((number - 1) * orders // n + 1, (b"SO",)) if orders else None,
        }


def header_copy_rows(b: dict[str, np.ndarray], first_day: int) -> list[memoryview]:
    rows = copy_rows(HEADER_ROW, len(b["invoice_id"]))
    day = first_day + b["day"]
    _fill(rows, {"invoice_id": b["invoice_id"], "customer_id": b["customer_id"], "store_id": b["store_id"],
                 "is_credit": b["is_credit"], "invoice_date": day, "due_on": day + b["due_days"],
                 "invoiced_at": (day * 86_400 + b["second"]) * 1_000_000, "currency_code": b"USD"})  # fmt: skip
    for name in ("total", "total_company"):
        _numeric(rows[name], b["total_cents"], 2)
    if b["order_id"] is None:
        return packed(rows, {"order_id": np.full(len(rows), -1)})
    rows["order_id"]["v"] = b["order_id"]
    return packed(rows, {})


CANCELLED = list(ORDER_STATUSES).index("CANCELLED")


def order_blocks(n: int, n_customers: int, n_days: int) -> Iterator[dict[str, np.ndarray]]:
    """The reference's n sales orders as numpy columns, BLOCK_ROWS at a time: ids SO-... by number (the
    fact lines and headers name them), statuses by ORDER_STATUSES, a cancelled order's up to 2 days on."""
    rng = np.random.default_rng(44)
    for start in range(0, n, BLOCK_ROWS):
        m = min(BLOCK_ROWS, n - start)
        number = np.arange(start + 1, start + m + 1, dtype=np.int64)
        day, status = rng.integers(0, n_days, m), _choice(rng, ORDER_STATUSES, m)
        cancelled = np.minimum(day + rng.integers(0, 3, m), n_days - 1)
        yield {
            "order_id": document_ids(number, (b"SO",)),
            "customer_id": rng.integers(1, n_customers + 1, m),
            "store_id": rng.integers(1, N_STORES + 1, m),
            "day": day,
            "second": rng.integers(0, 86_400, m),
            "status": status,
            "cancelled_day": np.where(status == CANCELLED, cancelled, -1),  # -1: NULL
        }


def order_copy_rows(b: dict[str, np.ndarray], first_day: int) -> list[memoryview]:
    rows = copy_rows(ORDER_ROW, len(b["order_id"]))
    day, (statuses, length) = first_day + b["day"], _texts(ORDER_STATUSES)
    _fill(rows, {"order_id": b["order_id"], "customer_id": b["customer_id"], "store_id": b["store_id"],
                 "order_date": day, "ordered_at": (day * 86_400 + b["second"]) * 1_000_000,
                 "currency_code": b"USD", "status": statuses[b["status"]],
                 "cancelled_on": first_day + b["cancelled_day"]})  # fmt: skip
    return packed(
        rows, {"status": length[b["status"]], "cancelled_on": np.where(b["cancelled_day"] < 0, -1, 4)}
    )


def delivery_blocks(n: int, n_customers: int, n_days: int) -> Iterator[dict[str, np.ndarray]]:
    """The reference's n deliveries as numpy columns, BLOCK_ROWS at a time: one for each of the first n
    orders, promised up to 5 days after shipping and delivered by then, 0.1% still on their way."""
    rng = np.random.default_rng(45)
    for start in range(0, n, BLOCK_ROWS):
        m = min(BLOCK_ROWS, n - start)
        number = np.arange(start + 1, start + m + 1, dtype=np.int64)
        shipped = rng.integers(0, n_days, m)
        promised = np.minimum(shipped + rng.integers(0, 6, m), n_days - 1)
        delivered = shipped + (rng.random(m) * (promised - shipped + 1)).astype(np.int64)
        yield {
            "order_id": document_ids(number, (b"SO",)),
            "customer_id": rng.integers(1, n_customers + 1, m),
            "shipped": shipped,
            "promised": promised,
            "delivered": np.where(rng.random(m) < 0.001, -1, delivered),  # -1: NULL
        }


def delivery_copy_rows(b: dict[str, np.ndarray], first_day: int) -> list[memoryview]:
    rows = copy_rows(DELIVERY_ROW, len(b["order_id"]))
    _fill(rows, {"order_id": b["order_id"], "customer_id": b["customer_id"], "shipped_on": first_day + b["shipped"],
                 "promised_on": first_day + b["promised"], "delivered_on": first_day + b["delivered"]})  # fmt: skip
    return packed(rows, {"delivered_on": np.where(b["delivered"] < 0, -1, 4)})


def payment_blocks(n: int, n_customers: int, n_days: int) -> Iterator[dict[str, np.ndarray]]:
    """The reference's n payments as numpy columns, BLOCK_ROWS at a time: one for each of the first n
    invoice headers (PAY-...; RFD-..., a refund with a negative amount, for a credit note), methods by
    PAYMENT_METHODS."""
    rng = np.random.default_rng(46)
    for start in range(0, n, BLOCK_ROWS):
        m = min(BLOCK_ROWS, n - start)
        number = np.arange(start + 1, start + m + 1, dtype=np.int64)
        is_refund = number % CREDIT_EVERY == 0
        yield {
            "payment_id": document_ids(number, (b"PAY", b"RFD"), is_refund),
            "invoice_id": document_ids(number, second=is_refund),
            "customer_id": rng.integers(1, n_customers + 1, m),
            "day": rng.integers(0, n_days, m),
            "method": _choice(rng, PAYMENT_METHODS, m),
            "amount_cents": rng.integers(199, 100_000, m) * np.where(is_refund, -1, 1),
        }


def payment_copy_rows(b: dict[str, np.ndarray], first_day: int) -> list[memoryview]:
    rows = copy_rows(PAYMENT_ROW, len(b["payment_id"]))
    methods, length = _texts(PAYMENT_METHODS)
    _fill(rows, {"payment_id": b["payment_id"], "invoice_id": b["invoice_id"], "customer_id": b["customer_id"],
                 "paid_on": first_day + b["day"], "method": methods[b["method"]], "currency_code": b"USD"})  # fmt: skip
    _numeric(rows["amount"], b["amount_cents"], 2)
    return packed(rows, {"method": length[b["method"]]})


def _copy(cur: psycopg.Cursor, table: str, row: np.dtype, chunks: Iterator[list[memoryview]]) -> None:
    """Binary COPY of blocks of packed rows into `table`, its columns named in the order of `row`'s fields."""
    sql = f"COPY {table} ({', '.join(row.names[1:])}) FROM STDIN (FORMAT BINARY)"
    with cur.copy(sql, writer=QueuedLibpqWriter(cur)) as copy:
        copy.write(COPY_HEADER)
        for block in chunks:
            for chunk in block:
                copy.write(chunk)
        copy.write(COPY_TRAILER)


def reference_pg(
    server: URL, n: int, n_customers: int, date_from: dt.date, headers: int = 0, orders: int = 0,
    deliveries: int = 0, payments: int = 0,
) -> float:  # fmt: skip
    """Seconds to binary-COPY n rows into a bare table, and as many rows as given of the invoices table's
    shape and of the order-to-cash tables' (sales_orders, deliveries, payments: created with their CHECKs,
    as erpgen creates them), then add their primary keys, foreign keys and indexes, in one transaction on a
    fresh database (connecting included; the small parent tables are made untimed)."""
    n_days, first_day = (DATE_TILL - date_from).days + 1, (date_from - PG_EPOCH).days
    parents = {"customers": n_customers, "products": N_PRODUCTS, "stores": N_STORES}
    with fresh_database(server, "reference") as url:
        with psycopg.connect(url) as conn:
            for table, count in parents.items():
                conn.execute(f"CREATE TABLE {table} ({table[:-1]}_id int PRIMARY KEY)")
                conn.execute(f"INSERT INTO {table} SELECT generate_series(1, {count})")
            conn.execute("CREATE TABLE currencies (currency_code text PRIMARY KEY)")
            conn.execute("INSERT INTO currencies VALUES ('USD')")
        started = time.perf_counter()
        with psycopg.connect(url) as conn, conn.cursor() as cur:  # one transaction, committed on exit
            cur.execute(
                "CREATE TABLE sales_transactions (line_id bigint NOT NULL, invoice_id text NOT NULL, "
                "customer_id integer NOT NULL, invoice_date date NOT NULL, product_id integer NOT NULL, "
                "quantity numeric(12,3) NOT NULL, revenue numeric(14,2) NOT NULL, store_id integer NOT NULL, "
                "unit_price numeric(12,2) NOT NULL, returned_line_id bigint, order_id text, return_reason text)"
            )
            blocks = fact_blocks(n, n_customers, n_days, orders)
            _copy(cur, "sales_transactions", ROW, (copy_chunks(b, first_day) for b in blocks))
            keys, indexes = [("sales_transactions", "line_id")], []
            foreign = [("sales_transactions", t[:-1] + "_id", t) for t in parents]
            foreign.append(("sales_transactions", "returned_line_id", "sales_transactions"))
            if headers:
                cur.execute(
                    "CREATE TABLE invoices (invoice_id text NOT NULL, customer_id integer NOT NULL, "
                    "store_id integer NOT NULL, is_credit smallint NOT NULL, invoice_date date NOT NULL, "
                    "invoiced_at timestamp NOT NULL, due_on date NOT NULL, currency_code text NOT NULL, "
                    "total numeric(14,2) NOT NULL, total_company numeric(14,2) NOT NULL, order_id text)"
                )
                blocks = header_blocks(headers, n_customers, n_days, orders)
                _copy(cur, "invoices", HEADER_ROW, (header_copy_rows(b, first_day) for b in blocks))
                keys.append(("invoices", "invoice_id"))
                foreign += [("invoices", column, parent) for column, parent in
                            (("customer_id", "customers"), ("store_id", "stores"), ("currency_code", "currencies"))]  # fmt: skip
                indexes.append(("invoices", "customer_id"))
            if orders:
                for table, count, row, make, encode in (
                    ("sales_orders", orders, ORDER_ROW, order_blocks, order_copy_rows),
                    ("deliveries", deliveries, DELIVERY_ROW, delivery_blocks, delivery_copy_rows),
                    ("payments", payments, PAYMENT_ROW, payment_blocks, payment_copy_rows),
                ):
                    cur.execute(f"CREATE TABLE {table} ({DOCUMENT_TABLES[table]})")
                    _copy(cur, table, row, (encode(b, first_day) for b in make(count, n_customers, n_days)))
                keys += DOCUMENT_KEYS.items()
                foreign += DOCUMENT_FOREIGN_KEYS
                indexes += DOCUMENT_INDEXES
            # as erpgen after its load: every primary key, then the foreign keys, then the indexes
            for table, column in keys:
                cur.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({column})")
            for table, column, parent in foreign:
                cur.execute(f"ALTER TABLE {table} ADD FOREIGN KEY ({column}) REFERENCES {parent}")
            for table, column in indexes:
                cur.execute(f"CREATE INDEX ON {table} ({column})")
        return time.perf_counter() - started


def _moments(start: np.datetime64, day: np.ndarray, second: np.ndarray) -> list[str]:
    """'YYYY-MM-DD HH:MM:SS' of `second` on `day` days after `start`."""
    at = (start + (day * 86_400 + second).astype("timedelta64[s]")).astype(str)
    return np.char.replace(at, "T", " ").tolist()


def reference_sqlite(
    n: int, n_customers: int, date_from: dt.date, headers: int = 0, orders: int = 0, deliveries: int = 0,
    payments: int = 0,
) -> float:  # fmt: skip
    """Seconds to load n rows as Python tuples with one executemany transaction into a new SQLite file
    (journal off, as for a private scratch file), then build the two secondary indexes; and as many rows as
    given of the invoices table's shape and of the order-to-cash tables' (with their CHECKs) the same way,
    with their keys and indexes."""
    n_days = (DATE_TILL - date_from).days + 1
    iso = np.array([(date_from + dt.timedelta(days=d)).isoformat() for d in range(n_days)])
    start = np.datetime64(date_from, "s")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        conn = sqlite3.connect(Path(tmp, "reference.db"), isolation_level=None)
        for sql in ("PRAGMA journal_mode=OFF", "PRAGMA synchronous=OFF", "BEGIN"):
            conn.execute(sql)
        conn.execute(
            "CREATE TABLE sales_transactions (line_id INTEGER PRIMARY KEY, invoice_id TEXT NOT NULL, "
            "customer_id INTEGER NOT NULL, invoice_date DATE NOT NULL, product_id INTEGER NOT NULL, "
            "quantity NUMERIC NOT NULL, revenue NUMERIC NOT NULL, store_id INTEGER NOT NULL, "
            "unit_price NUMERIC NOT NULL, returned_line_id INTEGER, order_id TEXT, return_reason TEXT)"
        )
        reasons = np.array(list(RETURN_REASONS), dtype=object)
        for b in fact_blocks(n, n_customers, n_days, orders):
            nulls = [None] * len(b["line_id"])
            rows = zip(
                b["line_id"].tolist(), b["invoice_id"].astype("U19").tolist(), b["customer_id"].tolist(),
                iso[b["day"]].tolist(), b["product_id"].tolist(), (b["quantity_milli"] / 1000).tolist(),
                (b["revenue_cents"] / 100).tolist(), b["store_id"].tolist(),
                (b["unit_price_cents"] / 100).tolist(),
                np.where(b["is_return"], b["line_id"] - 1, None).tolist(),
                nulls if b["order_id"] is None else b["order_id"].astype("U19").tolist(),
                np.where(b["is_return"], reasons[b["reason"]], None).tolist(),
            )  # fmt: skip
            conn.executemany(
                "INSERT INTO sales_transactions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
            )
        for column in ("customer_id", "invoice_date"):
            conn.execute(f"CREATE INDEX ix_sales_{column} ON sales_transactions ({column})")
        if headers:
            conn.execute(
                "CREATE TABLE invoices (invoice_id TEXT NOT NULL, customer_id INTEGER NOT NULL, "
                "store_id INTEGER NOT NULL, is_credit INTEGER NOT NULL, invoice_date DATE NOT NULL, "
                "invoiced_at DATETIME NOT NULL, due_on DATE NOT NULL, currency_code TEXT NOT NULL, "
                "total NUMERIC NOT NULL, total_company NUMERIC NOT NULL, order_id TEXT)"
            )
            for b in header_blocks(headers, n_customers, n_days, orders):
                total = (b["total_cents"] / 100).tolist()
                rows = zip(
                    b["invoice_id"].astype("U19").tolist(), b["customer_id"].tolist(), b["store_id"].tolist(),
                    b["is_credit"].astype(int).tolist(), iso[b["day"]].tolist(), _moments(start, b["day"], b["second"]),
                    iso[np.minimum(b["day"] + b["due_days"], n_days - 1)].tolist(), ["USD"] * len(total),
                    total, total, [None] * len(total) if b["order_id"] is None else b["order_id"].astype("U19").tolist(),
                )  # fmt: skip
                conn.executemany("INSERT INTO invoices VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            conn.execute("CREATE UNIQUE INDEX pk_invoices ON invoices (invoice_id)")
            conn.execute("CREATE INDEX ix_invoices_customer_id ON invoices (customer_id)")
        if orders:
            for table in DOCUMENT_TABLES:
                conn.execute(f"CREATE TABLE {table} ({DOCUMENT_TABLES[table]})")
            statuses = np.array(list(ORDER_STATUSES), dtype=object)
            for b in order_blocks(orders, n_customers, n_days):
                rows = zip(
                    b["order_id"].astype("U19").tolist(), b["customer_id"].tolist(), b["store_id"].tolist(),
                    iso[b["day"]].tolist(), _moments(start, b["day"], b["second"]), ["USD"] * len(b["day"]),
                    statuses[b["status"]].tolist(),
                    np.where(b["cancelled_day"] < 0, None, iso[b["cancelled_day"]]).tolist(),
                )  # fmt: skip
                conn.executemany("INSERT INTO sales_orders VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            for b in delivery_blocks(deliveries, n_customers, n_days):
                rows = zip(
                    b["order_id"].astype("U19").tolist(), b["customer_id"].tolist(), iso[b["shipped"]].tolist(),
                    iso[b["promised"]].tolist(), np.where(b["delivered"] < 0, None, iso[b["delivered"]]).tolist(),
                )  # fmt: skip
                conn.executemany("INSERT INTO deliveries VALUES (?, ?, ?, ?, ?)", rows)
            methods = np.array(list(PAYMENT_METHODS), dtype=object)
            for b in payment_blocks(payments, n_customers, n_days):
                rows = zip(
                    b["payment_id"].astype("U19").tolist(), b["invoice_id"].astype("U19").tolist(),
                    b["customer_id"].tolist(), iso[b["day"]].tolist(), methods[b["method"]].tolist(),
                    ["USD"] * len(b["day"]), (b["amount_cents"] / 100).tolist(),
                )  # fmt: skip
                conn.executemany("INSERT INTO payments VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            for table, key in DOCUMENT_KEYS.items():
                conn.execute(f"CREATE UNIQUE INDEX pk_{table} ON {table} ({key})")
            for table, column in DOCUMENT_INDEXES:
                conn.execute(f"CREATE INDEX ix_{table}_{column} ON {table} ({column})")
        conn.execute("COMMIT")
        conn.close()
        return time.perf_counter() - started


def reference_seconds(m: Measurement, server: URL) -> float | None:
    """Seconds of `m`'s reference for m.lines rows (None for the file exports and DuckDB). It runs in a newly spawned
    process because a child's ru_maxrss starts at its parent's peak RSS (exec records the high-water
    mark of the address space it replaces), so this process must stay small."""
    if m.key == "original":  # the original generator's seconds for as many lines
        return m.lines / ORIGINAL_LINES_PER_S
    if m.target in ("Parquet", "CSV", "DuckDB", "Delta"):  # no raw loader to compare with
        return None
    call = (reference_pg, server) if m.target == "PostgreSQL" else (reference_sqlite,)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        counts = (m.headers, m.orders, m.deliveries, m.payments)
        return pool.submit(*call, m.lines, m.customers, m.date_from, *counts).result()


def first_line(exc: Exception, server: URL) -> str:
    """The first line of an error's message (its type when it has none), without any password."""
    text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    text = text.replace(server.password, "***") if server.password else text
    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)


def measure(m: Measurement, args: argparse.Namespace, server: URL, tmp: str) -> None:
    """Run erpgen then its reference args.runs times, alternating so both see the same machine; keep the
    median seconds of each and the largest peaks of memory. A failure ends the line with its message."""
    erpgen_s, rss, total, reference_s, own = [], [], [], [], []
    try:
        for run in range(args.runs):
            seconds, peak, all_processes, m.lines, own_usage = run_erpgen(m, args.workers, server, tmp, run)
            own.append(own_usage)
            erpgen_s.append(seconds)
            rss.append(peak)
            total.append(all_processes)
            if (reference := reference_seconds(m, server)) is not None:
                reference_s.append(reference)
    except Exception as exc:  # the table still prints; the line says what failed
        if not erpgen_s:
            m.error = f"failed: {first_line(exc, server)}"
            return
        m.note = f"  reference of '{m.what}' failed: {first_line(exc, server)}"
    m.seconds, m.rss_mib, m.total_mib = statistics.median(erpgen_s), max(rss), max(total)
    m.client_cpu_s = statistics.median(cpu for cpu, _ in own)
    m.client_mib = max(mib for _, mib in own)
    m.lps = m.lines / m.seconds
    if reference_s:
        m.reference_lps = m.lines / statistics.median(reference_s)
        m.ratio = m.lps / m.reference_lps


LINE = "{:<40} {:>10} {:>8} {:>10} {:>11} {:>6} {:>8} {:>8}"
TARGETS = [  # (target, measurement, figure, format, whether the figure must be at least the limit, limit)
    ("PostgreSQL ratio >= 0.6", "pg", "ratio", "{:.2f}", True, 0.6),
    ("SQLite ratio >= 0.6", "sqlite", "ratio", "{:.2f}", True, 0.6),
    ("300k x 15y into PostgreSQL < 120 s", "big", "seconds", "{:.1f} s", False, 120),
    (">= 10x the original (290,000 lines/s)", "original", "ratio", "{:.1f}x", True, 10),
    ("peak memory < 1024 MiB", "largest", "total_mib", "{:.0f} MiB", False, 1024),
    ("memory flat, 50k -> 300k (<= +5%)", "pg_growth", "growth", "{:+.0%}", False, 0.05),
    ("memory flat, 50k -> 300k (<= +5%)", "parquet_growth", "growth", "{:+.0%}", False, 0.05),
    ("Parquet >= 1,000,000 lines/s", "parquet", "lps", "{:,.0f} lines/s", True, 1_000_000),
    ("Parquet >= 1,000,000 lines/s", "bigparquet", "lps", "{:,.0f} lines/s", True, 1_000_000),
    ("CSV >= 1,000,000 lines/s", "csv", "lps", "{:,.0f} lines/s", True, 1_000_000),
]


def report(done: list[Measurement], big: bool) -> None:
    """The table, one line per measurement, then each target beside its measured value."""
    print("\n" + LINE.format("", "", "", "", "", "", "peak MiB", "peak MiB"))
    print(LINE.format("what", "lines", "seconds", "lines/s", "ref lines/s", "ratio", "RSS", "all"))
    for m in done:
        ref, ratio = (f"{m.reference_lps:,.0f}", f"{m.ratio:.2f}") if m.ratio else ("-", "-")
        figures = (f"{m.lines:,}", f"{m.seconds:.2f}", f"{m.lps:,.0f}", ref, ratio, f"{m.rss_mib:.0f}",
                   f"{m.total_mib:.0f}")  # fmt: skip
        print(f"{m.what:<40} {m.error}" if m.error else LINE.format(m.what, *figures))
    if clients := [m for m in done if m.engine and not m.error]:
        print("\nthe Dask client (erpgen's own process; scheduler and workers are others)")
        print("{:<40} {:>10} {:>14} {:>14}".format("what", "lines", "client CPU s", "client MiB"))
        for m in clients:
            print(f"{m.what:<40} {m.lines:>10,} {m.client_cpu_s:>14.2f} {m.client_mib:>14.0f}")
    print("".join(f"{m.note}\n" for m in done if m.note) + "\ntargets:")
    ok = {m.key: m for m in done if not m.error}
    ok["largest"] = max(ok.values(), key=lambda m: m.total_mib, default=None)
    for small, large in (("pg", "big"), ("parquet", "bigparquet")):
        if small in ok and large in ok:  # the memory of all processes, from the default run to the big one
            growth = ok[large].total_mib / ok[small].total_mib - 1
            ok[f"{small}_growth"] = SimpleNamespace(
                growth=growth,
                what=f"{ok[small].target}, {ok[small].total_mib:.0f} -> {ok[large].total_mib:.0f} MiB",
            )
    for target, key, figure, fmt, at_least, limit in TARGETS:
        if (value := getattr(ok.get(key), figure, None)) is None:
            shown, verdict = "-", "not measured"
        else:
            shown = f"{fmt.format(value)} ({ok[key].what})"
            verdict = "met" if (value >= limit) == at_least else "NOT met"
        if big or key not in ("big", "bigparquet", "pg_growth", "parquet_growth"):
            print(f"  {target:<38} {shown:<50} {verdict}")
    if (original := ok.get("original")) is not None:
        theirs = original.customers * ORIGINAL_LINES_PER_CUSTOMER / ORIGINAL_LINES_PER_S
        print(
            f"\nthe original's workload ({original.customers:,} customers x 11 years): it makes about "
            f"{original.customers * ORIGINAL_LINES_PER_CUSTOMER:,.0f} lines in about {theirs:.0f} s (19 minutes for 300k "
            f"customers, issue 4); erpgen's model makes {original.lines:,} lines for them in {original.seconds:.1f} s, "
            f"{theirs / original.seconds:.0f}x less time"
        )


EXTEND_TILL = dt.date(DATE_TILL.year + 1, 12, 31)  # one year more


def compile_bytecode() -> None:
    """erpgen's modules compiled once, as `pip install` leaves them: where PYTHONDONTWRITEBYTECODE is set (as
    on this workplace's machines) every erpgen process would compile each of them again, about 0.1 s of
    every figure below that is no part of erpgen's work. (The files go to erpgen/__pycache__, ignored by
    git.)"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(CLI.parent / "erpgen")],
        env=env,
        check=True,
        capture_output=True,
    )


def _timed(cmd: list[str], env: dict, cwd: str) -> tuple[float, str]:
    """Seconds of one erpgen process, and what it printed; an error holding its last stderr line."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode:
        raise RuntimeError(
            proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        )
    return seconds, proc.stdout


def measure_extend(target: str, customers: int, server: URL, tmp: str, runs: int) -> str:
    """`erpgen generate` of `customers` x 11 years, then `erpgen extend` of that dataset by one year,
    each timed end to end in its own process, `runs` times (medians): one line of the extend table."""
    generate_s, extend_s, added = [], [], 0
    try:
        for run in range(runs):
            with contextlib.ExitStack() as stack:
                env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
                if target == "PostgreSQL":
                    env["DATABASE_URL"] = stack.enter_context(fresh_database(server, f"extend_{run}"))
                else:
                    path = Path(tmp, f"extend-{run}.db")
                    env["DATABASE_URL"] = f"sqlite:///{path}"
                    stack.callback(lambda path=path: path.unlink(missing_ok=True))
                generate = [sys.executable, str(CLI), "generate", "--n-customers", str(customers), "--seed", "42",
                            "--date-from", str(ELEVEN_YEARS), "--date-till", str(DATE_TILL), "-q"]  # fmt: skip
                generate_s.append(_timed(generate, env, tmp)[0])
                seconds, printed = _timed(
                    [sys.executable, str(CLI), "extend", "--till", str(EXTEND_TILL)], env, tmp
                )
                extend_s.append(seconds)
                found = re.search(r"^\s*sales_transactions\s+([\d,]+) rows added", printed, re.M)
                added = int(found.group(1).replace(",", "")) if found else 0
    except Exception as exc:
        return f"{target:<12} failed: {first_line(exc, server)}"
    g, e = statistics.median(generate_s), statistics.median(extend_s)
    verdict = "met" if e < g / 3 else "NOT met"
    return f"{target:<12} {g:>10.2f} {e:>9.2f} {e / g:>7.0%} {added:>12,}   (< 1/3: {verdict})"


def main() -> int:
    """Parse the options, print the machine, run the measurements, print the table and the targets."""
    p = argparse.ArgumentParser(description="Benchmark erpgen against a raw reference loader, in one run.")
    p.add_argument("--customers", type=int, default=50_000, help="customers of the 11-year runs (50000)")
    p.add_argument(
        "--big", action="store_true", help="also 300,000 customers x 15 years (PostgreSQL, Parquet)"
    )
    p.add_argument("--workers", type=int, default=1, help="erpgen --workers for every erpgen run (1)")
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres", help="server to use")
    p.add_argument("--skip-pg", action="store_true", help="no PostgreSQL measurements")
    p.add_argument("--skip-sqlite", action="store_true", help="no SQLite measurements (nor the original's)")
    p.add_argument("--skip-parquet", action="store_true", help="no Parquet measurement")
    p.add_argument("--skip-csv", action="store_true", help="no CSV measurement")
    p.add_argument("--skip-duckdb", action="store_true", help="no DuckDB measurement")
    p.add_argument("--skip-delta", action="store_true", help="no Delta Lake measurement")
    p.add_argument("--dask", action="store_true", help="also --engine dask with 1 and 2 local workers")
    p.add_argument(
        "--dask-client",
        action="store_true",
        help="only the Dask client's own CPU and memory: Parquet, 2 workers, 3 years, 50k/200k/1M customers",
    )
    p.add_argument("--runs", type=int, default=1, help="runs of each measurement, median reported (1)")
    p.add_argument(
        "--extend", action="store_true", help="only: generate, then extend by one year (SQLite, PostgreSQL)"
    )
    args = p.parse_args()
    server, pg_version = make_url(args.pg_url), "skipped"
    if not args.skip_pg:
        try:
            with psycopg.connect(libpq_url(server), connect_timeout=10) as conn:
                pg_version = conn.execute("SHOW server_version").fetchone()[0]
        except psycopg.Error as exc:
            pg_version = f"unreachable: {first_line(exc, server)}"
    versions = f"numpy {np.__version__}, psycopg {psycopg.__version__}, SQLite {sqlite3.sqlite_version}"
    print(f"machine: nproc {len(os.sched_getaffinity(0))}, Python {sys.version.split()[0]}, {versions}")
    print(f"PostgreSQL {pg_version} ({server.render_as_string(hide_password=True)})")
    print(f"erpgen: {CLI} generate --workers {args.workers} --seed 42; median of {args.runs} run(s)")
    compile_bytecode()
    c, pg, sq = args.customers, not args.skip_pg, not args.skip_sqlite
    if args.extend:
        print(
            f"\ngenerate {c / 1000:g}k x 11y ({ELEVEN_YEARS}..{DATE_TILL}), then extend --till {EXTEND_TILL}:"
        )
        print(f"{'target':<12} {'generate s':>10} {'extend s':>9} {'share':>7} {'lines added':>12}")
        with tempfile.TemporaryDirectory(prefix="erpgen-bench-") as tmp:
            for target, wanted in (("SQLite", sq), ("PostgreSQL", pg)):
                if wanted:
                    print(measure_extend(target, c, server, tmp, args.runs), flush=True)
        return 0
    plan = [  # (wanted, key, target, customers, first day)
        (pg, "pg", "PostgreSQL", c, ELEVEN_YEARS),
        (pg and args.big, "big", "PostgreSQL", 300_000, FIFTEEN_YEARS),
        (sq, "sqlite", "SQLite", c, ELEVEN_YEARS),
        (not args.skip_duckdb, "duckdb", "DuckDB", c, ELEVEN_YEARS),
        (not args.skip_parquet, "parquet", "Parquet", c, ELEVEN_YEARS),
        (not args.skip_delta, "delta", "Delta", c, ELEVEN_YEARS),
        (not args.skip_parquet and args.big, "bigparquet", "Parquet", 300_000, FIFTEEN_YEARS),
        (not args.skip_csv, "csv", "CSV", c, ELEVEN_YEARS),
        (sq, "original", "SQLite", 10_000, ELEVEN_YEARS),
    ]
    todo = [Measurement(*spec) for wanted, *spec in plan if wanted]
    if (
        args.dask_client
    ):  # whether the client's work stays flat as the customers grow (the cluster's does not)
        todo = [
            Measurement(f"client{n}", "Parquet", n, THREE_YEARS, engine="dask 2")
            for n in (50_000, 200_000, 1_000_000)
        ]
    if args.dask:  # scale-out: the same Parquet and PostgreSQL runs on a cluster of 1 and 2 workers
        for n in (1, 2):
            for key, target, wanted in (("parquet", "Parquet", True), ("pg", "PostgreSQL", pg)):
                if wanted:
                    todo.append(Measurement(f"dask{n}_{key}", target, c, ELEVEN_YEARS, engine=f"dask {n}"))
    with tempfile.TemporaryDirectory(prefix="erpgen-bench-") as tmp:
        for m in todo:
            print(f"  measuring {m.what} ...", file=sys.stderr, flush=True)
            measure(m, args, server, tmp)
    report(todo, args.big)
    return 0


if __name__ == "__main__":
    sys.exit(main())
