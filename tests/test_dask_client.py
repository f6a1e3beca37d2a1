"""--engine dask: where every target takes parallel writers (PostgreSQL, Parquet), the client makes no
customer rows and receives none; each block's customers, lines and lifecycle rows are made, hashed and
written on the worker that simulated it. Counted in the client process itself (the CLI runs in-process,
the workers are processes of their own), with the data checked against a one-process run."""

from __future__ import annotations

import json
import logging
from collections import Counter

import pytest

from erpgen.digest import parquet_digests
from erpgen.schema import CUSTOMER_TABLES

from .helpers import digests

pytest.importorskip("distributed")
pq = pytest.importorskip("pyarrow.parquet")

N = 2500
PARAMS = ["--n-customers", str(N), "--date-from", "2021-01-01", "--date-till", "2023-12-31", "--seed", "5"]
KEYED = {t.name for t in CUSTOMER_TABLES}


@pytest.fixture(scope="module")
def scheduler():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, dashboard_address=None, silence_logs=logging.ERROR
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture
def client(monkeypatch):
    """What the client process does: its calls of build_customers, the blocks (whole, or only their line
    counts) it receives from the workers, and the rows of each table it writes or hashes itself."""
    import erpgen.customers
    import erpgen.engines.dask as engine
    import erpgen.load

    seen = {"build_customers": 0, "whole_blocks": 0, "line_counts": 0, "rows": Counter()}
    build = erpgen.customers.build_customers

    def counted_build(*args, **kwargs):
        seen["build_customers"] += 1
        return build(*args, **kwargs)

    for module in (erpgen.customers, erpgen.load, engine):  # every name it is called by in the client
        monkeypatch.setattr(module, "build_customers", counted_build)

    take = engine.DaskBlocks._take

    def counted_take(self, *args):
        got = take(self, *args)
        seen["line_counts" if isinstance(got, int) else "whole_blocks"] += 1
        return got

    monkeypatch.setattr(engine.DaskBlocks, "_take", counted_take)
    table = erpgen.load._Writes.table

    def counted_table(self, name, batches, **kwargs):
        def each():
            for b in batches:
                if self.keepers(name):  # written or hashed here
                    seen["rows"][name] += len(next(iter(b.values())))
                yield b

        return table(self, name, each(), **kwargs)

    monkeypatch.setattr(erpgen.load._Writes, "table", counted_table)
    return seen


def _expected(erpgen, tmp_path) -> dict[str, str]:
    """The content digest of the same dataset made in one process."""
    r = erpgen("generate", "-q", *PARAMS, "--no-database", "--parquet-dir", tmp_path / "one")
    assert r.code == 0, r
    return parquet_digests(tmp_path / "one")


def test_with_parquet_and_postgresql_the_client_makes_and_receives_no_customer_rows(
    erpgen, client, pg_url, scheduler, tmp_path
):
    r = erpgen("generate", "-q", *PARAMS, "--engine", "dask", "--scheduler", scheduler,
               "--block-size", "1000", "--database-url", pg_url, "--parquet-dir", tmp_path / "pq")  # fmt: skip
    assert r.code == 0, r
    assert client["build_customers"] == 0
    assert client["whole_blocks"] == 0 and client["line_counts"] == 3  # 2,500 customers, blocks of 1,000
    assert not KEYED & set(client["rows"]), client["rows"]  # only the masters went through the client
    assert client["rows"]["products"] > 0

    expected = _expected(erpgen, tmp_path)
    assert parquet_digests(tmp_path / "pq") == expected
    assert digests(pg_url) == expected
    assert erpgen("verify", "--database-url", pg_url).code == 0  # the recorded digest is the workers'


def test_the_workers_write_each_table_keyed_by_customer_as_a_dataset_users_can_read(
    erpgen, client, scheduler, tmp_path
):
    out = tmp_path / "pq"
    r = erpgen("generate", "-q", *PARAMS, "--engine", "dask", "--scheduler", scheduler,
               "--block-size", "1000", "--no-database", "--parquet-dir", out)  # fmt: skip
    assert r.code == 0, r
    assert client["build_customers"] == 0 and client["whole_blocks"] == 0
    for name in ("customers", "customer_lifecycle", "lifecycle_events"):
        assert sorted(p.name for p in (out / name).iterdir()) == [f"part-{k:06d}.parquet" for k in range(3)]
        assert not (out / f"{name}.parquet").exists()
    assert sorted(p.name for p in out.glob("*.parquet")) == [
        "categories.parquet", "currencies.parquet", "erpgen_runs.parquet", "products.parquet",
        "stores.parquet",
    ]  # fmt: skip
    customers = pq.read_table(out / "customers")  # a dataset directory reads whole, parts in order
    assert customers.column("customer_id").to_pylist() == list(range(1, N + 1))
    assert pq.read_table(out / "customer_lifecycle").num_rows == N
    assert pq.read_table(out / "lifecycle_events").num_rows >= N  # every customer is acquired once
    runs = pq.read_table(out / "erpgen_runs.parquet").to_pylist()[0]
    counts = json.loads(runs["row_counts"])
    assert counts["customers"] == counts["customer_lifecycle"] == N
    assert counts["lifecycle_events"] == pq.read_table(out / "lifecycle_events").num_rows
    assert set(counts) == {"stores", "categories", "products", "currencies", "exchange_rates", "customers",
                           "sales_orders", "sales_transactions", "invoices", "deliveries", "payments",
                           "customer_lifecycle", "lifecycle_events"}  # fmt: skip


def test_a_single_writer_target_still_gets_every_row_from_the_client(erpgen, client, scheduler, tmp_path):
    """The counter's control: SQLite takes one writer, so the client makes the customers and takes the
    blocks whole, as the local engine does; the Parquet files beside it still come from the workers."""
    sqlite = f"sqlite:///{tmp_path / 'one.db'}"
    r = erpgen("generate", "-q", *PARAMS, "--engine", "dask", "--scheduler", scheduler,
               "--block-size", "1000", "--database-url", sqlite, "--parquet-dir", tmp_path / "pq")  # fmt: skip
    assert r.code == 0, r
    assert client["build_customers"] == 3 and client["whole_blocks"] == 3 and client["line_counts"] == 0
    assert client["rows"]["customers"] == N and client["rows"]["customer_lifecycle"] == N
    expected = _expected(erpgen, tmp_path)
    assert digests(sqlite) == expected
    assert parquet_digests(tmp_path / "pq") == expected
    assert erpgen("verify", "--database-url", sqlite).code == 0
