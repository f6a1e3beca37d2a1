"""End to end on real databases: what lands, with what keys and types. (That the same seed gives the same
data on every target, and --replace: test_contract.)"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from .helpers import SMALL, connect, rows, scalar


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
    with connect(any_url) as conn:
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
            (("order_id",), "sales_orders"),
        }
        indexes = {ix["name"] for ix in insp.get_indexes("sales_transactions")}
        assert {"ix_sales_transactions_customer_id", "ix_sales_transactions_invoice_date"} <= indexes
    orphan = "INSERT INTO sales_transactions VALUES (999999999, 'INV-X', 123456, '2020-01-01', 1, 1, 1, 101, 1, NULL, '2020-01-01 10:00:00', NULL, NULL)"
    return_of_nothing = "INSERT INTO sales_transactions VALUES (999999998, 'CRN-X', 1, '2020-01-01', 1, -1, -1, 101, 1, 888888888, '2020-01-01 10:00:00', NULL, NULL)"
    unknown_category = "INSERT INTO products VALUES (9999, 'X', 'B', 'FOOD', NULL, 1.00)"
    opt_in_without_email = "INSERT INTO customers VALUES (999999, '2020-01-01', NULL, NULL, NULL, NULL, 1, 0, 0, 'US', 'RETAIL', NULL)"
    company_not_b2b = "INSERT INTO customers VALUES (999998, '2020-01-01', NULL, NULL, NULL, NULL, 0, 0, 0, 'US', 'RETAIL', 'Acme')"
    for sql in (orphan, return_of_nothing, unknown_category, opt_in_without_email, company_not_b2b):
        with connect(any_url) as conn, pytest.raises(IntegrityError), conn.begin():
            conn.execute(text(sql))


def test_postgres_uses_real_types(erpgen, pg_url):
    assert erpgen("generate", "--database-url", pg_url, *SMALL).code == 0
    types = dict(
        (r[0], r[1])
        for r in rows(
            pg_url,
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'sales_transactions'",
        )
    )
    assert types["invoice_date"] == "date"
    assert types["revenue"] == "numeric" and types["quantity"] == "numeric"
    assert types["line_id"] == "bigint"


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
    with connect(pg_url) as conn:
        assert inspect(conn).get_table_names() == []  # nothing committed
