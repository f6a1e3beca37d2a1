"""Every range a business could mean, 1900-01-01 to 2199-12-31, loads on every target with the same
realism; dates outside it are refused at once (test_bad_input). Before 1970 day numbers are negative,
which once read as "no date": a range in the 1960s looped for minutes, then failed on a NULL created_at.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import erpgen
from erpgen.digest import csv_digests, parquet_digests

from .conftest import REPO, run_process
from .helpers import digests

FIRST, LAST = dt.date(1900, 1, 1), dt.date(2199, 12, 31)
MAX_DAYS = int(50 * 365.25)  # erpgen's limit on a range's length (config.MAX_YEARS)
CYCLE = dt.timedelta(days=28 * 365 + 7)  # 28 years: the same weekdays and leap days, from 1901 to 2099
DATE_COLUMNS = {
    "customers": ("created_at",),
    "sales_transactions": ("invoice_date",),
    "customer_lifecycle": ("acquired_on", "first_purchase_on", "lost_on"),
    "lifecycle_events": ("event_date",),
}
MOMENT_COLUMNS = {"sales_transactions": ("invoiced_at",)}  # a date and a time of day


def _load(path: Path, date_from: dt.date, date_till: dt.date, n: int = 80, seed: int = 3) -> str:
    url = f"sqlite:///{path}"
    erpgen.generate(database_url=url, n_customers=n, date_from=date_from, date_till=date_till, seed=seed)
    return url


def _integrity_is_clean(url: str) -> None:
    report = erpgen.validate(database_url=url)
    failed = [c.name for c in report.checks if c.group == "integrity" and not c.ok]
    assert failed == [], report.render()


def _dates_within(path: Path, date_from: dt.date, date_till: dt.date) -> None:
    with sqlite3.connect(path) as con:
        for table, columns in DATE_COLUMNS.items():
            for column in columns:
                lo, hi = con.execute(f"SELECT min({column}), max({column}) FROM {table}").fetchone()
                if lo is None:  # every value NULL (nobody lost within a short range)
                    continue
                assert str(date_from) <= lo <= hi <= str(date_till), (table, column, lo, hi)
        assert con.execute("SELECT count(*) FROM customers WHERE created_at IS NULL").fetchone() == (0,)


def test_a_range_in_the_1960s_loads_at_once(tmp_path):
    """The reported command, as a user runs it: it hung for minutes (a timeout here), then failed."""
    db = tmp_path / "old.db"
    r = run_process(
        [sys.executable, str(REPO / "cli.py"), "generate", "--n-customers", "200", "--date-from", "1960-01-01",
         "--date-till", "1961-12-31", "--database-url", f"sqlite:///{db}", "-q"],
        cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert r.code == 0, r
    _dates_within(db, dt.date(1960, 1, 1), dt.date(1961, 12, 31))
    _integrity_is_clean(f"sqlite:///{db}")


EDGES = [
    ("1900-01-01", "1900-01-01"),  # the first day, alone
    ("1904-02-29", "1904-02-29"),  # a leap day, alone
    ("1969-12-01", "1970-01-31"),  # across the epoch of day numbers
    ("2037-12-01", "2038-02-28"),  # across the end of 32-bit Unix time
    ("2199-12-31", "2199-12-31"),  # the last day
]


def test_edge_ranges_give_the_same_data_on_every_target(erpgen, tmp_path, pg_url, mysql_url):
    """SQLite, PostgreSQL, MariaDB, CSV and Parquet hold the same rows for each edge of the span."""
    for date_from, date_till in EDGES:
        here = tmp_path / date_from
        args = ["generate", "-q", "--replace", "--n-customers", "80", "--seed", "5",
                "--date-from", date_from, "--date-till", date_till]  # fmt: skip
        sqlite = f"sqlite:///{here / 'erpgen.db'}"
        here.mkdir()
        r = erpgen(*args, "--database-url", sqlite, "--csv-dir", here / "csv", "--parquet-dir", here / "pq")
        assert r.code == 0, r
        expected = digests(sqlite)
        assert parquet_digests(here / "pq") == expected
        assert csv_digests(here / "csv") == digests(sqlite, seed_columns_only=True)
        for url in (pg_url, mysql_url):
            assert erpgen(*args, "--database-url", url).code == 0
            assert digests(url) == expected, (url, date_from)
            _integrity_is_clean(url)
        _dates_within(here / "erpgen.db", dt.date.fromisoformat(date_from), dt.date.fromisoformat(date_till))


@st.composite
def ranges(draw, first=FIRST, last=LAST):
    """A range within first..last: one day, days, months, years or the longest allowed, often starting
    or ending on a leap day, the epoch of day numbers or the end of 32-bit Unix time."""
    anchors = [dt.date(1904, 2, 29), dt.date(1969, 12, 31), dt.date(2000, 2, 29), dt.date(2038, 1, 19)]
    start = draw(
        st.one_of(st.dates(first, last), st.sampled_from([a for a in anchors if first <= a <= last]))
    )
    days = draw(st.sampled_from([1, 2, 31, 366, 3 * 365, 12 * 365, MAX_DAYS]))
    days = draw(st.integers(1, days))
    if draw(st.booleans()):  # end on the anchor rather than start there
        start -= dt.timedelta(days=days - 1)
    start = max(first, start)
    return start, min(last, start + dt.timedelta(days=days - 1))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ranges())
def test_any_range_of_the_span_loads_with_clean_integrity(span):
    """Business figures need more customers than a property test can afford (the calibration holds them
    to the scenario's targets on its pilot sample); the integrity of every load must be exact."""
    date_from, date_till = span
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "erpgen.db"
        url = _load(path, date_from, date_till)
        _dates_within(path, date_from, date_till)
        _integrity_is_clean(url)


def _shifted_moment(text: str, shift: dt.timedelta) -> str:
    day, _, time_of_day = text.partition(" ")
    return f"{dt.date.fromisoformat(day) + shift} {time_of_day}"


def _rows(path: Path, shift: dt.timedelta = dt.timedelta(0)) -> dict[str, list[tuple]]:
    """Every erpgen table's rows in key order, with their dates moved by `shift`."""
    out = {}
    with sqlite3.connect(path) as con:
        for table, dated in DATE_COLUMNS.items():
            cursor = con.execute(f"SELECT * FROM {table} ORDER BY 1, 2")
            names = [d[0] for d in cursor.description]
            out[table] = [
                tuple(
                    str(dt.date.fromisoformat(v) + shift)
                    if name in dated and v is not None
                    else _shifted_moment(v, shift)
                    if name in MOMENT_COLUMNS.get(table, ()) and v is not None
                    else v
                    for name, v in zip(names, row)
                )
                for row in cursor
            ]
    return out


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ranges(first=dt.date(1901, 1, 1), last=dt.date(2071, 12, 31)))
def test_a_range_and_the_same_range_28_years_later_hold_the_same_rows(span):
    """Same realism everywhere in the span: 28 years on, the calendar repeats (weekdays, leap days), so
    the same parameters must give the same customers and sales, their dates moved by 28 years, whether
    the range lies before 1970, across it or after it."""
    date_from, date_till = span
    assume(date_till + CYCLE <= dt.date(2099, 12, 31))
    with tempfile.TemporaryDirectory() as tmp:
        early, late = Path(tmp) / "early.db", Path(tmp) / "late.db"
        _load(early, date_from, date_till, n=60)
        _load(late, date_from + CYCLE, date_till + CYCLE, n=60)
        assert _rows(early, CYCLE) == _rows(late)


@pytest.mark.parametrize("date_from, date_till", [("1699-12-31", "1700-12-31"), ("2199-06-01", "2200-01-01")])
def test_dates_outside_the_span_are_refused_at_once(erpgen, tmp_path, date_from, date_till):
    target = tmp_path / "never.db"
    r = erpgen("generate", "--database-url", f"sqlite:///{target}", "--date-from", date_from, "--date-till",
               date_till)  # fmt: skip
    assert r.code == 2 and "outside the dates erpgen simulates (1900-01-01..2199-12-31)" in r.err, r
    assert len(r.err.strip().splitlines()) == 1 and not target.exists()
