"""`erpgen extend`: a loaded dataset carried on to a later day, in place, on SQLite, PostgreSQL and MariaDB.

Any steps give the same dataset; rows loaded before stay as they were but for the truth learnt later;
nothing in the data shows where the extension began; a killed extension leaves the dataset as it was; a
second run, a day already covered, a database erpgen did not make or made in another data format are one
line each."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading

import numpy as np
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from erpgen import urls
from erpgen.scenario import REFUND_DAYS_MAX
from erpgen.simulation.returns import RETURN_WINDOW
from erpgen.sinks import database_sink

from .helpers import (
    FACTS_STARTED,
    REPO,
    SMALL,
    assert_one_clean_line,
    connect,
    digests,
    kill,
    rows,
    scalar,
    snapshot,
    start,
    wait_for,
)

STEPS = ("2022-01-01", "2022-01-31", "2022-12-31", "2023-01-01", "2023-01-31")  # a day, a month, a year


def _generate(erpgen, url: str, *args: str) -> None:
    r = erpgen("generate", "--database-url", url, *(args or SMALL), "-q")
    assert r.code == 0, r


def _extend(erpgen, url: str, till: str):
    r = erpgen("extend", "--database-url", url, "--till", till, "-q")
    assert r.code == 0, r
    return r


def _sqlite(tmp_path, name: str) -> str:
    return f"sqlite:///{tmp_path / name}"


def test_one_step_and_many_give_the_same_dataset(tmp_path, erpgen):
    one, steps = _sqlite(tmp_path, "one.db"), _sqlite(tmp_path, "steps.db")
    _generate(erpgen, one)
    _generate(erpgen, steps)
    _extend(erpgen, one, STEPS[-1])
    for till in STEPS:
        _extend(erpgen, steps, till)
    assert digests(one) == digests(steps)
    assert snapshot(one)["sales_transactions"] == snapshot(steps)["sales_transactions"]
    for url in (one, steps):
        assert erpgen("verify", "--database-url", url).code == 0
        r = erpgen("validate", "--database-url", url)
        assert r.code == 0, r
    assert scalar(steps, "SELECT count(*) FROM erpgen_runs") == 1 + len(STEPS)
    assert str(scalar(steps, "SELECT max(invoice_date) FROM sales_transactions")) <= STEPS[-1]
    assert str(scalar(one, "SELECT max(created_at) FROM customers")) > "2022-12-01"


def test_rows_loaded_before_stay_but_for_the_truth_learnt_later(tmp_path, erpgen):
    url = _sqlite(tmp_path, "erpgen.db")
    _generate(erpgen, url)
    tables = (
        "customers",
        "sales_transactions",
        "customer_lifecycle",
        "lifecycle_events",
        "products",
        "stores",
    )
    before = {t: rows(url, f"SELECT * FROM {t}") for t in tables}
    _extend(erpgen, url, "2022-12-31")
    for t in tables:
        after = rows(url, f"SELECT * FROM {t}")
        assert len(after) >= len(before[t])
        if t != "customer_lifecycle":
            assert set(before[t]) <= set(after), t
    # customer_lifecycle: (customer_id, segment, acquired_on, first_purchase_on, lost_on); only the last two
    # change, and only from NULL to a day after the old end
    after = {r[0]: r for r in rows(url, "SELECT * FROM customer_lifecycle")}
    learnt = 0
    for old in before["customer_lifecycle"]:
        new = after[old[0]]
        assert new[:3] == old[:3]
        for was, now in zip(old[3:], new[3:]):
            if was != now:
                assert was is None and str(now) > "2021-12-31"
                learnt += 1
    assert learnt > 0
    # the lines added are numbered after the old ones, by day
    added = rows(url, "SELECT line_id, invoice_date FROM sales_transactions WHERE line_id > "
                      f"{len(before['sales_transactions'])} ORDER BY line_id")  # fmt: skip
    assert added and [d for _, d in added] == sorted(d for _, d in added)
    assert min(str(d) for _, d in added) > "2021-12-31"


def test_customers_whose_story_ended_are_not_simulated_again(tmp_path, erpgen):
    """A customer lost RETURN_WINDOW + REFUND_DAYS_MAX days before the data's end has nothing left to
    happen (its last sale came back and was refunded by then): extend reads
    which customers those are from customer_lifecycle and simulates the others and the new ones only.
    Its record keeps the masters' digests; `verify` simulates every customer and finds the same data."""
    url = _sqlite(tmp_path, "erpgen.db")
    _generate(erpgen, url)  # 300 customers to 2021-12-31
    going = scalar(url, "SELECT count(*) FROM customer_lifecycle WHERE lost_on IS NULL OR "
                        f"lost_on >= date('2021-12-31', '-{RETURN_WINDOW + REFUND_DAYS_MAX - 2} days')")  # fmt: skip
    r = erpgen("extend", "--database-url", url, "--till", "2022-12-31")
    assert r.code == 0, r
    simulated = re.findall(r"^erpgen: customers simulated ([\d,]+) rows$", r.err, re.M)
    new = scalar(url, "SELECT count(*) FROM customers") - 300
    assert new > 0 and 300 - going > 50, (going, new)
    assert int(simulated[-1].replace(",", "")) == going + new
    assert f"simulated {going + new:,} of its {300 + new:,} customers" in r.out, r
    recorded = json.loads(scalar(url, "SELECT content_digest FROM erpgen_runs ORDER BY run_id DESC LIMIT 1"))
    assert {"customers", "sales_transactions", "stores", "exchange_rates"} & set(recorded) == {
        "stores",
        "exchange_rates",
    }
    r = erpgen("verify", "--database-url", url)
    assert r.code == 0 and "content matches the digest simulated to where the data ends" in r.out, r


@pytest.mark.parametrize("server", ["pg_url", "mysql_url"])
def test_postgres_and_mariadb_extend_to_the_same_data_as_sqlite(server, request, tmp_path, erpgen):
    url, lite = request.getfixturevalue(server), _sqlite(tmp_path, "erpgen.db")
    for target in (url, lite):
        _generate(erpgen, target)
        _extend(erpgen, target, "2022-06-30")
        _extend(erpgen, target, "2023-01-31")
    assert digests(url) == digests(lite)
    r = erpgen("verify", "--database-url", url)
    assert r.code == 0, r


def test_postgres_checks_the_keys_of_the_lines_it_adds_whoever_extends(pg_url, tmp_path, erpgen):
    """A superuser's extension leaves out the key triggers of the lines, headers, documents and lifecycle rows
    it writes and checks their keys itself: those to the small parents (customers, products, stores,
    currencies) batch by batch against the keys the tables hold, the others by a query over the values
    written that are not keys the transaction wrote itself (each finds a value without a parent); another
    role's drops the keys and validates them over the whole table. Both give SQLite's data."""
    role = f"erpgen_owner_{os.getpid()}"
    with connect(pg_url) as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text(f"ALTER DATABASE {make_url(pg_url).database} OWNER TO {role}"))
        conn.commit()
    try:
        owner = make_url(pg_url).set(username=role).render_as_string(hide_password=False)
        lite = _sqlite(tmp_path, "erpgen.db")
        for target in (owner, lite):
            _generate(erpgen, target)
            _extend(erpgen, target, "2022-12-31")
        assert digests(owner) == digests(lite)
        sink = database_sink(make_url(pg_url), replace=False, append=True)
        sink.begin()  # as a superuser's extension does: the keys of what it writes past the triggers
        try:
            conn = sink.conn

            def written(table: str, batch: dict):
                keys = sink.written_keys(conn, table)
                keys.check(batch)  # the small parents' keys, batch by batch
                with conn.connection.dbapi_connection.cursor() as cur:
                    for probe in keys.probes():  # the others', once the COPY is done
                        sink.run_probe(cur, probe)

            _each_broken_key_is_found(conn, written)
        finally:
            sink.abort()
        _extend(erpgen, pg_url, "2023-01-31")  # the superuser's own extension passes its check
        _extend(erpgen, lite, "2023-01-31")
        assert digests(pg_url) == digests(lite)
    finally:
        with connect(pg_url) as conn:
            conn.execute(text(f"ALTER DATABASE {make_url(pg_url).database} OWNER TO postgres"))
            conn.execute(text(f"REASSIGN OWNED BY {role} TO postgres"))
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
            conn.commit()


def test_mariadb_checks_the_keys_of_what_it_adds_itself(mysql_url, tmp_path, erpgen):
    """An extension into MariaDB turns foreign_key_checks off for its session and checks the keys of what it
    writes itself, as PostgreSQL's does: those to the small parents batch by batch, the others once every row
    is in, over the values that are not keys the transaction wrote itself (each finds a value without a
    parent). Its data is SQLite's, and its session checks keys again after."""
    lite = _sqlite(tmp_path, "erpgen.db")
    for target in (mysql_url, lite):
        _generate(erpgen, target)
        _extend(erpgen, target, "2022-12-31")
    assert digests(mysql_url) == digests(lite)
    sink = database_sink(urls.parse(mysql_url), replace=False, append=True)
    sink.begin()
    try:
        conn = sink.conn
        assert conn.exec_driver_sql("SELECT @@foreign_key_checks").scalar() == 0

        def written(table: str, batch: dict):
            keys = sink.written_keys(table)
            keys.check(batch)  # the small parents' keys, batch by batch
            for probe in keys.probes():  # the others', once the rows are in
                sink.run_probe(conn, probe)

        _each_broken_key_is_found(conn, written)
    finally:
        sink.abort()
    _extend(erpgen, mysql_url, "2023-01-31")  # its own extension passes its check
    _extend(erpgen, lite, "2023-01-31")
    assert digests(mysql_url) == digests(lite)
    with connect(mysql_url) as conn:  # a new session checks keys as the server's default has it
        assert conn.exec_driver_sql("SELECT @@foreign_key_checks").scalar() == 1


def _each_broken_key_is_found(conn, written) -> None:
    """written(table, batch) checks a batch's keys as an extension's writer does, then probes the rest: each
    kind of key, broken, is found; a key the same transaction wrote is there without a probe."""
    ((store, product, currency, order, invoice, line_id),) = conn.exec_driver_sql(
        "SELECT (SELECT min(store_id) FROM stores), (SELECT min(product_id) FROM products), "
        "(SELECT min(currency_code) FROM currencies), (SELECT min(order_id) FROM sales_orders), "
        "(SELECT min(invoice_id) FROM invoices), (SELECT min(line_id) FROM sales_transactions)"
    ).all()
    line = {"line_id": np.array([10**12 + 1, 10**12 + 2]), "customer_id": np.array([1, 2]),
            "product_id": np.array([product] * 2), "store_id": np.array([store] * 2),
            "order_id": np.array([order.encode()] * 2), "returned_line_id": np.array([0, line_id])}  # fmt: skip
    written("sales_transactions", line)
    broken = {
        "customer_id": (np.array([1, 999999]), r"customer_id names no row of customers: \[999999\]"),
        "product_id": (np.array([product, 10**9]), r"product_id names no row of products: \[1000000000\]"),
        "order_id": (np.array([order.encode(), b"SO-NONE"]), "order_id names no row of sales_orders: .*SO-NONE"),
        "returned_line_id": (np.array([0, 10**12]), r"names no row of sales_transactions: \[1000000000000\]"),
    }  # fmt: skip
    for column, (values, message) in broken.items():
        with pytest.raises(RuntimeError, match=message):
            written("sales_transactions", {**line, column: values})
    payment = {"invoice_id": np.array([invoice.encode()]), "customer_id": np.array([1]),
               "currency_code": np.array([currency.encode()])}  # fmt: skip
    written("payments", payment)
    with pytest.raises(RuntimeError, match="payments rows whose invoice_id names no row of invoices"):
        written("payments", {**payment, "invoice_id": np.array([b"INV-NONE"])})
    with pytest.raises(RuntimeError, match=r"currency_code names no row of currencies: \['XXX'\]"):
        written("payments", {**payment, "currency_code": np.array([b"XXX"])})
    # an invoice checked as written (here only checked, so the table does not hold it) may be paid, and a
    # line given back
    written("invoices", {"invoice_id": np.array([b"INV-NEW"]), "customer_id": np.array([1]),
                         "store_id": np.array([store]), "currency_code": np.array([currency.encode()]),
                         "order_id": np.array([order.encode()])})  # fmt: skip
    written("payments", {**payment, "invoice_id": np.array([b"INV-NEW"])})
    written("sales_transactions", {**line, "returned_line_id": np.array([0, 10**12 + 1])})
    with pytest.raises(RuntimeError, match="payments rows whose invoice_id names no row of invoices"):
        written("payments", {**payment, "invoice_id": np.array([b"INV-NEW", b"INV-OTHER"])})
    for table in ("customer_lifecycle", "lifecycle_events"):
        written(table, {"customer_id": np.array([1, 2])})
        with pytest.raises(RuntimeError, match=rf"{table} rows whose customer_id names no row of customers"):
            written(table, {"customer_id": np.array([1, 999999])})
    with pytest.raises(RuntimeError, match=r"exchange_rates rows whose currency_code names no row"):
        written("exchange_rates", {"currency_code": np.array([b"XXX"])})


def test_a_day_already_covered_changes_nothing_and_says_so(tmp_path, erpgen):
    url = _sqlite(tmp_path, "erpgen.db")
    _generate(erpgen, url)
    before = snapshot(url)
    for till in ("2021-06-30", "2021-12-31"):
        r = erpgen("extend", "--database-url", url, "--till", till)
        assert r.code == 0 and r.out.strip().splitlines() == [
            f"erpgen: {url} already covers {till} (its data runs to 2021-12-31); nothing to do"
        ], r
    assert snapshot(url) == before


def test_what_it_cannot_extend_is_one_line(tmp_path, erpgen):
    r = erpgen("extend", "--database-url", _sqlite(tmp_path, "missing.db"))
    assert_one_clean_line(r, "does not exist")
    assert not (tmp_path / "missing.db").exists()
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as raw:
        raw.execute("CREATE TABLE notes (x INTEGER)")
    assert_one_clean_line(
        erpgen("extend", "--database-url", f"sqlite:///{other}"), "holds no dataset erpgen made"
    )
    url = _sqlite(tmp_path, "erpgen.db")
    _generate(erpgen, url)
    for bad in (["--till", "2022-02-30"], ["--parquet-dir", str(tmp_path / "lake")], ["--csv-dir", "x"]):
        assert_one_clean_line(erpgen("extend", "--database-url", url, *bad))  # one target at a time
    assert_one_clean_line(erpgen("extend", "--database-url", url, "--till", "2075-01-01"), "the limit is 50")
    assert scalar(url, "SELECT count(*) FROM erpgen_runs") == 1
    duck = f"duckdb:///{tmp_path / 'erpgen.duckdb'}"
    assert_one_clean_line(erpgen("extend", "--database-url", duck), "does not exist")
    for flag in ("--csv-dir", "--parquet-dir", "--delta-dir"):  # a directory without an export of erpgen's
        assert_one_clean_line(erpgen("extend", flag, tmp_path), "holds no dataset erpgen made")
    assert_one_clean_line(
        erpgen("extend", "--csv-dir", tmp_path, "--parquet-dir", tmp_path), "one target at a time"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["erpgen.db", "other.db"]


def test_a_dataset_of_an_older_data_format_is_refused_by_extend_and_verify(tmp_path, erpgen):
    url = _sqlite(tmp_path, "erpgen.db")
    _generate(erpgen, url)
    with sqlite3.connect(tmp_path / "erpgen.db") as raw:
        raw.execute("UPDATE erpgen_runs SET format_version = 1")
    before = snapshot(url)
    assert_one_clean_line(
        erpgen("extend", "--database-url", url), "recorded by an older erpgen", "data format 1"
    )
    assert_one_clean_line(
        erpgen("verify", "--database-url", url), "recorded by an older erpgen", "not comparable"
    )
    assert snapshot(url) == before
    # a database still at the revision before the format number is older too
    assert erpgen("db", "downgrade", "--revision", "0004", "--database-url", url).code == 0
    assert_one_clean_line(erpgen("extend", "--database-url", url), "recorded by an older erpgen")


def test_a_second_extend_while_one_runs_is_refused(pg_url, mysql_url, tmp_path, erpgen):
    from erpgen.sinks.mysql import load_lock
    from erpgen.sinks.postgres import ADVISORY_LOCK_KEY

    for url, take in (
        (pg_url, f"SELECT pg_advisory_lock({ADVISORY_LOCK_KEY})"),
        (mysql_url, f"SELECT GET_LOCK('{load_lock(make_url(mysql_url).database)}', 10)"),
    ):
        _generate(erpgen, url)
        before = snapshot(url)
        driver = "postgresql+psycopg" if url.startswith("postgresql") else "mysql+pymysql"
        engine = create_engine(make_url(url).set(drivername=driver))
        held, release = threading.Event(), threading.Event()

        def hold(
            engine=engine, take=take, held=held, release=release
        ) -> None:  # stands in for a first run that is still writing
            with engine.connect() as conn:
                conn.execute(text(take))
                held.set()
                release.wait(30)

        t = threading.Thread(target=hold)
        t.start()
        try:
            assert held.wait(10)
            r = erpgen("extend", "--database-url", url, "--till", "2022-12-31")
            assert_one_clean_line(r, "another erpgen run is loading into")
        finally:
            release.set()
            t.join()
            engine.dispose()
        assert snapshot(url) == before
    url = _sqlite(tmp_path, "erpgen.db")
    _generate(erpgen, url)
    with sqlite3.connect(tmp_path / "erpgen.db", timeout=0.1) as other:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        r = erpgen("extend", "--database-url", url, "--till", "2022-12-31")
        other.rollback()
    assert_one_clean_line(r, "database is locked", "another process is writing to it")


@pytest.mark.parametrize("server", ["sqlite", "pg_url"])
def test_a_killed_extend_leaves_the_dataset_as_it_was(server, request, tmp_path, erpgen):
    url = _sqlite(tmp_path, "erpgen.db") if server == "sqlite" else request.getfixturevalue(server)
    _generate(erpgen, url, "--n-customers", "10000", "--date-from", "2020-01-01", "--date-till", "2021-12-31")
    before = snapshot(url)
    proc = start("--database-url", url, "--till", "2023-12-31", cwd=tmp_path, command="extend")
    try:
        wait_for(proc, FACTS_STARTED)  # the new customers are written, in the extension's transaction
    finally:
        kill(proc)
    assert snapshot(url) == before
    _extend(erpgen, url, "2022-03-31")  # and it carries on as if nothing had happened
    assert erpgen("verify", "--database-url", url).code == 0


def test_no_seam_where_the_extension_began(tmp_path, erpgen):
    """The year after the old end, extended, against the same year of a direct generate with as many
    customers, and against the year before (the trend: the direct run's own)."""
    ext, direct = _sqlite(tmp_path, "ext.db"), _sqlite(tmp_path, "direct.db")
    common = ["--date-from", "2018-01-01", "--seed", "11"]
    _generate(erpgen, ext, *common, "--n-customers", "3000", "--date-till", "2021-12-31")
    _extend(erpgen, ext, "2022-12-31")
    n = scalar(ext, "SELECT count(*) FROM customers")
    _generate(erpgen, direct, *common, "--n-customers", str(n), "--date-till", "2022-12-31")

    def figures(url: str, year: int) -> dict[str, float]:
        sales = f"returned_line_id IS NULL AND invoice_date BETWEEN '{year}-01-01' AND '{year}-12-31'"
        before = (
            f"returned_line_id IS NULL AND invoice_date BETWEEN '{year - 1}-01-01' AND '{year - 1}-12-31'"
        )
        return {
            "orders per month": scalar(
                url, f"SELECT count(DISTINCT invoice_id) FROM sales_transactions WHERE {sales}"
            )
            / 12,
            "active per month": scalar(
                url,
                f"SELECT avg(n) FROM (SELECT count(DISTINCT customer_id) AS n FROM sales_transactions "
                f"WHERE {sales} GROUP BY substr(invoice_date, 1, 7))",
            ),
            "retention": scalar(
                url,
                f"SELECT 1.0 * count(DISTINCT customer_id) / (SELECT count(DISTINCT customer_id) FROM "
                f"sales_transactions WHERE {before}) FROM sales_transactions WHERE {sales} AND customer_id IN "
                f"(SELECT customer_id FROM sales_transactions WHERE {before})",
            ),
            "return rate": scalar(
                url,
                "SELECT 1.0 * sum(returned_line_id IS NOT NULL) / sum(returned_line_id IS NULL) FROM "
                f"sales_transactions WHERE invoice_date BETWEEN '{year}-01-01' AND '{year}-12-31'",
            ),
            "new per month": scalar(
                url,
                f"SELECT count(*) FROM customers WHERE created_at BETWEEN '{year}-01-01' AND '{year}-12-31'",
            )
            / 12,
        }

    after, same_year, year_before, direct_before = (
        figures(ext, 2022), figures(direct, 2022), figures(ext, 2021), figures(direct, 2021)
    )  # fmt: skip
    for name in ("orders per month", "active per month", "new per month"):
        # within 12% of the direct run (whose calibration saw one year more), and the same trend
        assert abs(after[name] / same_year[name] - 1) < 0.12, (name, after, same_year)
        trend, direct_trend = after[name] / year_before[name], same_year[name] / direct_before[name]
        assert abs(trend - direct_trend) < 0.12, (name, trend, direct_trend)
        assert 0.95 < trend < 1.4, (name, trend)
    assert abs(after["retention"] - same_year["retention"]) < 0.05, (after, same_year)
    assert abs(after["retention"] - year_before["retention"]) < 0.05, (after, year_before)
    assert abs(after["return rate"] - same_year["return rate"]) < 0.015, (after, same_year)
    assert abs(after["return rate"] - year_before["return rate"]) < 0.015, (after, year_before)


def test_the_run_is_rebuilt_from_its_record_whatever_its_flags(tmp_path, erpgen):
    """A scenario file and a --faker-locale (which changes every country's names) are carried on: the
    recorded digest of the whole customers table, taken from the rebuilt run, matches what is loaded."""
    scenario = tmp_path / "shop.toml"
    scenario.write_text((REPO / "erpgen" / "scenarios" / "gym-coffee.toml").read_text())
    url = _sqlite(tmp_path, "erpgen.db")
    flags = ["--scenario", str(scenario), "--faker-locale", "de_DE", "--n-customers", "400"]
    _generate(erpgen, url, *flags, "--date-from", "2020-01-01", "--date-till", "2021-12-31")
    _extend(erpgen, url, "2022-12-31")
    r = erpgen("verify", "--database-url", url)
    assert r.code == 0, r
    assert scalar(url, "SELECT count(*) FROM customers") > 400
