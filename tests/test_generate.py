"""End to end on real databases: what lands, with what keys, and that the same seed gives the same data."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from erpgen.database import connect
from erpgen.digest import csv_digests, database_digests
from erpgen.urls import parse

SMALL = ["--n-customers", "300", "--date-from", "2019-01-01", "--date-till", "2021-12-31", "--seed", "7"]


def scalar(url: str, sql: str):
    with connect(parse(url)) as conn:
        return conn.execute(text(sql)).scalar()


def digests(url: str, **kw) -> dict[str, str]:
    with connect(parse(url)) as conn:
        return database_digests(conn, **kw)


def test_generate_loads_all_tables_with_sane_content(erpgen, any_url):
    r = erpgen("generate", "--database-url", any_url, *SMALL)
    assert r.code == 0, r
    assert "sales_transactions" in r.out and "rows" in r.out
    assert scalar(any_url, "SELECT count(*) FROM customers") == 300
    assert scalar(any_url, "SELECT count(*) FROM stores") == 1 + 8 + 1  # web shop, 8 stores, B2B desk
    assert scalar(any_url, "SELECT count(*) FROM products") == 5 + 10 + 8 + 74 + 1
    lines = scalar(any_url, "SELECT count(*) FROM sales_transactions")
    assert lines > 1000
    assert f"{lines:,}" in r.out
    assert Decimal(str(scalar(any_url, "SELECT sum(revenue) FROM sales_transactions"))) > 0
    # revenue = quantity x the line's unit price, on every line; credit notes give back part of a sale
    mismatches = scalar(
        any_url, "SELECT count(*) FROM sales_transactions WHERE abs(revenue - quantity * unit_price) > 0.001"
    )
    assert mismatches == 0
    assert scalar(any_url, "SELECT count(*) FROM sales_transactions WHERE returned_line_id IS NOT NULL") > 0
    assert scalar(any_url, "SELECT count(*) FROM customer_lifecycle") == 300
    assert scalar(any_url, "SELECT count(*) FROM lifecycle_events WHERE event = 'ACQUIRED'") == 300
    # no sale before the customer existed or after the range
    early = scalar(
        any_url,
        "SELECT count(*) FROM sales_transactions s JOIN customers c USING (customer_id) "
        "WHERE s.invoice_date < c.created_at OR s.invoice_date > '2021-12-31'",
    )
    assert early == 0
    # opt-ins only where the contact exists, and missingness near the defaults
    assert scalar(any_url, "SELECT count(*) FROM customers WHERE email IS NULL AND email_opt_in = 1") == 0
    with_email = scalar(any_url, "SELECT count(*) FROM customers WHERE email IS NOT NULL")
    assert 0.55 * 300 < with_email < 0.85 * 300


def test_keys_exist_and_are_enforced(erpgen, any_url):
    assert erpgen("generate", "--database-url", any_url, *SMALL).code == 0
    url = parse(any_url)
    with connect(url) as conn:
        insp = inspect(conn)
        assert insp.get_pk_constraint("sales_transactions")["constrained_columns"] == ["line_id"]
        fks = {
            (tuple(fk["constrained_columns"]), fk["referred_table"])
            for fk in insp.get_foreign_keys("sales_transactions")
        }
        assert fks == {
            (("customer_id",), "customers"),
            (("product_id",), "products"),
            (("store_id",), "stores"),
            (("returned_line_id",), "sales_transactions"),
        }
        indexes = {ix["name"] for ix in insp.get_indexes("sales_transactions")}
        assert {"ix_sales_transactions_customer_id", "ix_sales_transactions_invoice_date"} <= indexes
    orphan = "INSERT INTO sales_transactions VALUES (999999999, 'INV-X', 123456, '2020-01-01', 1, 1, 1, 101, 1, NULL)"
    return_of_nothing = "INSERT INTO sales_transactions VALUES (999999998, 'CRN-X', 1, '2020-01-01', 1, -1, -1, 101, 1, 888888888)"
    unknown_category = "INSERT INTO products VALUES (9999, 'X', 'B', 'FOOD', NULL, 1.00)"
    opt_in_without_email = "INSERT INTO customers VALUES (999999, '2020-01-01', NULL, NULL, NULL, NULL, 1, 0, 0, 'US', 'RETAIL', NULL)"
    company_not_b2b = "INSERT INTO customers VALUES (999998, '2020-01-01', NULL, NULL, NULL, NULL, 0, 0, 0, 'US', 'RETAIL', 'Acme')"
    for sql in (orphan, return_of_nothing, unknown_category, opt_in_without_email, company_not_b2b):
        with connect(url) as conn, pytest.raises(IntegrityError), conn.begin():
            conn.execute(text(sql))


def test_postgres_uses_real_types(erpgen, pg_url):
    assert erpgen("generate", "--database-url", pg_url, *SMALL).code == 0
    types = dict(
        (r[0], r[1])
        for r in _rows(
            pg_url,
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'sales_transactions'",
        )
    )
    assert types["invoice_date"] == "date"
    assert types["revenue"] == "numeric" and types["quantity"] == "numeric"
    assert types["line_id"] == "bigint"


def _rows(url, sql):
    with connect(parse(url)) as conn:
        return conn.execute(text(sql)).all()


def test_same_seed_same_data_across_targets_batch_and_block_sizes(erpgen, sqlite_url, pg_url, tmp_path):
    csv_dir = tmp_path / "csv"
    a = erpgen("generate", "--database-url", sqlite_url, *SMALL, "--csv-dir", csv_dir)
    b = erpgen("generate", "--database-url", pg_url, *SMALL, "--batch-size", "333", "--block-size", "37")
    assert a.code == 0 and b.code == 0, (a, b)
    full_sqlite, full_pg = digests(sqlite_url), digests(pg_url)
    assert full_sqlite == full_pg
    seed_cols = digests(sqlite_url, seed_columns_only=True)
    assert csv_digests(csv_dir) == seed_cols
    # a different seed gives different data (the digest is not blind)
    other = tmp_path / "other.db"
    assert erpgen("generate", "--database-url", f"sqlite:///{other}", *SMALL[:-1], "8").code == 0
    assert digests(f"sqlite:///{other}")["sales_transactions"] != full_sqlite["sales_transactions"]


def test_replace_regenerates_and_refusal_keeps_data(erpgen, any_url):
    assert erpgen("generate", "--database-url", any_url, *SMALL).code == 0
    before = digests(any_url)
    refused = erpgen("generate", "--database-url", any_url, "--n-customers", "50")
    assert refused.code == 2
    assert "already holds an erpgen dataset" in refused.err and "--replace" in refused.err
    assert digests(any_url) == before
    replaced = erpgen("generate", "--database-url", any_url, "--n-customers", "50", "--replace")
    assert replaced.code == 0, replaced
    assert scalar(any_url, "SELECT count(*) FROM customers") == 50


def test_csv_files_have_the_seed_columns_and_formats(erpgen, sqlite_url, tmp_path):
    import csv

    out = tmp_path / "export"
    assert erpgen("generate", "--database-url", sqlite_url, *SMALL, "--csv-dir", out).code == 0
    with open(out / "sales_transactions.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [
        "invoice_id",
        "customer_id",
        "invoice_date",
        "product_id",
        "quantity",
        "revenue",
        "store_id",
    ]
    assert all(len(r["invoice_date"]) == 10 and r["invoice_date"][4] == "-" for r in rows)
    assert all((Decimal(r["revenue"]) > 0) == r["invoice_id"].startswith("INV-") for r in rows)
    assert any(r["invoice_id"].startswith("CRN-") and int(r["quantity"]) < 0 for r in rows)
    with open(out / "customers.csv") as f:
        customers = list(csv.DictReader(f))
    assert list(customers[0]) == [
        "customer_id",
        "created_at",
        "first_name",
        "last_name",
        "email",
        "phone",
        "email_opt_in",
        "sms_opt_in",
        "call_opt_in",
    ]
    assert any(c["last_name"] == "" for c in customers)  # missing is empty, not "None"
    assert not any("None" in v for c in customers for v in c.values())
    with open(out / "products.csv") as f:
        products = list(csv.DictReader(f))
    assert list(products[0]) == ["product_id", "product_name", "brand", "category", "gramm_g"]
    assert {p["category"] for p in products} == {"DEVICE", "REFILL", "ACCESSORY", "SPARE_PART"}
    assert all((p["gramm_g"] != "") == (p["category"] == "REFILL") for p in products)
    assert not list(out.glob(".erpgen-*"))  # no scratch left behind


def test_database_url_from_environment(erpgen, sqlite_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    r = erpgen("generate", "--n-customers", "20", "--quiet")
    assert r.code == 0 and r.out == ""
    assert scalar(sqlite_url, "SELECT count(*) FROM customers") == 20


def test_workers_give_the_same_data(erpgen, tmp_path):
    one, two = tmp_path / "one.db", tmp_path / "two.db"
    args = ["generate", *SMALL, "--n-customers", "900", "-q"]
    assert erpgen(*args, "--database-url", f"sqlite:///{one}").code == 0
    assert (
        erpgen(*args, "--database-url", f"sqlite:///{two}", "--workers", "2", "--block-size", "100").code == 0
    )
    assert digests(f"sqlite:///{one}") == digests(f"sqlite:///{two}")


def test_postgres_fact_copy_queue_is_bounded(pg_url):
    import queue

    import psycopg
    from psycopg.copy import QueuedLibpqWriter

    from erpgen.sinks.postgres import COPY_QUEUE_PIECES, _queued_writer

    with psycopg.connect(pg_url) as conn, conn.cursor() as cur:
        # the attribute _queued_writer replaces is psycopg's queue (a rename there must fail here)
        assert isinstance(vars(QueuedLibpqWriter(cur)).get("_queue"), queue.Queue)
        writer = _queued_writer(cur)
        assert writer._queue.maxsize == COPY_QUEUE_PIECES
        cur.execute("CREATE TEMP TABLE t (x int)")
        with cur.copy("COPY t FROM STDIN", writer=writer) as copy:
            for i in range(5 * COPY_QUEUE_PIECES):  # more pieces than the queue holds
                copy.write(f"{i}\n")
        assert cur.execute("SELECT count(*), sum(x) FROM t").fetchone() == (
            5 * COPY_QUEUE_PIECES,
            sum(range(5 * COPY_QUEUE_PIECES)),
        )


def test_a_broken_self_reference_fails_with_its_own_message_on_postgres(erpgen, pg_url, monkeypatch):
    """The returned_line_id key is validated with hash joins off (_index_probes): when that validation
    fails, the user sees the violation, not a later "transaction is aborted"."""
    from erpgen import load

    real = load.fact_batch

    def broken(f, first_line_id):
        batch = real(f, first_line_id)
        returned = batch["returned_line_id"] = batch["returned_line_id"].copy()
        returned[returned > 0] = 10**12  # returns of a line that does not exist
        return batch

    monkeypatch.setattr(load, "fact_batch", broken)
    r = erpgen("generate", "--database-url", pg_url, *SMALL)
    assert r.code != 0
    assert "fk_sales_transactions_returned_line_id" in r.err, r.err
    assert "aborted" not in r.err and "Traceback" not in r.err
    with connect(parse(pg_url)) as conn:
        assert inspect(conn).get_table_names() == []  # nothing committed
