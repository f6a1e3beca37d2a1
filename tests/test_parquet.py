"""The Parquet export: every table, the schema's columns with real types. (The same data as SQLite, faults
mid-export, someone else's files: test_contract.)"""

from __future__ import annotations

import sys

import pytest

from erpgen.digest import parquet_digests

from .helpers import SMALL, assert_one_clean_line, digests, table_names

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def test_parquet_holds_the_database_data_with_real_types(erpgen, sqlite_url, tmp_path):
    out = tmp_path / "export"
    # small batches: many row groups per file; CSV in the same directory: the scratch areas stay apart
    r = erpgen(
        "generate",
        "--database-url",
        sqlite_url,
        *SMALL,
        "--batch-size",
        "997",
        "--parquet-dir",
        out,
        "--csv-dir",
        out,
    )
    assert r.code == 0, r
    tables = [t for t in table_names(sqlite_url) if t != "alembic_version"]
    datasets = {
        "customers", "sales_orders", "sales_transactions", "invoices", "deliveries", "payments",
        "customer_lifecycle", "lifecycle_events", "exchange_rates",
    }  # fmt: skip
    # the small tables one file each; the tables keyed by customer (as with dask) and exchange_rates (which
    # an extension adds to) a dataset directory each
    assert sorted(p.name for p in out.glob("*.parquet")) == [
        f"{t}.parquet" for t in tables if t not in datasets
    ]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(datasets)
    assert [p.name for p in (out / "customers").iterdir()] == ["part-000000.parquet"]
    years = sorted(p.name for p in (out / "sales_transactions").iterdir())
    assert years == ["year=2019", "year=2020", "year=2021"]
    assert not list(out.glob(".erpgen-*"))  # no scratch left behind
    assert parquet_digests(out) == digests(sqlite_url)

    sales = pq.read_table(out / "sales_transactions")
    assert "year" in sales.column_names  # the partition, read back from the folder names
    sales = sales.drop_columns(["year"])
    # a year's lines gathered into row groups of up to YEAR_ROWS, not one per batch of 997
    sizes = [
        pq.ParquetFile(p).metadata.num_row_groups for p in (out / "sales_transactions").rglob("*.parquet")
    ]
    assert sum(sizes) == len(years)
    assert sales.schema.field("invoice_id").type == pa.string()
    assert sales.schema.field("invoice_date").type == pa.date32()
    assert sales.schema.field("quantity").type == pa.decimal128(12, 3)
    assert sales.schema.field("revenue").type == pa.decimal128(14, 2)
    assert sales.schema.field("unit_price").type == pa.decimal128(12, 2)
    assert sales.schema.field("line_id").type == pa.int64()
    assert sales.schema.field("customer_id").type == pa.int32()
    rows = sales.to_pylist()
    assert all((r["returned_line_id"] is None) == r["invoice_id"].startswith("INV-") for r in rows)
    assert any(r["invoice_id"].startswith("CRN-") for r in rows)
    assert all(r["revenue"] == r["quantity"] * r["unit_price"] for r in rows)

    lifecycle = pq.read_table(out / "customer_lifecycle")
    assert lifecycle.schema.field("lost_on").type == pa.date32()
    assert 0 < lifecycle["lost_on"].null_count < 300  # negative day numbers became NULL
    assert pq.read_table(out / "products.parquet").schema.field("unit_price").type == pa.decimal128(12, 2)
    assert pq.read_table(out / "customers").schema.field("email_opt_in").type == pa.int16()
    runs = pq.read_table(out / "erpgen_runs.parquet")
    # written as timestamp('s'); Parquet has no seconds unit, so it stores (and reads back) milliseconds
    assert runs.schema.field("loaded_at").type == pa.timestamp("ms")
    assert runs["loaded_at"][0].as_py().microsecond == 0
    assert runs.schema.field("seed").type == pa.int64()
    assert runs["seed"].to_pylist() == [7]


def test_no_database_writes_only_the_files(erpgen, tmp_path):
    skipped = tmp_path / "skipped.db"
    out = tmp_path / "files-only"
    r = erpgen("generate", "--no-database", "--database-url", f"sqlite:///{skipped}", "--n-customers", "20",
               "--parquet-dir", out)  # fmt: skip
    assert r.code == 0, r
    assert not skipped.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["files-only"]
    assert (out / "customers" / "part-000000.parquet").exists()


def test_parquet_dir_that_is_a_file_fails_cleanly(erpgen, tmp_path):
    target = tmp_path / "out.db"
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    r = erpgen("generate", "--database-url", f"sqlite:///{target}", *SMALL, "--parquet-dir", a_file)
    assert_one_clean_line(r, str(a_file))
    # below a file: only the sink finds out, and the database it had begun is not written either
    r = erpgen("generate", "--database-url", f"sqlite:///{target}", *SMALL, "--parquet-dir", a_file / "pq")
    assert_one_clean_line(r, "cannot write Parquet files in", "--parquet-dir")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_missing_pyarrow_is_a_clear_error(erpgen, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` now raises ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    target = tmp_path / "out.db"
    r = erpgen("generate", "--database-url", f"sqlite:///{target}", *SMALL, "--parquet-dir", tmp_path / "pq")
    assert_one_clean_line(r, "--parquet-dir needs pyarrow", "pip install 'erpgen[parquet]'")
    assert list(tmp_path.iterdir()) == []
