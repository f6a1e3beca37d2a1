"""Benchmark erpgen against a raw reference loader measured in the same run (run by hand, never by pytest).

Every erpgen run is a separate process, timed end to end (process start included), its peak RSS taken
from os.wait4. For as many fact rows, the reference generates rows of the fact table's shape with numpy
and loads them by the fastest raw path (binary COPY on PostgreSQL, one executemany transaction on
SQLite), so the machine's speed cancels in the ratio erpgen/reference. See bench/README.md.
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
ROW = np.dtype([
    ("nfields", ">i2"), ("line_id", INT8), ("invoice_id", _field("S19")), ("customer_id", INT4),
    ("invoice_date", INT4), ("product_id", INT4), ("quantity", NUMERIC), ("revenue", NUMERIC),
    ("store_id", INT4), ("unit_price", NUMERIC), ("returned_line_id", INT8),
])  # fmt: skip
INT2 = _field(">i2")
HEADER_ROW = np.dtype([
    ("nfields", ">i2"), ("invoice_id", _field("S19")), ("customer_id", INT4), ("store_id", INT4),
    ("is_credit", INT2), ("invoice_date", INT4), ("invoiced_at", INT8), ("due_on", INT4),
    ("currency_code", _field("S3")), ("total", NUMERIC), ("total_company", NUMERIC),
])  # fmt: skip


@dataclass
class Measurement:
    """One line of the table: which erpgen run, then its figures and its reference's."""

    key: str  # pg, big, sqlite, duckdb, parquet, bigparquet, delta, csv or original
    target: str  # PostgreSQL, SQLite, DuckDB, Parquet, Delta or CSV
    customers: int
    date_from: dt.date
    lines: int = 0
    headers: int = 0  # rows of the invoices table (a header per invoice id of the lines)
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
    headers = re.search(r"^\s*invoices\s+([\d,]+) rows", printed, re.M)
    m.headers = int(headers.group(1).replace(",", "")) if headers else 0
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


def fact_blocks(n: int, n_customers: int, n_days: int) -> Iterator[dict[str, np.ndarray]]:
    """The reference's n fact rows as numpy columns, BLOCK_ROWS at a time; ~2% are credit notes that
    return the line before them."""
    rng = np.random.default_rng(42)
    for start in range(0, n, BLOCK_ROWS):
        m = min(BLOCK_ROWS, n - start)
        line_id = np.arange(start + 1, start + m + 1, dtype=np.int64)
        is_return = (rng.random(m) < RETURN_SHARE) & (line_id > 1)
        quantity_milli = rng.integers(1, 7, m) * np.where(is_return, -1000, 1000)
        price_cents = rng.integers(199, 20_000, m)
        yield {
            "line_id": line_id,
            "invoice_id": invoice_ids(line_id, is_return),
            "customer_id": rng.integers(1, n_customers + 1, m),
            "day": rng.integers(0, n_days, m),  # days after the first day
            "product_id": rng.integers(1, N_PRODUCTS + 1, m),
            "quantity_milli": quantity_milli,
            "revenue_cents": quantity_milli * price_cents // 1000,
            "store_id": rng.integers(1, N_STORES + 1, m),
            "unit_price_cents": price_cents,
            "is_return": is_return,
        }


def invoice_ids(line_id: np.ndarray, is_return: np.ndarray) -> np.ndarray:
    """19-byte ids like 'INV-00000001-000001' (CRN- on credit notes), written digit by digit."""
    chars = np.empty((len(line_id), 19), np.uint8)
    chars[:, :4] = np.frombuffer(b"INV-", np.uint8)
    chars[is_return, :4] = np.frombuffer(b"CRN-", np.uint8)
    chars[:, 12] = ord("-")
    for number, first, width in (((line_id - 1) // 3 + 1, 4, 8), ((line_id - 1) % 3 + 1, 13, 6)):
        for k in range(width):
            chars[:, first + width - 1 - k] = 48 + number // 10**k % 10
    return chars.view("S19").ravel()


def copy_chunks(b: dict[str, np.ndarray], first_day: int) -> list[memoryview]:
    """A block as binary COPY rows: credit notes whole, sales without the 8 value bytes of their NULL
    returned_line_id (length -1). Row order does not matter to keys built after the load."""
    rows = np.empty(len(b["line_id"]), ROW)
    rows["nfields"] = len(ROW.names) - 1
    for name in ("line_id", "invoice_id", "customer_id", "product_id", "store_id", "invoice_date"):
        rows[name]["len"] = ROW[name]["v"].itemsize
        rows[name]["v"] = b[name] if name != "invoice_date" else first_day + b["day"]
    for name, scaled, scale in (("quantity", b["quantity_milli"], 3), ("revenue", b["revenue_cents"], 2),
                                ("unit_price", b["unit_price_cents"], 2)):  # fmt: skip
        _numeric(rows[name], scaled, scale)
    rows["returned_line_id"]["v"] = b["line_id"] - 1
    rows["returned_line_id"]["len"] = np.where(b["is_return"], 8, -1)
    raw = rows.view(np.uint8).reshape(len(rows), ROW.itemsize)
    return [raw[b["is_return"]].ravel().data, raw[~b["is_return"], :-8].ravel().data]


def _numeric(field: np.ndarray, scaled: np.ndarray, scale: int) -> None:
    """Binary COPY numerics of `scaled` (integer units of 10^-scale) into a NUMERIC field column."""
    whole, frac = np.divmod(np.abs(scaled), 10**scale)
    field["len"], v = NUMERIC.itemsize - 4, field["v"]
    v["ndigits"], v["weight"], v["dscale"], v["sign"] = 4, 2, scale, np.where(scaled < 0, 0x4000, 0)
    digits = whole // 10**8, whole // 10**4 % 10**4, whole % 10**4, frac * 10 ** (4 - scale)
    v["digits"] = np.stack(digits, axis=1)


def header_blocks(n: int, n_customers: int, n_days: int) -> Iterator[dict[str, np.ndarray]]:
    """The reference's n invoice headers as numpy columns, BLOCK_ROWS at a time: the invoices table's
    shape, ~5% credit notes, due at once or 30 days on."""
    rng = np.random.default_rng(43)
    for start in range(0, n, BLOCK_ROWS):
        m = min(BLOCK_ROWS, n - start)
        number = np.arange(start + 1, start + m + 1, dtype=np.int64)
        is_credit = rng.random(m) < 0.05
        day = rng.integers(0, n_days, m)
        total_cents = rng.integers(199, 100_000, m) * np.where(is_credit, -1, 1)
        yield {
            "invoice_id": invoice_ids(number, is_credit),
            "customer_id": rng.integers(1, n_customers + 1, m),
            "store_id": rng.integers(1, N_STORES + 1, m),
            "is_credit": is_credit,
            "day": day,
            "second": rng.integers(0, 86_400, m),
            "due_days": np.where(rng.random(m) < 0.1, 30, 0),
            "total_cents": total_cents,
        }


def header_copy_rows(b: dict[str, np.ndarray], first_day: int) -> memoryview:
    rows = np.empty(len(b["invoice_id"]), HEADER_ROW)
    rows["nfields"] = len(HEADER_ROW.names) - 1
    day = first_day + b["day"]
    values = {"invoice_id": b["invoice_id"], "customer_id": b["customer_id"], "store_id": b["store_id"],
              "is_credit": b["is_credit"], "invoice_date": day, "due_on": day + b["due_days"],
              "invoiced_at": (day * 86_400 + b["second"]) * 1_000_000, "currency_code": b"USD"}  # fmt: skip
    for name, value in values.items():
        rows[name]["len"] = HEADER_ROW[name]["v"].itemsize
        rows[name]["v"] = value
    for name in ("total", "total_company"):
        _numeric(rows[name], b["total_cents"], 2)
    return rows.view(np.uint8).ravel().data


def reference_pg(server: URL, n: int, n_customers: int, date_from: dt.date, headers: int = 0) -> float:
    """Seconds to binary-COPY n rows into a bare table, then add its primary and foreign keys, and as much
    for `headers` rows of the invoices table's shape, in one transaction on a fresh database (connecting
    included; the small parent tables are made untimed)."""
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
                "unit_price numeric(12,2) NOT NULL, returned_line_id bigint)"
            )
            sql = "COPY sales_transactions FROM STDIN (FORMAT BINARY)"  # every column, in the table's order
            with cur.copy(sql, writer=QueuedLibpqWriter(cur)) as copy:
                copy.write(COPY_HEADER)
                for block in fact_blocks(n, n_customers, n_days):
                    for chunk in copy_chunks(block, first_day):
                        copy.write(chunk)
                copy.write(COPY_TRAILER)
            cur.execute("ALTER TABLE sales_transactions ADD PRIMARY KEY (line_id)")
            keys = [(t[:-1] + "_id", t) for t in parents] + [("returned_line_id", "sales_transactions")]
            for column, parent in keys:
                cur.execute(f"ALTER TABLE sales_transactions ADD FOREIGN KEY ({column}) REFERENCES {parent}")
            if headers:
                cur.execute(
                    "CREATE TABLE invoices (invoice_id text NOT NULL, customer_id integer NOT NULL, "
                    "store_id integer NOT NULL, is_credit smallint NOT NULL, invoice_date date NOT NULL, "
                    "invoiced_at timestamp NOT NULL, due_on date NOT NULL, currency_code text NOT NULL, "
                    "total numeric(14,2) NOT NULL, total_company numeric(14,2) NOT NULL)"
                )
                with cur.copy(
                    "COPY invoices FROM STDIN (FORMAT BINARY)", writer=QueuedLibpqWriter(cur)
                ) as copy:
                    copy.write(COPY_HEADER)
                    for block in header_blocks(headers, n_customers, n_days):
                        copy.write(header_copy_rows(block, first_day))
                    copy.write(COPY_TRAILER)
                cur.execute("ALTER TABLE invoices ADD PRIMARY KEY (invoice_id)")
                for column, parent in (("customer_id", "customers"), ("store_id", "stores"),
                                       ("currency_code", "currencies")):  # fmt: skip
                    cur.execute(f"ALTER TABLE invoices ADD FOREIGN KEY ({column}) REFERENCES {parent}")
                cur.execute("CREATE INDEX ON invoices (customer_id)")
        return time.perf_counter() - started


def reference_sqlite(n: int, n_customers: int, date_from: dt.date, headers: int = 0) -> float:
    """Seconds to load n rows as Python tuples with one executemany transaction into a new SQLite file
    (journal off, as for a private scratch file), then build the two secondary indexes; and `headers`
    rows of the invoices table's shape the same way, with its key and index."""
    n_days = (DATE_TILL - date_from).days + 1
    iso = np.array([(date_from + dt.timedelta(days=d)).isoformat() for d in range(n_days)])
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        conn = sqlite3.connect(Path(tmp, "reference.db"), isolation_level=None)
        for sql in ("PRAGMA journal_mode=OFF", "PRAGMA synchronous=OFF", "BEGIN"):
            conn.execute(sql)
        conn.execute(
            "CREATE TABLE sales_transactions (line_id INTEGER PRIMARY KEY, invoice_id TEXT NOT NULL, "
            "customer_id INTEGER NOT NULL, invoice_date DATE NOT NULL, product_id INTEGER NOT NULL, "
            "quantity NUMERIC NOT NULL, revenue NUMERIC NOT NULL, store_id INTEGER NOT NULL, "
            "unit_price NUMERIC NOT NULL, returned_line_id INTEGER)"
        )
        for b in fact_blocks(n, n_customers, n_days):
            rows = zip(
                b["line_id"].tolist(), b["invoice_id"].astype("U19").tolist(), b["customer_id"].tolist(),
                iso[b["day"]].tolist(), b["product_id"].tolist(), (b["quantity_milli"] / 1000).tolist(),
                (b["revenue_cents"] / 100).tolist(), b["store_id"].tolist(),
                (b["unit_price_cents"] / 100).tolist(),
                np.where(b["is_return"], b["line_id"] - 1, None).tolist(),
            )  # fmt: skip
            conn.executemany("INSERT INTO sales_transactions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        for column in ("customer_id", "invoice_date"):
            conn.execute(f"CREATE INDEX ix_sales_{column} ON sales_transactions ({column})")
        if headers:
            conn.execute(
                "CREATE TABLE invoices (invoice_id TEXT NOT NULL, customer_id INTEGER NOT NULL, "
                "store_id INTEGER NOT NULL, is_credit INTEGER NOT NULL, invoice_date DATE NOT NULL, "
                "invoiced_at DATETIME NOT NULL, due_on DATE NOT NULL, currency_code TEXT NOT NULL, "
                "total NUMERIC NOT NULL, total_company NUMERIC NOT NULL)"
            )
            start = np.datetime64(date_from, "s")
            for b in header_blocks(headers, n_customers, n_days):
                at = (start + (b["day"] * 86_400 + b["second"]).astype("timedelta64[s]")).astype(str)
                total = (b["total_cents"] / 100).tolist()
                rows = zip(
                    b["invoice_id"].astype("U19").tolist(), b["customer_id"].tolist(), b["store_id"].tolist(),
                    b["is_credit"].astype(int).tolist(), iso[b["day"]].tolist(), np.char.replace(at, "T", " ").tolist(),
                    iso[np.minimum(b["day"] + b["due_days"], n_days - 1)].tolist(), ["USD"] * len(total),
                    total, total,
                )  # fmt: skip
                conn.executemany("INSERT INTO invoices VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            conn.execute("CREATE UNIQUE INDEX pk_invoices ON invoices (invoice_id)")
            conn.execute("CREATE INDEX ix_invoices_customer_id ON invoices (customer_id)")
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
        return pool.submit(*call, m.lines, m.customers, m.date_from, m.headers).result()


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
