"""invoices: a header per invoice id of the fact lines, on real databases and in Parquet; carried on by
extend and live; and one B2B customer's invoice walked from its lines to its due date."""

from __future__ import annotations

import datetime as dt
import time
from decimal import ROUND_HALF_EVEN, Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from erpgen import scenario
from erpgen.database import connect
from erpgen.digest import parquet_digests
from erpgen.errors import ConfigError
from erpgen.urls import parse

from .helpers import assert_one_clean_line, digests, rows, start

GYM = ["--scenario", "gym-coffee", "--n-customers", "300", "--date-from", "2022-01-01",
       "--date-till", "2023-06-30", "--seed", "5", "-q"]  # fmt: skip
AIR = ["--n-customers", "400", "--date-from", "2022-01-01", "--date-till", "2023-06-30", "--seed", "3", "-q"]
# payment terms per channel of the two scenarios
TERMS = {
    "gym-coffee": {"ONLINE": 0, "RETAIL": 0, "B2B": 60},
    "air-freshener": {"ONLINE": 0, "RETAIL": 0, "B2B": 30},
}
CURRENCY = {"UK": "GBP", "US": "USD", "AU": "AUD", "IE": "EUR"}  # gym-coffee's countries
CENT = Decimal("0.01")


@pytest.mark.parametrize("db", ["sqlite_url", "pg_url", "mysql_url"])
def test_one_header_per_invoice_with_its_lines_total_terms_and_currency(db, request, erpgen, tmp_path):
    url = request.getfixturevalue(db)
    assert erpgen("generate", "--database-url", url, *GYM).code == 0
    headers = rows(
        url,
        "SELECT i.invoice_id, i.customer_id, i.store_id, i.is_credit, i.invoice_date, i.invoiced_at, i.due_on, "
        "i.currency_code, i.total, i.total_company, s.channel, s.country, r.rate "
        "FROM invoices i JOIN stores s ON s.store_id = i.store_id "
        "JOIN exchange_rates r ON r.currency_code = i.currency_code AND r.rate_date = i.invoice_date",
    )
    lines = {
        row[0]: row[1:]
        for row in rows(
            url,
            "SELECT invoice_id, min(customer_id), max(customer_id), min(store_id), max(store_id), "
            "min(invoice_date), max(invoiced_at), sum(revenue), min(quantity) FROM sales_transactions "
            "GROUP BY invoice_id",
        )
    }
    assert len(headers) == len(lines) > 300 and {h[0] for h in headers} == set(lines)
    kinds = set()
    for inv, customer, store, credit, day, at, due, code, total, company, channel, country, rate in headers:
        lo_c, hi_c, lo_s, hi_s, first_day, last_at, revenue, quantity = lines[inv]
        assert customer == lo_c == hi_c and store == lo_s == hi_s, inv
        assert str(day) == str(first_day) and str(at) == str(last_at), inv
        assert credit == (1 if inv.startswith("CRN-") else 0) == (1 if Decimal(str(quantity)) < 0 else 0)
        assert Decimal(str(company)).quantize(CENT) == Decimal(str(revenue)).quantize(CENT), inv
        expected = (Decimal(str(company)) / Decimal(str(rate))).quantize(CENT, ROUND_HALF_EVEN)
        assert abs(Decimal(str(total)) - expected) <= CENT / 2, (inv, total, expected)
        assert code == CURRENCY[country], inv
        days = (dt.date.fromisoformat(str(due)[:10]) - dt.date.fromisoformat(str(day)[:10])).days
        assert days == TERMS["gym-coffee"][channel], inv
        kinds.add((channel, bool(credit), code))
    assert {k[0] for k in kinds} == {"ONLINE", "RETAIL", "B2B"} and {k[1] for k in kinds} == {False, True}
    assert {k[2] for k in kinds} == {"GBP", "USD", "AUD", "EUR"}

    with connect(parse(url)) as conn:
        keys = {
            k["referred_table"]: k["constrained_columns"] for k in inspect(conn).get_foreign_keys("invoices")
        }
        assert keys == {
            "customers": ["customer_id"],
            "stores": ["store_id"],
            "currencies": ["currency_code"],
            "sales_orders": ["order_id"],
        }
        conn.rollback()
        # the CHECK holds: nothing falls due before it is invoiced
        with pytest.raises(DBAPIError), conn.begin():
            conn.execute(
                text("UPDATE invoices SET due_on = '2021-12-31' WHERE invoice_id = :i"), {"i": headers[0][0]}
            )
    validated = erpgen("validate", "--database-url", url)
    for rule in ("invoice totals equal their lines", "due on or after the invoice date",
                 "a rate for every invoice date", "every invoice id of the lines has a header"):  # fmt: skip
        (line,) = [ln for ln in validated.out.splitlines() if rule in ln]
        assert line.split()[0] == "ok", line
    if db != "sqlite_url":  # the same rows as SQLite's
        reference = f"sqlite:///{tmp_path / 'reference.db'}"
        assert erpgen("generate", "--database-url", reference, *GYM).code == 0
        assert digests(url)["invoices"] == digests(reference)["invoices"]


def test_validate_fails_on_a_header_that_is_not_its_lines(erpgen, sqlite_url):
    assert erpgen("generate", "--database-url", sqlite_url, *AIR).code == 0
    with connect(parse(sqlite_url)) as conn, conn.begin():
        conn.execute(text(
            "UPDATE invoices SET total = total + 1, total_company = total_company + 1 WHERE invoice_id = "
            "(SELECT min(invoice_id) FROM invoices WHERE invoice_id LIKE 'INV-%')"
        ))  # fmt: skip
        # and a header left without its lines (none of them given back)
        conn.execute(text(
            "DELETE FROM sales_transactions WHERE invoice_id = (SELECT max(s.invoice_id) FROM sales_transactions s "
            "WHERE s.invoice_id LIKE 'INV-%' AND NOT EXISTS (SELECT 1 FROM sales_transactions r "
            "WHERE r.returned_line_id = s.line_id))"
        ))  # fmt: skip
    r = erpgen("validate", "--database-url", sqlite_url)
    assert r.code == 1
    (line,) = [ln for ln in r.out.splitlines() if "invoice totals equal their lines" in ln]
    assert line.split()[0] == "FAIL" and line.split()[-3] == "2", line


def test_parquet_holds_the_headers_as_a_typed_dataset(erpgen, sqlite_url, tmp_path):
    out = tmp_path / "lake"
    r = erpgen("generate", "--database-url", sqlite_url, *GYM, "--parquet-dir", out, "--csv-dir", out)
    assert r.code == 0, r
    # CSV has the headers as a file with every column, Parquet as a typed dataset
    assert (out / "invoices").is_dir() and (out / "invoices.csv").is_file()
    data = pq.read_table(out / "invoices")
    types = {f.name: f.type for f in data.schema}
    assert types == {
        "invoice_id": pa.string(), "customer_id": pa.int32(), "store_id": pa.int32(),
        "is_credit": pa.int16(), "invoice_date": pa.date32(), "invoiced_at": pa.timestamp("ms"),
        "due_on": pa.date32(), "currency_code": pa.string(), "total": pa.decimal128(14, 2),
        "total_company": pa.decimal128(14, 2), "order_id": pa.string(),
    }  # fmt: skip
    assert data.num_rows == rows(sqlite_url, "SELECT count(*) FROM invoices")[0][0]
    assert parquet_digests(out)["invoices"] == digests(sqlite_url)["invoices"]


def test_extend_in_steps_writes_the_headers_of_the_lines_it_writes(erpgen, tmp_path):
    one, steps = (f"sqlite:///{tmp_path / name}" for name in ("one.db", "steps.db"))
    for url in (one, steps):
        assert erpgen("generate", "--database-url", url, *GYM).code == 0
    assert erpgen("extend", "--database-url", one, "--till", "2024-03-31", "-q").code == 0
    for till in ("2023-07-01", "2023-07-31", "2023-12-31", "2024-03-31"):
        assert erpgen("extend", "--database-url", steps, "--till", till, "-q").code == 0
    assert digests(one)["invoices"] == digests(steps)["invoices"]
    for url in (one, steps):
        counts = rows(url, "SELECT (SELECT count(DISTINCT invoice_id) FROM sales_transactions), "
                           "(SELECT count(*) FROM invoices), (SELECT max(invoice_date) FROM invoices)")  # fmt: skip
        ((lines, headers, last),) = counts
        assert lines == headers and str(last) > "2024-03"
        verified = erpgen("verify", "--database-url", url)
        assert verified.code == 0 and "ok    invoices" in verified.out, verified


def test_live_commits_each_header_with_its_lines(erpgen, sqlite_url, tmp_path):
    today = dt.datetime.now(dt.UTC).date()
    dataset = ["--n-customers", "800", "--date-from", str(today.replace(year=today.year - 2)),
               "--date-till", str(today - dt.timedelta(days=3)), "--seed", "11", "-q"]  # fmt: skip
    assert erpgen("generate", "--database-url", sqlite_url, *dataset).code == 0
    proc = start("--database-url", sqlite_url, "--speed", "21600", "--for", "5", cwd=tmp_path, command="live")
    seen = []
    try:
        while proc.poll() is None:
            # one read transaction: what a dashboard sees between two commits
            with connect(parse(sqlite_url)) as conn, conn.begin():
                seen.append(conn.execute(text(
                    "SELECT (SELECT count(DISTINCT invoice_id) FROM sales_transactions), "
                    "(SELECT count(*) FROM invoices), (SELECT max(invoiced_at) FROM invoices)"
                )).one())  # fmt: skip
            time.sleep(0.2)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert len({s[2] for s in seen}) >= 3, seen  # headers arrived in several commits
    assert all(lines == headers for lines, headers, _ in seen), seen
    assert str(seen[-1][2])[:10] >= str(today)
    verified = erpgen("verify", "--database-url", sqlite_url)
    assert verified.code == 0 and "ok    invoices" in verified.out, verified
    validated = erpgen("validate", "--database-url", sqlite_url)
    assert "FAIL" not in "\n".join(ln for ln in validated.out.splitlines() if "invoice" in ln), validated.out


@pytest.mark.parametrize(("name", "args"), [("gym-coffee", GYM), ("air-freshener", AIR)])
def test_one_b2b_customers_invoice_from_its_lines_to_its_due_date(name, args, erpgen, sqlite_url):
    """A B2B customer's first invoice: its lines add up to the header's total, in the company's currency
    and (for a customer abroad) in its own at that day's rate, and it falls due on net 30 or 60."""
    assert erpgen("generate", "--database-url", sqlite_url, *args).code == 0
    ((customer, invoice),) = rows(
        sqlite_url,
        "SELECT c.customer_id, min(s.invoice_id) FROM customers c JOIN sales_transactions s USING (customer_id) "
        "WHERE c.channel = 'B2B' AND s.invoice_id LIKE 'INV-%' AND (c.country <> 'UK' OR :air) "
        "GROUP BY c.customer_id ORDER BY c.customer_id LIMIT 1",
        air=name == "air-freshener",
    )
    lines = rows(sqlite_url, "SELECT quantity, unit_price, revenue, invoice_date FROM sales_transactions "
                             "WHERE invoice_id = :i ORDER BY line_id", i=invoice)  # fmt: skip
    assert lines and all(Decimal(str(q)) > 0 for q, _, _, _ in lines)
    revenue = sum(Decimal(str(r)) for _, _, r, _ in lines)
    assert revenue == sum(Decimal(str(q)) * Decimal(str(p)) for q, p, _, _ in lines)
    (header,) = rows(sqlite_url, "SELECT i.customer_id, i.invoice_date, i.due_on, i.currency_code, i.total, "
                                 "i.total_company, r.rate, c.is_company FROM invoices i JOIN exchange_rates r "
                                 "ON r.currency_code = i.currency_code AND r.rate_date = i.invoice_date "
                                 "JOIN currencies c ON c.currency_code = i.currency_code "
                                 "WHERE i.invoice_id = :i", i=invoice)  # fmt: skip
    who, day, due, code, total, company, rate, is_company = header
    assert who == customer and day == lines[0][3]
    assert Decimal(str(company)).quantize(CENT) == revenue.quantize(CENT)
    assert (Decimal(str(company)) / Decimal(str(rate))).quantize(CENT) == Decimal(str(total)).quantize(CENT)
    assert (is_company == 1) == (name == "air-freshener") and (code == "USD" or name == "gym-coffee")
    terms = TERMS[name]["B2B"]
    assert dt.date.fromisoformat(due) == dt.date.fromisoformat(day) + dt.timedelta(days=terms)


@pytest.mark.parametrize("value", ["-1", "366", "30.5", '"net 30"'])
def test_bad_payment_terms_are_one_line(value, erpgen, tmp_path):
    toml = f"[channels.B2B]\nshare = 1.0\npayment_days = {value}\n"
    with pytest.raises(ConfigError, match="payment_days"):
        scenario.parse(toml)
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    r = erpgen("generate", "--scenario", str(path), "--database-url", f"sqlite:///{tmp_path / 'x.db'}")
    assert_one_clean_line(r, "payment_days")
    assert not (tmp_path / "x.db").exists()
