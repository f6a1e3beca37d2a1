"""--engine dask: what is particular to it. What it shares with every target (the same data as SQLite, a
kill or a lost connection mid-load, someone else's data, --resume refused) is in test_contract."""

from __future__ import annotations

import contextlib

import pytest
from sqlalchemy import inspect

from erpgen.digest import csv_digests, parquet_digests

from .conftest import erpgen_process, fresh_pg_database
from .helpers import assert_one_clean_line, connect, digests, table_names

pytest.importorskip("distributed")

PARAMS = ["--n-customers", "2500", "--date-from", "2016-01-01", "--date-till", "2023-12-31", "--seed", "11"]


def schema_of(url: str) -> dict:
    """Columns, keys, indexes and checks of every table, as the database reports them."""
    with connect(url) as conn:
        insp = inspect(conn)
        return {
            name: (
                [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(name)],
                insp.get_pk_constraint(name),
                sorted((fk["name"], tuple(fk["constrained_columns"])) for fk in insp.get_foreign_keys(name)),
                sorted((ix["name"], tuple(ix["column_names"])) for ix in insp.get_indexes(name)),
                sorted((ck["name"], ck["sqltext"]) for ck in insp.get_check_constraints(name)),
            )
            for name in insp.get_table_names()
        }


@pytest.fixture
def pg_urls(pg_server):
    """Two fresh PostgreSQL databases."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(fresh_pg_database(pg_server)) for _ in range(2)]


def test_a_dask_load_lands_like_a_single_process_one_and_prints_nothing(pg_urls, tmp_path, erpgen):
    """A cluster of erpgen's own, in a real process: the workers write PostgreSQL and Parquet, the client
    the single-writer CSV; the user sees none of the cluster's logging (workers log their own shutdown)."""
    one, cluster = pg_urls
    assert erpgen("generate", "-q", *PARAMS, "--database-url", one).code == 0
    r = erpgen_process("generate", "-q", *PARAMS, "--engine", "dask", "--workers", "2", "--block-size", "1000",
                       "--database-url", cluster, "--parquet-dir", tmp_path / "lake", "--csv-dir", tmp_path / "csv",
                       cwd=tmp_path)  # fmt: skip
    assert r.code == 0, r
    assert r.out == "" and r.err == "", r

    expected = digests(one)
    assert digests(cluster) == expected
    assert parquet_digests(tmp_path / "lake") == expected
    assert csv_digests(tmp_path / "csv") == digests(one, seed_columns_only=True)

    # The workers' staging table was swapped in: the final schema is the one a single process builds,
    # and nothing else is left behind.
    assert schema_of(cluster) == schema_of(one)
    assert "erpgen_stage" not in " ".join(table_names(cluster))

    # The fact table as a hive-partitioned dataset: one folder per invoice year, a file per block in each.
    years = sorted(p.name for p in (tmp_path / "lake" / "sales_transactions").iterdir())
    assert years == [f"year={y}" for y in range(2016, 2024)]
    parts = {p.name for p in (tmp_path / "lake" / "sales_transactions" / "year=2023").iterdir()}
    assert parts == {f"part-{k:06d}.parquet" for k in range(3)}  # 2,500 customers in blocks of 1,000


def test_progress_names_the_tables_the_workers_wrote(tmp_path):
    """Their counts reach the client only when the workers are done, and are printed then."""
    r = erpgen_process("generate", "--n-customers", "2000", "--engine", "dask", "--workers", "2", "--block-size",
                       "1000", "--no-database", "--parquet-dir", tmp_path / "lake", cwd=tmp_path)  # fmt: skip
    assert r.code == 0, r
    for table, rows in [("customers", "2,000"), ("customer_lifecycle", "2,000"), ("sales_transactions", "")]:
        assert any(line.startswith(f"erpgen: {table} {rows}") for line in r.err.splitlines()), r.err
    assert any(line.startswith("erpgen: lifecycle_events ") for line in r.err.splitlines()), r.err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler names a Dask cluster"),
        (["--engine", "dask", "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "--workers sizes"),
        (["--engine", "dask", "--scheduler", "tcp://127.0.0.1:1"], "cannot reach the Dask scheduler at tcp://127.0.0.1:1"),
        (["--engine", "spark"], "Invalid value for '--engine'"),
        (["--engine", "dask", "--block-size", "1500"], "--block-size 1,500 with --engine dask must be a multiple of 1,000"),
    ],
)  # fmt: skip
def test_engine_usage_errors_are_one_line(args, message, tmp_path, erpgen):
    target = tmp_path / "x.db"
    r = erpgen("generate", "--n-customers", "10", "--database-url", f"sqlite:///{target}", *args)
    assert r.code == 2, r
    assert_one_clean_line(r, message)
    assert not target.exists()
