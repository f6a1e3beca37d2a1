"""Scenarios load strictly, both built-ins load into SQLite and PostgreSQL, and `erpgen validate` judges them."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from erpgen.database import connect
from erpgen.urls import parse

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
