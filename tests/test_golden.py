"""Golden digests: the data of fixed runs, pinned, on every target.

Twelve datasets (both scenarios, three seeds, two sizes, each scenario's own date range) must give the
content digest recorded in tests/golden/digests.json on SQLite, PostgreSQL, MariaDB, CSV, Parquet and
through the Dask engine. A change that is not meant to change the data leaves this file alone; one that
is meant to says so and rewrites it in the same commit:

    ERPGEN_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py -k sqlite

Beside erpgen's own content digest (erpgen.digest), the SQLite run is hashed here by a few lines of
plain sqlite3 over every row in key order, so that a change to the digest code itself cannot hide a
change to the data.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

import pytest

from erpgen.database import connect
from erpgen.digest import csv_digests, database_digests, parquet_digests
from erpgen.urls import parse

GOLDEN = Path(__file__).parent / "golden" / "digests.json"
UPDATE = os.environ.get("ERPGEN_UPDATE_GOLDEN") == "1"
DATASETS = [
    (scenario, seed, n)
    for scenario in ("air-freshener", "gym-coffee")
    for seed in (1, 7, 42)
    for n in (300, 1500)
]
IDS = [f"{s}-seed{seed}-n{n}" for s, seed, n in DATASETS]


def _args(scenario: str, seed: int, n: int) -> list[str]:
    return ["generate", "-q", "--scenario", scenario, "--seed", str(seed), "--n-customers", str(n)]


def _golden() -> dict:
    return json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}


def _check(key: str, kind: str, actual: dict[str, str]) -> None:
    golden = _golden()
    if UPDATE:
        golden.setdefault(key, {})[kind] = actual
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
        return
    assert key in golden and kind in golden[key], f"no golden {kind} digests for {key}"
    assert actual == golden[key][kind]


def _db_digests(url: str, **kw) -> dict[str, str]:
    with connect(parse(url)) as conn:
        return database_digests(conn, **kw)


def _plain_sqlite_hash(path: Path) -> dict[str, str]:
    """Every row of every erpgen table in primary-key order, hashed without erpgen's code."""
    out = {}
    with sqlite3.connect(path) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in sorted(set(tables) - {"alembic_version", "erpgen_runs"}):
            keys = [
                r[1] for r in sorted(con.execute(f"PRAGMA table_info({table})"), key=lambda r: r[5]) if r[5]
            ]
            h = hashlib.sha256()
            for row in con.execute(f"SELECT * FROM {table} ORDER BY {', '.join(keys)}"):
                h.update(repr(row).encode())
            out[table] = h.hexdigest()
    return out


@pytest.mark.parametrize(("scenario", "seed", "n"), DATASETS, ids=IDS)
def test_sqlite_csv_and_parquet(erpgen, tmp_path, scenario, seed, n):
    db = tmp_path / "golden.db"
    r = erpgen(*_args(scenario, seed, n), "--database-url", f"sqlite:///{db}",
               "--csv-dir", tmp_path / "csv", "--parquet-dir", tmp_path / "parquet")  # fmt: skip
    assert r.code == 0, r
    key = f"{scenario}/seed={seed}/n={n}"
    full = _db_digests(f"sqlite:///{db}")
    _check(key, "content", full)
    _check(key, "seed_columns", _db_digests(f"sqlite:///{db}", seed_columns_only=True))
    _check(key, "plain_sqlite_rows", _plain_sqlite_hash(db))
    assert csv_digests(tmp_path / "csv") == _golden()[key]["seed_columns"]
    assert parquet_digests(tmp_path / "parquet") == full


@pytest.mark.skipif(UPDATE, reason="the golden file is written from SQLite")
@pytest.mark.parametrize(("scenario", "seed", "n"), DATASETS, ids=IDS)
def test_postgresql(erpgen, pg_url, scenario, seed, n):
    assert erpgen(*_args(scenario, seed, n), "--database-url", pg_url).code == 0
    assert _db_digests(pg_url) == _golden()[f"{scenario}/seed={seed}/n={n}"]["content"]


@pytest.mark.skipif(UPDATE, reason="the golden file is written from SQLite")
@pytest.mark.parametrize(("scenario", "seed", "n"), DATASETS, ids=IDS)
def test_mariadb(erpgen, mysql_url, scenario, seed, n):
    assert erpgen(*_args(scenario, seed, n), "--database-url", mysql_url).code == 0
    assert _db_digests(mysql_url) == _golden()[f"{scenario}/seed={seed}/n={n}"]["content"]


@pytest.fixture(scope="module")
def dask_scheduler():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster.scheduler_address


@pytest.mark.skipif(UPDATE, reason="the golden file is written from SQLite")
@pytest.mark.parametrize(("scenario", "seed", "n"), DATASETS, ids=IDS)
def test_dask_engine(erpgen, tmp_path, pg_url, dask_scheduler, scenario, seed, n):
    """The workers write the fact table themselves into both targets that take parallel writers."""
    r = erpgen(*_args(scenario, seed, n), "--engine", "dask", "--scheduler", dask_scheduler,
               "--database-url", pg_url, "--parquet-dir", tmp_path / "parquet")  # fmt: skip
    assert r.code == 0, r
    golden = _golden()[f"{scenario}/seed={seed}/n={n}"]["content"]
    assert _db_digests(pg_url) == golden
    assert parquet_digests(tmp_path / "parquet") == golden
