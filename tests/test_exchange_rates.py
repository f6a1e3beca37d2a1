"""Currencies and exchange rates: the walk (seeded, path independent, plausibly volatile), the scenario's
currencies, both tables with their keys on real databases, revision 0007 and its downgrade, and the
validate rule that every day of sales has a rate."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from erpgen import migrate, scenario
from erpgen.config import make_config
from erpgen.database import connect
from erpgen.dates import day_number
from erpgen.errors import ConfigError
from erpgen.exchange_rates import WEEKDAYS_PER_YEAR, rates_batch
from erpgen.schema import RATE_SCALE
from erpgen.urls import parse

from .conftest import REPO
from .helpers import digests

GYM = ["--scenario", "gym-coffee", "--n-customers", "200", "--date-from", "2022-01-01",
       "--date-till", "2023-12-31", "--seed", "7", "-q"]  # fmt: skip
DAYS = (dt.date(2023, 12, 31) - dt.date(2022, 1, 1)).days + 1
README_SQL = re.search(
    r"<!-- readme:sql-rates -->\s*```sql\n(.+?)\n```", (REPO / "README.md").read_text(), re.S
)


def _rates(till: str, seed: int = 7, **flags) -> dict[str, np.ndarray]:
    cfg = make_config(scenario="gym-coffee", seed=seed, date_till=till, **flags)
    b = rates_batch(cfg, day_number(cfg.date_till))
    codes = np.array(b["currency_code"])
    return {str(c): np.asarray(b["rate_units"])[codes == c] for c in cfg.scenario.currencies}


def test_the_walk_is_seeded_and_a_shorter_range_is_a_prefix_of_a_longer_one():
    short, long = _rates("2021-06-30"), _rates("2025-06-30")
    assert short.keys() == long.keys() == {"AUD", "EUR", "GBP", "USD"}
    for code in short:
        assert np.array_equal(long[code][: len(short[code])], short[code]), code
    again, other = _rates("2021-06-30"), _rates("2021-06-30", seed=8)
    assert all(np.array_equal(again[c], short[c]) for c in short)
    assert not np.array_equal(other["USD"], short["USD"])


def test_the_company_currency_is_1_and_the_others_move_like_majors():
    rates = _rates("2025-06-30")  # 6.5 years
    assert set(rates["GBP"].tolist()) == {10**RATE_SCALE}
    start = make_config(scenario="gym-coffee").date_from
    weekday = (np.arange(len(rates["USD"])) + start.weekday()) % 7 < 5
    for code, low, high in (("USD", 0.05, 0.12), ("EUR", 0.05, 0.11), ("AUD", 0.06, 0.14)):
        log_returns = np.diff(np.log(rates[code].astype(float)))
        moved = log_returns[weekday[1:]]
        annual = moved.std() * np.sqrt(WEEKDAYS_PER_YEAR)
        assert low < annual < high, (code, annual)
        assert not log_returns[~weekday[1:]].any()  # a weekend keeps Friday's rate
    # a plausible level: US dollars in pounds start at 1 / 1.30 and stay within a factor of two
    usd = rates["USD"] / 10**RATE_SCALE
    assert usd[0] == pytest.approx(1 / 1.30, abs=1e-9)
    assert 0.38 < usd.min() and usd.max() < 1.55


def test_countries_take_their_usual_currency_and_the_company_its_first_countrys():
    s = scenario.parse(
        '[countries.DE]\nshare = 0.5\nlocale = "de_DE"\n[countries.XX]\nshare = 0.3\nlocale = "en_US"\n'
        '[countries.UK]\nshare = 0.2\nlocale = "en_GB"\ncurrency = "USD"\n'
    )
    assert s.company_currency == "EUR"
    assert [s.currency_of(c) for c in s.countries] == ["EUR", "EUR", "USD"]  # XX: unknown, the company's
    assert s.currencies == ("EUR", "USD")
    gym, air = scenario.load("gym-coffee")[0], scenario.load("air-freshener")[0]
    assert (gym.company_currency, gym.currencies) == ("GBP", ("AUD", "EUR", "GBP", "USD"))
    assert (air.company_currency, air.currencies) == ("USD", ("USD",))


@pytest.mark.parametrize(
    ("toml", "key"),
    [('currency = "XYZ"\n', "currency"),
     ('[countries.US]\nshare = 1.0\nlocale = "en_US"\ncurrency = "usd"\n', "countries.US.currency")],
)  # fmt: skip
def test_a_bad_currency_code_is_one_line(toml, key, erpgen, tmp_path):
    with pytest.raises(ConfigError, match=f"{key} .* is not an ISO 4217 currency code"):
        scenario.parse(toml)
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    r = erpgen("generate", "--scenario", str(path), "--database-url", f"sqlite:///{tmp_path / 'x.db'}")
    assert r.code == 2 and "Traceback" not in r.err and "ISO 4217" in r.err, r
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("db", ["sqlite_url", "pg_url", "mysql_url"])
def test_both_tables_load_with_their_keys(db, request, erpgen, tmp_path):
    url = request.getfixturevalue(db)
    assert erpgen("generate", "--database-url", url, *GYM).code == 0
    with connect(parse(url)) as conn:
        rows = conn.execute(text("SELECT currency_code, is_company, decimals FROM currencies")).all()
        assert sorted(rows) == [("AUD", 0, 2), ("EUR", 0, 2), ("GBP", 1, 2), ("USD", 0, 2)]
        per_code = conn.execute(
            text(
                "SELECT currency_code, count(*), min(rate), max(rate) FROM exchange_rates GROUP BY 1 ORDER BY 1"
            )
        ).all()
        assert [(c, n) for c, n, _, _ in per_code] == [(c, DAYS) for c in ("AUD", "EUR", "GBP", "USD")]
        assert [float(lo) for c, _, lo, hi in per_code if c == "GBP"] == [1.0]
        keys = inspect(conn).get_foreign_keys("exchange_rates")
        assert [(k["referred_table"], k["constrained_columns"]) for k in keys] == [
            ("currencies", ["currency_code"])
        ]
        conn.rollback()
        with pytest.raises(IntegrityError), conn.begin():  # the key holds: no rate of an unknown currency
            conn.execute(text("INSERT INTO exchange_rates VALUES ('XXX', '2022-01-01', 1.5)"))
        # the README's query: revenue in each currency, at the rate of the invoice date
        converted = dict(conn.execute(text(README_SQL.group(1))).all())
        revenue = conn.execute(text("SELECT sum(revenue) FROM sales_transactions")).scalar()
        assert sorted(converted) == ["AUD", "EUR", "GBP", "USD"]
        assert float(converted["GBP"]) == pytest.approx(float(revenue))
        assert 1.1 < float(converted["USD"]) / float(revenue) < 1.6  # dollars per pound, 2022-2023
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    if db != "sqlite_url":
        assert erpgen("generate", "--database-url", reference, *GYM).code == 0
        ours, theirs = digests(url), digests(reference)
        assert {t: ours[t] for t in ("currencies", "exchange_rates")} == {
            t: theirs[t] for t in ("currencies", "exchange_rates")
        }


def test_revision_0007_downgrades_to_0006_and_back(any_url):
    with connect(parse(any_url), sqlite_foreign_keys=False) as conn:
        with conn.begin():
            migrate.upgrade(conn, "head")
            conn.execute(text("INSERT INTO currencies VALUES ('USD', 'US Dollar', 2, 1)"))
            conn.execute(text("INSERT INTO exchange_rates VALUES ('USD', '2022-01-01', 1)"))
        with conn.begin():
            migrate.downgrade(conn, "0006")
            assert migrate.current_revision(conn) == "0006"
            names = set(inspect(conn).get_table_names())
            assert not {"currencies", "exchange_rates"} & names and "erpgen_runs" in names
        with conn.begin():
            migrate.upgrade(conn, "head")
            migrate.check(conn)  # the revision makes exactly what erpgen.schema says
            assert conn.execute(text("SELECT count(*) FROM exchange_rates")).scalar() == 0


def test_validate_fails_when_a_day_has_no_rate(erpgen, sqlite_url):
    assert erpgen("generate", "--database-url", sqlite_url, *GYM).code == 0
    rule = "a rate for every currency every day of sales"
    r = erpgen("validate", "--database-url", sqlite_url)
    assert any(line.split()[:1] == ["ok"] and rule in line for line in r.out.splitlines()), r
    with connect(parse(sqlite_url)) as conn, conn.begin():
        conn.execute(
            text("DELETE FROM exchange_rates WHERE currency_code = 'EUR' AND rate_date = '2023-03-15'")
        )
    r = erpgen("validate", "--database-url", sqlite_url)
    assert r.code == 1
    (line,) = [line for line in r.out.splitlines() if rule in line]
    assert line.split()[0] == "FAIL" and line.split()[-4] == "1", line
