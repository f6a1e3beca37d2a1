"""Benchmark `erpgen live` (run by hand, never by pytest): does it keep up, and does its memory stay flat?

Loads N customers x 11 years ending yesterday into a fresh PostgreSQL database (or a SQLite file), then
runs `erpgen live --speed S --for T` in its own process and samples, every few seconds, its resident
memory (/proc) and where its data stands (the run record). It keeps up when the data moves on at the
clock's pace: simulated seconds committed per second of wall time / speed, between samples, near 1, and
the distance to the clock does not grow. Prints both over time and a summary; always exits 0. See
bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]  # this tree's erpgen and bench.py

from sqlalchemy import create_engine  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench import fresh_database  # noqa: E402
from erpgen import runlog  # noqa: E402

COMMITTED = re.compile(r"^erpgen live: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")


def reached(url: str) -> dt.datetime | None:
    """Where the data stands: the latest run record's covers_till and covers_till_second."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            record = runlog.latest_run(conn)
    finally:
        engine.dispose()
    if record is None:
        return None
    second = record["covers_till_second"]
    return dt.datetime.combine(record["covers_till"], dt.time()) + dt.timedelta(
        seconds=86_399 if second is None else second
    )


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=50_000)
    p.add_argument("--speed", type=float, default=86_400)
    p.add_argument("--for", dest="run_for", type=float, default=600, help="seconds of live (default 600)")
    p.add_argument("--sample", type=float, default=10, help="seconds between samples (default 10)")
    p.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = p.parse_args()

    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    first = yesterday.replace(year=yesterday.year - 11) + dt.timedelta(days=1)
    cli = [sys.executable, str(REPO / "cli.py")]
    with _target(args) as url:
        load = [*cli, "generate", "--database-url", url, "--n-customers", str(args.customers),
                "--date-from", str(first), "--date-till", str(yesterday), "-q"]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(load, check=True, stdout=subprocess.DEVNULL)
        print(
            f"loaded {args.customers:,} customers {first}..{yesterday} in {time.perf_counter() - started:.1f} s"
        )
        proc = subprocess.Popen(
            [*cli, "live", "--database-url", url, "--speed", f"{args.speed:g}", "--for", f"{args.run_for:g}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        wall0 = time.monotonic()
        feeding = threading.Event()  # set at live's first commit, after the catch-up
        summary: list[str] = []

        def read() -> None:
            for line in proc.stdout:  # type: ignore[union-attr]
                if COMMITTED.match(line):
                    feeding.set()
                elif line.startswith("erpgen: live on"):
                    summary.append(line.strip())

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        samples: list[tuple[float, float, float, dt.datetime]] = []  # (wall s, RSS MiB, pace, where)
        print(f"{'wall s':>8} {'RSS MiB':>8} {'pace':>6}  data reaches")
        while proc.poll() is None:
            time.sleep(args.sample)
            rss, stands = rss_mib(proc.pid), reached(url)
            elapsed = time.monotonic() - wall0
            if rss is None or stands is None or not feeding.is_set():  # not live yet (loading, catching up)
                continue
            pace = float("nan")
            if samples:
                moved = (stands - samples[-1][3]).total_seconds()
                pace = moved / (elapsed - samples[-1][0]) / args.speed
            samples.append((elapsed, rss, pace, stands))
            print(f"{elapsed:8.0f} {rss:8.1f} {pace:6.2f}  {stands}")
        reader.join(timeout=10)
    if len(samples) > 2:
        rss = [s[1] for s in samples]
        paces = [s[2] for s in samples[1:]]
        half = len(rss) // 2
        span = (
            (samples[-1][3] - samples[0][3]).total_seconds() / (samples[-1][0] - samples[0][0]) / args.speed
        )
        print(
            f"RSS MiB: min {min(rss):.1f}, max {max(rss):.1f}, median of the first half "
            f"{statistics.median(rss[:half]):.1f}, of the second half {statistics.median(rss[half:]):.1f}"
        )
        print(
            f"pace (1.00: the data moves as fast as the clock): over the whole run {span:.3f}, between samples "
            f"median {statistics.median(paces):.2f}, min {min(paces):.2f}, max {max(paces):.2f}"
        )
    print(*summary, sep="\n")
    return 0


class _target:
    """A fresh PostgreSQL database (dropped afterwards), or a SQLite file in a temporary directory."""

    def __init__(self, args):
        self.args = args

    def __enter__(self) -> str:
        if self.args.sqlite:
            import tempfile

            self.tmp = tempfile.TemporaryDirectory()
            return f"sqlite:///{self.tmp.name}/live.db"
        self.db = fresh_database(make_url(self.args.pg_url), "live")
        return self.db.__enter__()

    def __exit__(self, *exc):
        if self.args.sqlite:
            self.tmp.cleanup()
        else:
            self.db.__exit__(*exc)


if __name__ == "__main__":
    raise SystemExit(main())
