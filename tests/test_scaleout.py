"""--engine dask: the same dataset, byte for byte, from one process, a forked pool and a Dask cluster."""

from __future__ import annotations

import contextlib
import time

import pytest
from sqlalchemy import create_engine, inspect

from erpgen.digest import parquet_digests
from erpgen.urls import parse

from .conftest import erpgen_process, fresh_pg_database
from .test_bad_input import assert_one_clean_line
from .test_generate import digests
from .test_reliability import kill, start, table_names, wait_for

pytest.importorskip("distributed")

PARAMS = ["--n-customers", "2500", "--date-from", "2016-01-01", "--date-till", "2023-12-31", "--seed", "11"]


def schema_of(url: str) -> dict:
    """Columns, keys, indexes and checks of every table, as the database reports them."""
    engine = create_engine(parse(url))
    with engine.connect() as conn:
        insp = inspect(conn)
        out = {
            name: (
                [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(name)],
                insp.get_pk_constraint(name),
                sorted((fk["name"], tuple(fk["constrained_columns"])) for fk in insp.get_foreign_keys(name)),
                sorted((ix["name"], tuple(ix["column_names"])) for ix in insp.get_indexes(name)),
                sorted((ck["name"], ck["sqltext"]) for ck in insp.get_check_constraints(name)),
            )
            for name in insp.get_table_names()
        }
    engine.dispose()
    return out


@pytest.fixture
def pg_urls(pg_server):
    """Three fresh PostgreSQL databases."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(fresh_pg_database(pg_server)) for _ in range(3)]


def test_one_process_a_pool_and_a_dask_cluster_make_identical_data(pg_urls, tmp_path, erpgen):
    one, pool, cluster = pg_urls
    runs = [
        ("--database-url", one, "--parquet-dir", tmp_path / "one"),
        ("--database-url", pool, "--workers", "2", "--block-size", "600"),
        ("--database-url", cluster, "--engine", "dask", "--workers", "2", "--block-size", "1000",
         "--parquet-dir", tmp_path / "cluster"),
    ]  # fmt: skip
    for args in runs:
        r = erpgen("generate", "-q", *PARAMS, *args)
        assert r.code == 0, r

    expected = digests(one)
    assert len(expected) == 7
    assert digests(pool) == expected
    assert digests(cluster) == expected
    assert parquet_digests(tmp_path / "one") == expected
    assert parquet_digests(tmp_path / "cluster") == expected

    # The workers' staging table was swapped in: the final schema is the one a single process builds,
    # and nothing else is left behind.
    assert schema_of(cluster) == schema_of(one)
    assert "erpgen_stage" not in " ".join(table_names(cluster))
    assert erpgen("verify", "--database-url", cluster).code == 0

    # The fact table as a hive-partitioned dataset: one folder per invoice year, a file per block in each.
    years = sorted(p.name for p in (tmp_path / "cluster" / "sales_transactions").iterdir())
    assert years == [f"year={y}" for y in range(2016, 2024)]
    parts = {p.name for p in (tmp_path / "cluster" / "sales_transactions" / "year=2023").iterdir()}
    assert parts == {f"part-{k:06d}.parquet" for k in range(3)}  # 2,500 customers in blocks of 1,000


def test_an_existing_scheduler_is_used_and_single_writer_targets_get_the_lines(tmp_path, erpgen):
    import logging

    from distributed import LocalCluster

    sqlite = f"sqlite:///{tmp_path / 'cluster.db'}"
    with LocalCluster(
        n_workers=1, threads_per_worker=1, dashboard_address=None, silence_logs=logging.ERROR
    ) as cluster:
        r = erpgen("generate", "-q", *PARAMS, "--engine", "dask", "--scheduler", cluster.scheduler_address,
                   "--database-url", sqlite, "--parquet-dir", tmp_path / "pq")  # fmt: skip
    assert r.code == 0, r
    local = erpgen("generate", "-q", *PARAMS, "--no-database", "--parquet-dir", tmp_path / "local")
    assert local.code == 0, local
    expected = parquet_digests(tmp_path / "local")
    assert parquet_digests(tmp_path / "pq") == expected
    assert digests(sqlite) == expected  # the lines came to the client for SQLite
    assert erpgen("verify", "--database-url", sqlite).code == 0  # the recorded digest is the workers'


def test_a_killed_dask_load_leaves_the_tables_as_they_were_and_the_next_run_cleans_up(
    pg_url, tmp_path, erpgen
):
    proc = start("--database-url", pg_url, "--engine", "dask", "--workers", "2", "--n-customers", "40000",
                 "--block-size", "2000", cwd=tmp_path)  # fmt: skip
    wait_for(proc, "erpgen: sales_transactions ")
    time.sleep(1)  # some blocks committed to the staging table
    kill(proc)
    deadline = time.monotonic() + 20
    while [
        t for t in table_names(pg_url) if not t.startswith("erpgen_stage_")
    ] and time.monotonic() < deadline:
        time.sleep(0.2)
    left = table_names(pg_url)
    assert [t for t in left if not t.startswith("erpgen_stage_")] == []  # no erpgen table committed
    assert left, "the killed run's staging table is expected here"

    r = erpgen("generate", "-q", "--database-url", pg_url, *PARAMS, "--engine", "dask", "--workers", "2")
    assert r.code == 0, r
    assert not [t for t in table_names(pg_url) if t.startswith("erpgen_stage_")]


def test_a_worker_losing_its_connection_mid_copy_is_one_line_and_nothing_is_committed(pg_url, tmp_path):
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    proc = start("--database-url", pg_url, "--engine", "dask", "--workers", "2", "--n-customers", "80000",
                 "--block-size", "20000", "-q", cwd=tmp_path)  # fmt: skip
    # autocommit: pg_stat_activity is read once per transaction
    admin = create_engine(
        make_url(pg_url).set(drivername="postgresql+psycopg", database="postgres"),
        isolation_level="AUTOCOMMIT",
    )
    killed = []
    deadline = time.monotonic() + 60
    with admin.connect() as conn:
        while not killed and time.monotonic() < deadline and proc.poll() is None:
            killed = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d "
                    "AND state = 'active' AND query LIKE 'COPY erpgen_stage%'"
                ),
                {"d": make_url(pg_url).database},
            ).all()
            time.sleep(0.05)
    admin.dispose()
    assert killed, "no worker was seen copying"
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # the workers' own notes of the lost connection stay off the terminal
    assert (
        lines[0].startswith("erpgen: error: loading into postgresql://")
        and "nothing was committed" in lines[0]
    )
    assert table_names(pg_url) == []  # the staging table went with the rest


def test_a_dask_run_prints_nothing_of_the_cluster(tmp_path):
    """Workers log their own shutdown (heartbeats to a scheduler already gone): a user sees none of it."""
    r = erpgen_process("generate", "-q", "--n-customers", "200", "--engine", "dask", "--workers", "2",
                       "--no-database", "--parquet-dir", tmp_path / "pq", cwd=tmp_path)  # fmt: skip
    assert r.code == 0, r
    assert r.out == "" and r.err == "", r


@pytest.mark.parametrize(
    "args, message",
    [
        (["--engine", "dask", "--resume"], "--resume works with the local engine"),
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
