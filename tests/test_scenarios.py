"""Scenarios load strictly, both built-ins load into SQLite and PostgreSQL, and `erpgen validate` judges them."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from erpgen.database import connect
from erpgen.urls import parse
from erpgen.validation import validate

from .helpers import assert_one_clean_line


def test_scenarios_command_lists_the_builtins(erpgen):
    r = erpgen("scenarios")
    assert r.code == 0
    names = [line.split()[0] for line in r.out.strip().splitlines()]
    assert names == ["air-freshener", "gym-coffee"]
    assert "520 SKUs" in r.out


@pytest.mark.parametrize("scenario", ["air-freshener", "gym-coffee"])
def test_builtin_scenario_loads_and_validates(erpgen, any_url, scenario):
    args = ["--scenario", scenario, "--database-url", any_url, "-q"]
    if scenario == "air-freshener":
        args += ["--n-customers", "4000"]
    assert erpgen("generate", *args).code == 0
    r = erpgen("validate", "--database-url", any_url)
    assert r.code == 0, r.out
    assert "all checks passed" in r.out and f"scenario {scenario}" in r.out
    with connect(parse(any_url)) as conn:
        if scenario == "gym-coffee":
            assert conn.execute(text("SELECT count(*) FROM products")).scalar() == 520
            assert conn.execute(text("SELECT count(*) FROM customers")).scalar() == 35_000
            countries = dict(
                conn.execute(text("SELECT country, count(*) FROM customers GROUP BY country")).all()
            )
            assert set(countries) == {"UK", "US", "AU", "IE"}
            assert countries["UK"] > countries["US"] > countries["IE"]


def test_gym_coffee_orders_split_as_the_odoo_report(erpgen, sqlite_url):
    """Issue 16: 60/20/20 of orders, not of customers; B2B customers reorder more, so fewer of them."""
    assert erpgen("generate", "--scenario", "gym-coffee", "--n-customers", "10000",
                  "--database-url", sqlite_url, "-q").code == 0  # fmt: skip
    with connect(parse(sqlite_url)) as conn:
        orders = dict(conn.execute(text(
            "SELECT st.channel, count(DISTINCT s.invoice_id) FROM sales_transactions s "
            "JOIN stores st USING (store_id) WHERE s.quantity > 0 GROUP BY st.channel"
        )).all())  # fmt: skip
        customers = dict(conn.execute(text("SELECT channel, count(*) FROM customers GROUP BY channel")).all())
    total = sum(orders.values())
    for channel, target in {"ONLINE": 0.60, "RETAIL": 0.20, "B2B": 0.20}.items():
        assert abs(orders[channel] / total - target) <= 0.03, (channel, orders)
    assert customers["B2B"] / 10_000 < 0.15
    r = erpgen("validate", "--database-url", sqlite_url)
    assert "ok    orders B2B (share of orders)" in r.out


def test_validate_fails_on_broken_data(erpgen, sqlite_url):
    assert erpgen("generate", "--database-url", sqlite_url, "--n-customers", "1500", "-q").code == 0
    with connect(parse(sqlite_url), sqlite_foreign_keys=False) as conn, conn.begin():
        conn.execute(text("UPDATE sales_transactions SET revenue = revenue + 1 WHERE line_id = 5"))
        conn.execute(text("UPDATE sales_transactions SET customer_id = 999999 WHERE line_id = 6"))
        conn.execute(
            text("UPDATE sales_transactions SET invoiced_at = '2001-01-01 10:00:00' WHERE line_id = 7")
        )
    r = erpgen("validate", "--database-url", sqlite_url)
    assert r.code == 1
    assert "FAIL  revenue = quantity x unit_price" in r.out
    assert "FAIL  orphans sales_transactions.customer_id" in r.out
    assert "FAIL  invoiced at a moment of the invoice date" in r.out


def test_validate_against_another_scenario_reports_misses(erpgen, sqlite_url):
    assert erpgen("generate", "--database-url", sqlite_url, "--n-customers", "1500", "-q").code == 0
    r = erpgen("validate", "--database-url", sqlite_url, "--scenario", "gym-coffee")
    assert r.code == 1 and "FAIL  one-time buyers" in r.out


def test_validate_on_an_empty_target(erpgen, tmp_path):
    assert_one_clean_line(
        erpgen("validate", "--database-url", f"sqlite:///{tmp_path}/none.db"), "does not exist"
    )
    migrated = f"sqlite:///{tmp_path}/migrated.db"
    assert erpgen("db", "upgrade", "--database-url", migrated).code == 0
    assert_one_clean_line(
        erpgen("validate", "--database-url", migrated), "holds erpgen's tables but no sales"
    )


def test_original_flags_override_the_scenario(erpgen, sqlite_url):
    r = erpgen("generate", "--scenario", "gym-coffee", "--database-url", sqlite_url, "--n-customers", "300",
               "--n-accessories", "50", "--p-email", "0", "--faker-locale", "de_DE", "-q")  # fmt: skip
    assert r.code == 0, r
    with connect(parse(sqlite_url)) as conn:
        assert conn.execute(text("SELECT count(*) FROM customers")).scalar() == 300
        assert conn.execute(text("SELECT count(*) FROM customers WHERE email IS NOT NULL")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM products WHERE category = 'APPAREL'")).scalar() == 50


def _file(tmp_path, body: str) -> str:
    path = tmp_path / "my.toml"
    path.write_text(body)
    return str(path)


@pytest.mark.parametrize(
    "body, message",
    [
        ('name = "x"\nn_customerz = 5\n', "unknown key n_customerz"),
        ("[lifecycle]\nloyal_shares = 0.5\n", "unknown key lifecycle.loyal_shares"),
        ('[lifecycle]\nloyal_share = "half"\n', "lifecycle.loyal_share must be a number"),
        ("n_customers = 1.5\n", "n_customers must be a whole number"),
        ('name = "x"\n[targets\n', "not valid TOML"),
        ("[countries.US]\nshare = 0.5\nlocale = 'en_US'\n", "must be >= 0 and add up to 1"),
        ("[countries.DE]\nshare = 1.0\nlocale = 'xx_XX'\n", "is not a Faker locale"),
        ("[channels.SHOP]\nshare = 1.0\n", "unknown channel 'SHOP'"),
        ("[lifecycle]\np_dormant = 2.0\n", "lifecycle.p_dormant must be between 0 and 1"),
        ("[catalog]\nuniverse = 'cars'\n", "catalog.universe 'cars' is unknown"),
        ("[seasonality]\nmonth_weights = [1, 2]\n", "needs 12 positive weights"),
        (
            "[targets]\norder_share = {ONLINE = 0.5, RETAIL = 0.3, B2B = 0.3}\n",
            "targets.order_share must add up to 1",
        ),
        (
            "[targets]\norder_share = {ONLINE = 0.6, RETAIL = 0.4}\n",
            "targets.order_share names ONLINE, RETAIL",
        ),
        (
            "[targets]\norder_share = {ONLINE = 1.5, RETAIL = -0.25, B2B = -0.25}\n",
            "targets.order_share.ONLINE must be between 0 and 1",
        ),
    ],
)
def test_bad_scenario_files(erpgen, tmp_path, body, message):
    target = tmp_path / "never.db"
    r = erpgen("generate", "--scenario", _file(tmp_path, body), "--database-url", f"sqlite:///{target}")
    assert_one_clean_line(r, message, "my.toml")
    assert not target.exists()


def test_toml_syntax_error_names_the_line(erpgen, tmp_path):
    r = erpgen("generate", "--scenario", _file(tmp_path, 'name = "x"\n\nn_customers = = 3\n'))
    assert_one_clean_line(r, "line 3")


def test_unknown_scenario_name(erpgen):
    assert_one_clean_line(
        erpgen("generate", "--scenario", "bakery"), "unknown scenario 'bakery'", "air-freshener"
    )


def test_a_partial_scenario_file_takes_the_defaults(erpgen, tmp_path, sqlite_url):
    path = _file(
        tmp_path, 'name = "tiny"\ndescription = "x"\nn_customers = 50\n[lifecycle]\np_dormant = 0.0\n'
    )
    assert erpgen("generate", "--scenario", path, "--database-url", sqlite_url, "-q").code == 0
    with connect(parse(sqlite_url)) as conn:
        assert conn.execute(text("SELECT count(*) FROM customers")).scalar() == 50
        assert conn.execute(text("SELECT scenario FROM erpgen_runs")).scalar() == "tiny"
        assert (
            conn.execute(text("SELECT count(*) FROM lifecycle_events WHERE event = 'DORMANT'")).scalar() == 0
        )


def test_faker_locales_read_off_the_package_are_fakers_own():
    """erpgen checks locales without importing every Faker provider; the set must be Faker's."""
    from faker.config import AVAILABLE_LOCALES

    from erpgen.scenario import faker_locales

    assert faker_locales() == frozenset(AVAILABLE_LOCALES)


# a small dataset of each scenario with B2B payers, orders still open at the end and credit notes
CHAIN = {
    "air-freshener": ["--n-customers", "600", "--date-from", "2021-01-01", "--seed", "7", "-q"],
    "gym-coffee": ["--scenario", "gym-coffee", "--n-customers", "600", "--date-from", "2021-01-01", "--seed", "1", "-q"],
}  # fmt: skip


@pytest.mark.parametrize("db", ["sqlite_url", "pg_url", "mysql_url"])
@pytest.mark.parametrize("scenario", list(CHAIN))
def test_the_order_to_cash_chain_validates_on_every_database(erpgen, request, db, scenario):
    """The chain's rules run in each database's dialect and find nothing, and its figures are within
    the scenario's terms."""
    url = request.getfixturevalue(db)
    assert erpgen("generate", "--database-url", url, *CHAIN[scenario]).code == 0
    checks = validate(database_url=url).checks
    chain = [c for c in checks if c.group == "order to cash (scenario terms)"]
    assert len(chain) == 3 * 3 + 1 + 2, chain  # 3 figures per channel, days to payment on B2B, receivables
    failed = [(c.name, c.measured) for c in checks if c.group in ("integrity", chain[0].group) and not c.ok]
    assert failed == []
    names = {c.name for c in checks}
    assert {"paid on or after invoicing", "OPEN orders: no delivery, no invoice"} <= names
    with connect(parse(url)) as conn:  # the data has what the rules look at
        statuses = dict(conn.execute(text("SELECT status, count(*) FROM sales_orders GROUP BY status")).all())
    assert set(statuses) >= {"CANCELLED", "INVOICED", "PAID"}, statuses


def _ids(url: str, sql: str) -> list:
    with connect(parse(url)) as conn:
        return [row[0] for row in conn.execute(text(sql))]


@pytest.mark.parametrize("db", ["sqlite_url", "pg_url", "mysql_url"])
def test_validate_finds_each_broken_document_of_the_chain(erpgen, request, db):
    """One document broken per rule: each rule fails with the count of what was broken, no other does."""
    url = request.getfixturevalue(db)
    assert erpgen("generate", "--database-url", url, *CHAIN["air-freshener"]).code == 0
    # payments of sale invoices made after the first days of rates, so that an earlier day still has one
    paid = _ids(url, "SELECT p.payment_id FROM payments p JOIN invoices i ON i.invoice_id = p.invoice_id "
                     "WHERE i.is_credit = 0 AND i.invoice_date > '2021-06-01' ORDER BY p.payment_id")  # fmt: skip
    (cancelled,) = _ids(url, "SELECT min(order_id) FROM sales_orders WHERE status = 'CANCELLED'")
    (sale_line,) = _ids(url, "SELECT min(line_id) FROM sales_transactions WHERE quantity > 0")
    with connect(parse(url)) as conn, conn.begin():

        def run(sql: str, **values) -> None:
            conn.execute(text(sql), values)

        run("UPDATE payments SET paid_on = '2021-05-01' WHERE payment_id = :p", p=paid[0])
        for p in paid[1:3]:
            run("UPDATE payments SET amount = amount + 1 WHERE payment_id = :p", p=p)
        run("DELETE FROM payments WHERE payment_id = :p", p=paid[3])  # its order still says PAID
        run("INSERT INTO deliveries (order_id, customer_id, shipped_on, promised_on, delivered_on) "
            "SELECT order_id, customer_id, order_date, order_date, NULL FROM sales_orders WHERE order_id = :o",
            o=cancelled)  # fmt: skip
        run("UPDATE sales_transactions SET return_reason = 'DEFECTIVE' WHERE line_id = :l", l=sale_line)
    r = erpgen("validate", "--database-url", url)
    assert r.code == 1
    failed = {
        c.name: c.measured for c in validate(database_url=url).checks if c.group == "integrity" and not c.ok
    }
    assert failed == {
        "paid on or after invoicing": 1,
        "a payment is the total of its invoice, in its currency": 2,
        "no invoice paid beyond its total": 2,
        "PAID orders: a paid invoice": 1,
        "cancelled orders: no invoice, no delivery": 1,
        "a return reason on credit-note lines only": 1,
    }, r.out
    (line,) = [ln for ln in r.out.splitlines() if "paid on or after invoicing" in ln]
    assert line.split()[0] == "FAIL" and line.split()[-3:] == ["1", "0", "payments"], line
