"""--delta-dir beyond the contract suite (tests/test_contract.py runs that for it too): one commit per
table, the fact table partitioned by year, typed like the Parquet export, and read back by DuckDB.

DuckDB's delta_scan is an extension it downloads on first use, which a machine offline cannot; DuckDB reads
the tables here as deltalake hands them over (Arrow), which is what the README shows."""

from __future__ import annotations

import pytest

from erpgen.schema import FACT, TABLES

from .helpers import digests

deltalake = pytest.importorskip("deltalake")
duckdb = pytest.importorskip("duckdb")

SMALL = ["--n-customers", "150", "--date-from", "2019-01-01", "--date-till", "2021-12-31", "--seed", "4"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One load into SQLite and a Delta directory at once: (SQLite URL, Delta directory)."""
    from erpgen.cli import main

    where = tmp_path_factory.mktemp("delta")
    url = f"sqlite:///{where / 'shop.db'}"
    assert main(["generate", *SMALL, "--database-url", url, "--delta-dir", str(where / "lake"), "-q"]) == 0
    return url, where / "lake"


def test_one_commit_per_table_typed_like_parquet(exported):
    from erpgen.sinks.arrow import arrow_schema

    _, lake = exported
    for table in TABLES:
        dt = deltalake.DeltaTable(str(lake / table.name))
        assert dt.version() == 0 and [h["operation"] for h in dt.history()] == ["WRITE"], table.name
        data = dt.to_pyarrow_table()
        expected = arrow_schema(table)
        if table is FACT:
            assert dt.metadata().partition_columns == ["year"]
            data = data.drop_columns(["year"])
        # Delta keeps timestamps in microseconds
        for field in expected:
            found = data.schema.field(field.name).type
            assert found == field.type or (
                str(field.type).startswith("timestamp") and "timestamp" in str(found)
            )


def test_deltalake_and_duckdb_read_what_sqlite_holds(exported):
    from erpgen.digest import arrow_digest, delta_digests, digest_order

    url, lake = exported
    expected = digests(url)
    assert delta_digests(lake) == expected
    con = duckdb.connect()
    for table in TABLES:
        if table.name == "erpgen_runs":
            continue
        con.register("lake", deltalake.DeltaTable(str(lake / table.name)).to_pyarrow_dataset())
        columns = ", ".join(c.name for c in table.columns)
        key = ", ".join(digest_order(table))  # invoices: by customer, then key (credit notes sort first)
        data = con.sql(f"SELECT {columns} FROM lake ORDER BY {key}").to_arrow_table()
        con.unregister("lake")
        assert arrow_digest(table.name, data, "DuckDB") == expected[table.name], table.name
    # the partition column is the invoice's year
    con.register("lake", deltalake.DeltaTable(str(lake / FACT.name)).to_pyarrow_dataset())
    off = con.execute("SELECT count(*) FROM lake WHERE year <> year(invoice_date)").fetchone()[0]
    assert off == 0 and con.execute("SELECT min(year), max(year) FROM lake").fetchone() == (2019, 2021)


def test_the_readme_reads_the_lake_with_duckdb(exported, monkeypatch, capsys):
    """The README's Python lines that read a Delta table into DuckDB, run where its `lake` is."""
    import re

    from .conftest import REPO

    (snippet,) = [
        b
        for b in re.findall(r"```python\n(.+?)\n```", (REPO / "README.md").read_text(), re.S)
        if "deltalake" in b
    ]
    _, lake = exported
    monkeypatch.chdir(lake.parent)
    exec(compile(snippet, "README.md", "exec"), {})
    assert "2021" in capsys.readouterr().out
