"""MariaDB/MySQL as a target: what lands, with which schema and keys, and what is particular to it (its lock,
its dialect, its driver). What every target shares (the same data, faults mid-load, --resume) is in
test_contract."""

from __future__ import annotations

import os
import sys

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from erpgen import migrate
from erpgen.validation import validate

from .conftest import run_process
from .helpers import PASSWORD, SMALL, assert_one_clean_line, connect, scalar


def scratch_databases(url: str) -> list[str]:
    """The scratch databases of this process's runs (README: erpgen_scratch_...)."""
    with connect(url) as conn:
        pattern = f"erpgen\\_scratch\\_{os.getpid()}\\_%"
        return conn.exec_driver_sql("SHOW DATABASES LIKE %s", (pattern,)).scalars().all()


def test_load_lands_with_the_alembic_head_schema_and_enforced_keys(erpgen, mysql_url):
    r = erpgen("generate", "--database-url", mysql_url, *SMALL)
    assert r.code == 0, r
    assert "loaded mysql://" in r.out
    assert scalar(mysql_url, "SELECT count(*) FROM customers") == 300
    lines = scalar(mysql_url, "SELECT count(*) FROM sales_transactions")
    assert lines > 1000 and f"{lines:,}" in r.out
    assert scalar(mysql_url, "SELECT count(*) FROM customer_lifecycle") == 300
    assert scratch_databases(mysql_url) == []
    with connect(mysql_url) as conn:
        insp = inspect(conn)
        assert insp.get_pk_constraint("sales_transactions")["constrained_columns"] == ["line_id"]
        fks = {
            (fk["constrained_columns"][0], fk["referred_table"])
            for fk in insp.get_foreign_keys("sales_transactions")
        }
        assert fks == {
            ("customer_id", "customers"),
            ("product_id", "products"),
            ("store_id", "stores"),
            ("returned_line_id", "sales_transactions"),
            ("order_id", "sales_orders"),
        }
        assert {"ix_sales_transactions_customer_id", "ix_sales_transactions_invoice_date"} <= {
            ix["name"] for ix in insp.get_indexes("sales_transactions")
        }
        conn.rollback()
        with conn.begin():
            migrate.check(conn)  # exactly the head revision's schema, keys and indexes included
    orphan = "INSERT INTO sales_transactions VALUES (999999999, 'INV-X', 123456, '2020-01-01', 1, 1, 1, 101, 1, NULL, '2020-01-01 10:00:00', NULL, NULL)"
    opt_in_without_email = "INSERT INTO customers VALUES (999999, '2020-01-01', NULL, NULL, NULL, NULL, 1, 0, 0, 'US', 'RETAIL', NULL)"
    for sql, refusal in (
        (orphan, "foreign key constraint fails"),
        (opt_in_without_email, "opt_in_needs_email"),
    ):
        with connect(mysql_url) as conn, pytest.raises(DBAPIError, match=refusal), conn.begin():
            conn.execute(text(sql))
    verified = erpgen("verify", "--database-url", mysql_url)
    assert verified.code == 0 and "content matches the recorded digest" in verified.out, verified


def test_validate_measures_the_same_as_on_sqlite(erpgen, mysql_url, sqlite_url):
    """validate's SQL (dates, medians, ratios) in MariaDB's dialect. (The same data: test_contract.)"""
    assert erpgen("generate", "--database-url", sqlite_url, *SMALL, "-q").code == 0
    assert erpgen("generate", "--database-url", mysql_url, *SMALL, "-q").code == 0
    on_sqlite, on_mysql = validate(database_url=sqlite_url), validate(database_url=mysql_url)
    assert [(c.name, c.ok) for c in on_mysql.checks] == [(c.name, c.ok) for c in on_sqlite.checks]
    for a, b in zip(on_mysql.checks, on_sqlite.checks, strict=True):  # MySQL divides to 4 more decimals
        assert a.measured == pytest.approx(b.measured, rel=1e-4, abs=1e-4), a.name
    assert erpgen("validate", "--database-url", mysql_url).code == (0 if on_sqlite.ok else 1)


def test_bad_input_is_one_line(erpgen, mysql_url):
    r = erpgen("generate", "--database-url", f"mysql://root:{PASSWORD}@127.0.0.1:1/erpgen")
    assert_one_clean_line(r, "cannot connect to mysql://root:***@127.0.0.1:1/erpgen", "Connection refused")
    missing = make_url(mysql_url).set(database="erpgen_no_such_db").render_as_string(hide_password=False)
    r = erpgen("generate", "--database-url", missing)
    assert_one_clean_line(r, "Unknown database 'erpgen_no_such_db'")


def test_a_second_run_is_refused_at_once(erpgen, mysql_url):
    from erpgen.sinks.mysql import load_lock

    with connect(mysql_url) as first:  # stands in for a first run that is still loading
        lock = load_lock(make_url(mysql_url).database)
        assert first.exec_driver_sql("SELECT GET_LOCK(%s, 0)", (lock,)).scalar()
        r = erpgen("generate", "--database-url", mysql_url, "--n-customers", "50", "-q")
        assert_one_clean_line(r, "another erpgen run is loading into", "wait for it to finish")
    assert erpgen("generate", "--database-url", mysql_url, "--n-customers", "50", "-q").code == 0


def test_migrations_up_and_down(mysql_url):
    with connect(mysql_url) as conn:
        for revision in ("head", "0001", "head"):
            with conn.begin():
                (migrate.upgrade if revision == "head" else migrate.downgrade)(conn, revision)
        with conn.begin():
            migrate.check(conn)
        with conn.begin():
            migrate.downgrade(conn, "base")
        assert inspect(conn).get_table_names() == ["alembic_version"]


def test_dry_run_estimates_without_a_server(erpgen):
    r = erpgen(
        "generate", "--dry-run", "--n-customers", "500", "--database-url", "mariadb://root@127.0.0.1:1/x"
    )
    assert r.code == 0 and "size (mysql): about" in r.out, r


def test_a_missing_driver_is_one_line_naming_the_install(tmp_path):
    without_pymysql = (
        "import sys; sys.modules['pymysql'] = None; from erpgen.cli import main; "
        "sys.exit(main(['generate', '--database-url', 'mysql://root@127.0.0.1:3306/x']))"
    )
    r = run_process([sys.executable, "-c", without_pymysql], cwd=tmp_path)
    assert_one_clean_line(r, "needs the PyMySQL driver", "pip install 'erpgen[mysql]'")
