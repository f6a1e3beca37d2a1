"""DuckDB as a target, beyond the contract suite (tests/test_contract.py runs that for it too): its schema
against the metadata (the drift check the Alembic revisions get elsewhere, README), the keys and checks it
enforces, and validate, verify and report on it."""

from __future__ import annotations

import contextlib

import pytest
from sqlalchemy import text

from erpgen import migrate
from erpgen.database import connect
from erpgen.schema import TABLES
from erpgen.urls import parse

duckdb = pytest.importorskip("duckdb")
pytest.importorskip("duckdb_engine")

SMALL = ["--n-customers", "80", "--date-from", "2020-01-01", "--date-till", "2021-06-30", "--seed", "5"]


def _catalog(path) -> dict:
    """What DuckDB says it holds: columns (name, type, nullable), keys, checks and indexes per table."""
    with contextlib.closing(duckdb.connect(str(path), read_only=True)) as con:
        columns, keys, checks, indexes = {}, {}, {}, {}
        for table, name, typ, nullable in con.execute(
            "SELECT table_name, column_name, data_type, is_nullable FROM duckdb_columns() "
            "WHERE NOT internal AND schema_name = 'main' ORDER BY table_name, column_index"
        ).fetchall():
            columns.setdefault(table, []).append((name, typ, nullable))
        for table, kind, cols, parent, parent_cols in con.execute(
            "SELECT table_name, constraint_type, constraint_column_names, referenced_table, "
            "referenced_column_names FROM duckdb_constraints()"
        ).fetchall():
            if kind == "CHECK":
                checks[table] = checks.get(table, 0) + 1
            elif kind in ("PRIMARY KEY", "FOREIGN KEY"):
                keys.setdefault(table, set()).add((kind, tuple(cols), parent, tuple(parent_cols or ())))
        for name, table in con.execute("SELECT index_name, table_name FROM duckdb_indexes()").fetchall():
            indexes.setdefault(table, set()).add(name)
        sequences = con.execute("SELECT count(*) FROM duckdb_sequences()").fetchone()[0]
    return {"columns": columns, "keys": keys, "checks": checks, "indexes": indexes, "sequences": sequences}


def _expected(path) -> dict:
    """The same, from erpgen.schema's metadata (types as DuckDB spells the ones SQLAlchemy renders)."""
    url = parse(f"duckdb:///{path.parent / 'types.duckdb'}")
    with connect(url) as conn:
        dialect = conn.dialect

        def duck_type(col) -> str:
            rendered = col.type.compile(dialect=dialect)
            return conn.exec_driver_sql(f"SELECT typeof(CAST(NULL AS {rendered}))").scalar()

        columns = {t.name: [(c.name, duck_type(c), c.nullable) for c in t.columns] for t in TABLES}
    keys = {}
    for t in TABLES:
        keys[t.name] = {("PRIMARY KEY", tuple(c.name for c in t.primary_key.columns), None, ())}
        for fk in t.foreign_key_constraints:
            keys[t.name].add(
                (
                    "FOREIGN KEY",
                    tuple(c.name for c in fk.columns),
                    fk.referred_table.name,
                    tuple(e.column.name for e in fk.elements),
                )
            )
    from sqlalchemy import CheckConstraint

    checks = {t.name: n for t in TABLES if (n := sum(isinstance(c, CheckConstraint) for c in t.constraints))}
    indexes = {t.name: {ix.name for ix in t.indexes} for t in TABLES if t.indexes}
    return {"columns": columns, "keys": keys, "checks": checks, "indexes": indexes, "sequences": 0}


def test_the_schema_matches_the_metadata(tmp_path):
    """DuckDB's own catalog against erpgen.schema: every column, type and NULL rule, key, check and index,
    and no SERIAL sequence (duckdb-engine's pitfall with autoincrementing integer keys)."""
    path = tmp_path / "schema.duckdb"
    with connect(parse(f"duckdb:///{path}")) as conn, conn.begin():
        migrate.upgrade(conn, "head")
        assert migrate.current_revision(conn) == migrate.head_revision()
    found, expected = _catalog(path), _expected(path)
    found["columns"].pop("alembic_version")
    found["keys"].pop("alembic_version")
    for part in expected:
        assert found[part] == expected[part], part


def test_the_keys_and_checks_are_enforced(tmp_path, erpgen):
    url = f"duckdb:///{tmp_path / 'shop.duckdb'}"
    assert erpgen("generate", "--database-url", url, *SMALL, "-q").code == 0
    broken = [
        "INSERT INTO sales_transactions SELECT line_id + 10000000, invoice_id, 999999, invoice_date, product_id, "
        "quantity, revenue, store_id, unit_price, NULL, invoiced_at, order_id, NULL FROM sales_transactions WHERE quantity > 0 LIMIT 1",
        "INSERT INTO sales_transactions SELECT line_id + 10000000, invoice_id, customer_id, invoice_date, "
        "product_id, quantity, revenue, store_id, unit_price, 123456789, invoiced_at, order_id, NULL FROM sales_transactions "
        "WHERE quantity < 0 LIMIT 1",
        "INSERT INTO sales_transactions SELECT * FROM sales_transactions LIMIT 1",
        "UPDATE customers SET email_opt_in = 2 WHERE customer_id = 1",
    ]
    with connect(parse(url)) as conn:
        for sql in broken:
            with pytest.raises(Exception, match="(?i)constraint|violat"), conn.begin():
                conn.execute(text(sql))


def test_validate_verify_and_report(tmp_path, erpgen):
    """The same figures as SQLite's for the same seed (validation's SQL in DuckDB's spelling)."""
    url = f"duckdb:///{tmp_path / 'shop.duckdb'}"
    assert erpgen("generate", "--database-url", url, *SMALL, "-q").code == 0
    sqlite = f"sqlite:///{tmp_path / 'shop.db'}"
    assert erpgen("generate", "--database-url", sqlite, *SMALL, "-q").code == 0
    duck, lite = erpgen("validate", "--database-url", url), erpgen("validate", "--database-url", sqlite)
    assert duck.code == lite.code and duck.code in (0, 1), duck  # 80 customers miss some business targets
    assert sorted(duck.out.splitlines()[1:]) == sorted(lite.out.splitlines()[1:])
    r = erpgen("verify", "--database-url", url)
    assert r.code == 0 and "content matches the recorded digest" in r.out, r
    r = erpgen("report", "--database-url", url, "-o", tmp_path / "shop.html")
    assert r.code == 0 and (tmp_path / "shop.html").stat().st_size > 0, r


def test_a_missing_file_is_not_created_by_reading_it(tmp_path, erpgen):
    url = f"duckdb:///{tmp_path / 'none.duckdb'}"
    for command in ("validate", "verify"):
        r = erpgen(command, "--database-url", url)
        assert r.code == 2 and "does not exist" in r.err, r
    assert list(tmp_path.iterdir()) == []


def test_db_upgrade_makes_the_latest_schema_and_downgrade_is_refused(tmp_path, erpgen):
    url = f"duckdb:///{tmp_path / 'schema.duckdb'}"
    r = erpgen("db", "upgrade", "--database-url", url)
    assert r.code == 0 and f"revision {migrate.head_revision()}" in r.out, r
    r = erpgen("db", "downgrade", "--database-url", url)
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1 and "cannot be downgraded" in r.err, r
    assert erpgen("generate", "--database-url", url, *SMALL, "-q").code == 0  # fills the tables upgrade made


@pytest.mark.parametrize(
    ("missing", "args", "hint"),
    [
        ("duckdb_engine", ["--database-url", "duckdb:///x.duckdb"], "pip install 'erpgen[duckdb]'"),
        ("deltalake", ["--no-database", "--delta-dir", "lake"], "pip install 'erpgen[delta]'"),
    ],
)
def test_a_missing_package_is_one_line_and_nothing_written(
    missing, args, hint, tmp_path, monkeypatch, erpgen
):
    """As on a machine without the extra: the import finds nothing (a None in sys.modules)."""
    import sys

    monkeypatch.setitem(sys.modules, missing, None)
    monkeypatch.chdir(tmp_path)
    r = erpgen("generate", *args, "--n-customers", "20")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1 and hint in r.err, r
    assert list(tmp_path.iterdir()) == []


def test_a_file_another_process_has_open_is_one_line(tmp_path, erpgen):
    import subprocess
    import sys

    path = tmp_path / "shop.duckdb"
    url = f"duckdb:///{path}"
    assert erpgen("generate", "--database-url", url, *SMALL, "-q").code == 0
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(path)!r}); print('open'); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        r = erpgen("generate", "--database-url", url, *SMALL, "--replace", "-q")
    finally:
        holder.communicate(timeout=30)
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1, r
    assert "Could not set lock" in r.err and "another process has the file open" in r.err, r
