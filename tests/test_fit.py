"""erpgen fit on each kind of source (SQLite, PostgreSQL, CSV, Parquet), its bad inputs, and what leaves
the source: the same history gives the same scenario from every source, and only aggregates."""

from __future__ import annotations

import csv
import datetime as dt
import sqlite3
import tomllib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, text

from .helpers import assert_one_clean_line, assert_only_aggregates

COLUMNS = ("client", "sold_on", "email", "sku", "qty", "line_amount", "shop", "country_code", "receipt")


def _history(customers: int = 300, seed: int = 3) -> list[tuple]:
    """A small shop's lines: customers with hex ids and e-mails, products with names, receipts."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        ident, orders = f"cust-{rng.integers(16**8):08x}", 1 + int(rng.geometric(0.35)) - 1
        day = dt.date(2021, 1, 1) + dt.timedelta(days=int(rng.integers(0, 500)))
        shop, country = ("web-shop", "GB") if c % 3 else ("High Street", "DE")
        for o in range(max(1, orders)):
            for _ in range(1 + int(rng.integers(0, 2))):
                qty = int(rng.integers(1, 4)) * (-1 if rng.random() < 0.05 else 1)
                amount = round(qty * (9.0 + rng.random() * 40) + 0.01, 2)
                rows.append((ident, day.isoformat(), f"{ident}@example.org", f"Widget {rng.integers(40):02d}",
                             qty, amount, shop, country, f"R-{c:05d}-{o:03d}"))  # fmt: skip
            day += dt.timedelta(days=int(rng.integers(3, 120)))
            if day > dt.date(2023, 6, 30):
                break
    return rows


def _sqlite(path, rows) -> str:
    with sqlite3.connect(path) as con:
        con.execute(f"CREATE TABLE lines ({', '.join(COLUMNS)})")
        con.executemany(f"INSERT INTO lines VALUES ({', '.join('?' * len(COLUMNS))})", rows)
    return f"sqlite:///{path}"


def _csv(path, rows) -> str:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(rows)
    return str(path)


def _parquet(path, rows) -> str:
    cols = list(zip(*rows))
    table = pa.table({name: list(col) for name, col in zip(COLUMNS, cols)})
    table = table.set_column(1, "sold_on", pa.array([dt.date.fromisoformat(d) for d in cols[1]]))
    pq.write_table(table, path)
    return str(path)


ARGS = ["--customer", "client", "--date", "sold_on", "--amount", "line_amount", "--quantity", "qty",
        "--product", "sku", "--channel", "shop", "--country", "country_code", "--document", "receipt"]  # fmt: skip


@pytest.fixture(scope="module")
def rows():
    return _history()


def test_the_same_history_fits_the_same_twin_from_every_source(erpgen, rows, tmp_path, pg_url):
    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE lines (client text, sold_on date, email text, sku text, qty int, "
                          "line_amount numeric(10,2), shop text, country_code text, receipt text)"))  # fmt: skip
        conn.execute(text(f"INSERT INTO lines VALUES ({', '.join(':' + c for c in COLUMNS)})"),
                     [dict(zip(COLUMNS, r)) | {"sold_on": dt.date.fromisoformat(r[1])} for r in rows])  # fmt: skip
    engine.dispose()
    sources = {
        "sqlite": ["--database-url", _sqlite(tmp_path / "s.db", rows), "--table", "lines"],
        "postgresql": ["--database-url", pg_url, "--table", "lines"],
        "csv": ["--csv", _csv(tmp_path / "s.csv", rows)],
        "parquet": ["--parquet", _parquet(tmp_path / "s.parquet", rows)],
    }
    # The twin is a function of the history read (fit's search is seeded): each source must read the same
    # history; SQLite's is fitted through the command line (the search takes seconds; once is enough).
    histories = {kind: _read(where) for kind, where in sources.items()}
    for kind, history in histories.items():
        _assert_same_history(history, histories["sqlite"], kind)
    out = tmp_path / "sqlite.toml"
    r = erpgen("fit", *sources["sqlite"], *ARGS, "-o", out, "--name", "shop")
    assert r.code == 0, r
    assert "one-time buyers" in r.out
    text_ = out.read_text()
    assert 'universe = "generic"' in text_ and "[channels.ONLINE]" in text_ and "[channels.RETAIL]" in text_
    identifiers = sorted(
        {r[0] for r in rows} | {r[2] for r in rows} | {r[3] for r in rows} | {r[8] for r in rows}
    )
    assert_only_aggregates(text_, identifiers, [r[5] for r in rows])
    # the twin generates, and compare measures both sides alike
    twin = f"sqlite:///{tmp_path / 'twin.db'}"
    assert erpgen("generate", "-q", "--scenario", tmp_path / "sqlite.toml", "--database-url", twin).code == 0
    r = erpgen("fit", "--compare", sources["csv"][1], twin, *ARGS)
    assert r.code == 0, r
    assert "revenue share of the top 20 % of customers" in r.out and "real" in r.out and "twin" in r.out


def _read(where: list[str]):
    """The history `erpgen fit` reads from a source named by its command-line arguments, with ARGS."""
    from erpgen.fit import spec_of
    from erpgen.fit.source import read

    flags = dict(zip(where[::2], where[1::2])) | dict(zip(ARGS[::2], ARGS[1::2]))
    return read(spec_of(**{flag[2:].replace("-", "_"): value for flag, value in flags.items()}))


def _assert_same_history(history, reference, kind: str) -> None:
    for name, value in vars(reference).items():
        other = getattr(history, name)
        if name == "columns":
            continue  # the same roles, named as each source names them
        if isinstance(value, np.ndarray):
            assert other is not None and np.array_equal(other, value), (kind, name)
        else:
            assert other == value, (kind, name, other, value)


def test_a_big_parquet_source_is_sampled_by_customer(erpgen, rows, tmp_path):
    path = _parquet(tmp_path / "s.parquet", rows)
    r = erpgen("fit", "--parquet", path, *ARGS, "-o", tmp_path / "t.toml", "--max-rows", str(len(rows) // 2))
    assert r.code == 0, r
    assert "sampled:" in r.out


def _bad(tmp_path, rows, header=COLUMNS) -> str:
    path = tmp_path / "bad.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


BAD = {
    "missing column": (lambda rows: rows, ["--customer", "nobody"], "has no column 'nobody'"),
    "not a date": (lambda rows: [(*r[:1], "soon", *r[2:]) for r in rows], [], "is not a date"),
    "not a number": (lambda rows: [(*r[:5], "lots", *r[6:]) for r in rows], [], "is not a number"),
    "empty": (lambda rows: [], [], "is empty"),
    "one customer": (lambda rows: [(rows[0][0], *r[1:]) for r in rows], [], "one customer only"),
    "no repeat purchases": (
        lambda rows: [(f"c{i}", *r[1:8], f"R{i}") for i, r in enumerate(rows) if r[4] > 0],
        [], "no repeat purchases",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD)
def test_bad_sources_give_one_line(erpgen, rows, tmp_path, case):
    change, extra, message = BAD[case]
    path = _bad(tmp_path, change(rows))
    args = list(ARGS)
    if extra:
        args[1] = extra[1]
    r = erpgen("fit", "--csv", path, *args, "-o", tmp_path / "t.toml")
    assert_one_clean_line(r, message)
    assert not (tmp_path / "t.toml").exists()


def test_a_csv_over_max_rows_is_refused_in_one_line(erpgen, rows, tmp_path):
    r = erpgen("fit", "--csv", _bad(tmp_path, rows), *ARGS, "--max-rows", "10", "-o", tmp_path / "t.toml")
    assert_one_clean_line(r, "more than --max-rows 10 rows")


def test_a_missing_table_gives_one_line(erpgen, rows, tmp_path):
    url = _sqlite(tmp_path / "s.db", rows)
    assert_one_clean_line(erpgen("fit", "--database-url", url, "--table", "nope"), "no such table")


def test_an_erpgen_dataset_needs_no_table_and_keeps_its_channels(erpgen, tmp_path):
    """Its sales are read with their store's channel and country (as --compare reads them), not with
    store_id standing for the channel."""
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    made = erpgen("generate", "-q", "--scenario", "gym-coffee", "--n-customers", "600", "--date-from",
                  "2022-01-01", "--database-url", url)  # fmt: skip
    assert made.code == 0, made
    r = erpgen("fit", "--database-url", url, "-o", tmp_path / "twin.toml")
    assert r.code == 0, r
    assert "channel=channel" in r.out and "country=country" in r.out, r
    text_ = (tmp_path / "twin.toml").read_text()
    assert all(f"[channels.{c}]" in text_ for c in ("ONLINE", "RETAIL", "B2B")), text_
    # B2B customers reorder on the cycle the source's B2B repeat orders show
    (row,) = [line for line in r.out.splitlines() if "days between purchases: median, B2B" in line]
    twin = tomllib.loads(text_)
    assert twin["lifecycle"]["b2b_period_days"] == float(row.split()[-2].replace(",", ""))
    # the orders per channel become a target (B2B customers order more often), and bulk lines stay B2B's
    shown = {line.split()[3]: float(line.split()[4]) / 100 for line in r.out.splitlines()
             if line.strip().startswith("orders in channel")}  # fmt: skip
    assert twin["targets"]["order_share"] == pytest.approx(shown, abs=0.001)
    assert twin["channels"]["B2B"]["quantity_median"] > twin["channels"]["ONLINE"]["quantity_median"]
    r = erpgen("fit", "--database-url", f"sqlite:///{tmp_path / 'other.db'}", "-o", tmp_path / "t.toml")
    assert_one_clean_line(r, "does not exist")
    with sqlite3.connect(tmp_path / "theirs.db") as con:
        con.execute("CREATE TABLE lines (client text)")
    r = erpgen("fit", "--database-url", f"sqlite:///{tmp_path / 'theirs.db'}", "-o", tmp_path / "t.toml")
    assert_one_clean_line(r, "holds no erpgen dataset, and --table is missing")
