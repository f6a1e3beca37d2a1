"""MariaDB/MySQL as a target: what lands, the same data as SQLite, and loads that land whole or not at all."""

from __future__ import annotations

import sys
import time

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from erpgen import migrate
from erpgen.database import connect
from erpgen.digest import database_digests
from erpgen.urls import parse
from erpgen.validation import validate

from .conftest import run_process
from .test_bad_input import PASSWORD, assert_one_clean_line
from .test_generate import SMALL, digests, scalar
from .test_reliability import kill, start, wait_for


def scratch_databases(url: str) -> list[str]:
    with connect(parse(url)) as conn:
        return conn.exec_driver_sql("SHOW DATABASES LIKE 'erpgen\\_scratch\\_%%'").scalars().all()


def test_load_lands_with_the_alembic_head_schema_and_enforced_keys(erpgen, mysql_url):
    r = erpgen("generate", "--database-url", mysql_url, *SMALL)
    assert r.code == 0, r
    assert "loaded mysql://" in r.out
    assert scalar(mysql_url, "SELECT count(*) FROM customers") == 300
    lines = scalar(mysql_url, "SELECT count(*) FROM sales_transactions")
    assert lines > 1000 and f"{lines:,}" in r.out
    assert scalar(mysql_url, "SELECT count(*) FROM customer_lifecycle") == 300
    assert scratch_databases(mysql_url) == []
    url = parse(mysql_url)
    with connect(url) as conn:
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
        }
        assert {"ix_sales_transactions_customer_id", "ix_sales_transactions_invoice_date"} <= {
            ix["name"] for ix in insp.get_indexes("sales_transactions")
        }
        conn.rollback()
        with conn.begin():
            migrate.check(conn)  # exactly the head revision's schema, keys and indexes included
    orphan = "INSERT INTO sales_transactions VALUES (999999999, 'INV-X', 123456, '2020-01-01', 1, 1, 1, 101, 1, NULL)"
    opt_in_without_email = "INSERT INTO customers VALUES (999999, '2020-01-01', NULL, NULL, NULL, NULL, 1, 0, 0, 'US', 'RETAIL', NULL)"
    for sql, refusal in (
        (orphan, "foreign key constraint fails"),
        (opt_in_without_email, "opt_in_needs_email"),
    ):
        with connect(url) as conn, pytest.raises(DBAPIError, match=refusal), conn.begin():
            conn.execute(text(sql))
    verified = erpgen("verify", "--database-url", mysql_url)
    assert verified.code == 0 and "content matches the recorded digest" in verified.out, verified


def test_same_seed_same_data_and_measures_as_sqlite(erpgen, mysql_url, sqlite_url):
    assert erpgen("generate", "--database-url", sqlite_url, *SMALL, "-q").code == 0
    r = erpgen("generate", "--database-url", mysql_url, *SMALL, "--batch-size", "333", "--block-size", "37")
    assert r.code == 0, r
    with connect(parse(mysql_url)) as conn:
        mysql = database_digests(conn)
    assert mysql == digests(sqlite_url)
    # validate's SQL (dates, medians, ratios) measures the same on both
    on_sqlite, on_mysql = validate(database_url=sqlite_url), validate(database_url=mysql_url)
    assert [(c.name, c.ok) for c in on_mysql.checks] == [(c.name, c.ok) for c in on_sqlite.checks]
    for a, b in zip(on_mysql.checks, on_sqlite.checks, strict=True):  # MySQL divides to 4 more decimals
        assert a.measured == pytest.approx(b.measured, rel=1e-4, abs=1e-4), a.name
    assert erpgen("validate", "--database-url", mysql_url).code == (0 if on_sqlite.ok else 1)


def test_an_erpgen_dataset_is_refused_and_replace_swaps_it_leaving_no_scratch(erpgen, mysql_url):
    """(A foreign table beside erpgen's: test_reliability, on every target.)"""
    assert erpgen("generate", "--database-url", mysql_url, "--n-customers", "50", "-q").code == 0
    before = digests(mysql_url)
    refused = erpgen("generate", "--database-url", mysql_url, "--n-customers", "60")
    assert_one_clean_line(refused, "already holds")
    assert digests(mysql_url) == before
    assert erpgen("generate", "--database-url", mysql_url, "--n-customers", "60", "--replace", "-q").code == 0
    assert scalar(mysql_url, "SELECT count(*) FROM customers") == 60
    assert scratch_databases(mysql_url) == []


def test_bad_input_is_one_line(erpgen, mysql_url):
    r = erpgen("generate", "--database-url", f"mysql://root:{PASSWORD}@127.0.0.1:1/erpgen")
    assert_one_clean_line(r, "cannot connect to mysql://root:***@127.0.0.1:1/erpgen", "Connection refused")
    missing = make_url(mysql_url).set(database="erpgen_no_such_db").render_as_string(hide_password=False)
    r = erpgen("generate", "--database-url", missing)
    assert_one_clean_line(r, "Unknown database 'erpgen_no_such_db'")


def test_a_second_run_is_refused_at_once(erpgen, mysql_url):
    from erpgen.sinks.mysql import load_lock

    engine = create_engine(parse(mysql_url))
    with engine.connect() as first:  # stands in for a first run that is still loading
        assert first.exec_driver_sql(
            "SELECT GET_LOCK(%s, 0)", (load_lock(parse(mysql_url).database),)
        ).scalar()
        r = erpgen("generate", "--database-url", mysql_url, "--n-customers", "50", "-q")
        assert_one_clean_line(r, "another erpgen run is loading into", "wait for it to finish")
    engine.dispose()
    assert erpgen("generate", "--database-url", mysql_url, "--n-customers", "50", "-q").code == 0


@pytest.mark.parametrize("phase", ["erpgen: sales_transactions", "erpgen: keys and indexes"])
def test_kill_9_leaves_the_target_as_it_was_and_the_next_run_cleans_up(erpgen, mysql_url, tmp_path, phase):
    assert erpgen("generate", "--database-url", mysql_url, "--n-customers", "200", "-q").code == 0
    before = digests(mysql_url)
    proc = start("--database-url", mysql_url, "--n-customers", "20000", "--batch-size", "5000", "--replace",
                 cwd=tmp_path)  # fmt: skip
    wait_for(proc, phase)
    kill(proc)
    assert digests(mysql_url) == before
    left = scratch_databases(mysql_url)
    assert left, "the killed run's scratch database is expected here"
    # the server ends the killed client's session (and frees its lock) once it sees the socket close
    with connect(parse(mysql_url)) as conn:
        for _ in range(100):
            if conn.exec_driver_sql("SELECT IS_FREE_LOCK(%s)", (left[0],)).scalar():
                break
            time.sleep(0.1)
    assert erpgen("generate", "--database-url", mysql_url, "--n-customers", "30", "--replace", "-q").code == 0
    assert scalar(mysql_url, "SELECT count(*) FROM customers") == 30
    assert scratch_databases(mysql_url) == []


def test_resume_carries_on_to_the_same_data(erpgen, mysql_url, tmp_path):
    """A --resume load killed halfway waits in its own database, out of the target, and carries on."""
    args = ["--database-url", mysql_url, "--n-customers", "30000", "--block-size", "1500"]
    proc = start(*args, "--resume", cwd=tmp_path)
    wait_for(proc, "erpgen: sales_transactions")  # a few blocks are committed by now
    kill(proc)
    with connect(parse(mysql_url)) as conn:
        assert inspect(conn).get_table_names() == []
    assert_one_clean_line(erpgen("generate", *args), "interrupted --resume load waiting", "--resume")
    r = erpgen("generate", *args, "--resume", "--seed", "43")
    assert_one_clean_line(r, "was started with other parameters", "same options")
    done = erpgen("generate", *args, "--resume", "-q")
    assert done.code == 0, done
    verified = erpgen("verify", "--database-url", mysql_url)
    assert verified.code == 0 and "content matches the recorded digest" in verified.out, verified
    straight = f"sqlite:///{tmp_path / 'straight.db'}"
    assert erpgen("generate", *args[2:], "--database-url", straight, "-q").code == 0
    assert digests(mysql_url) == digests(straight)
    assert scratch_databases(mysql_url) == []
    with connect(parse(mysql_url)) as conn:
        assert conn.exec_driver_sql("SHOW DATABASES LIKE 'erpgen\\_resume\\_%%'").all() == []


def test_migrations_up_and_down(mysql_url):
    with connect(parse(mysql_url)) as conn:
        for revision in ("head", "0001", "head"):
            with conn.begin():
                (migrate.upgrade if revision == "head" else migrate.downgrade)(conn, revision)
        with conn.begin():
            migrate.check(conn)
        with conn.begin():
            migrate.downgrade(conn, "base")
        assert inspect(conn).get_table_names() == ["alembic_version"]


def test_server_closing_the_connection_mid_load_is_one_line_and_drops_the_scratch(
    erpgen, mysql_url, tmp_path
):
    assert erpgen("generate", "--database-url", mysql_url, "--n-customers", "200", "-q").code == 0
    before = digests(mysql_url)
    proc = start("--database-url", mysql_url, "--n-customers", "20000", "--batch-size", "5000", "--replace",
                 cwd=tmp_path)  # fmt: skip
    wait_for(proc, "erpgen: sales_transactions")
    with connect(parse(mysql_url)) as conn:
        loaders = (
            conn.exec_driver_sql(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE DB LIKE 'erpgen\\_scratch\\_%%'"
            )
            .scalars()
            .all()
        )
        assert loaders
        for session in loaders:
            conn.exec_driver_sql(f"KILL CONNECTION {session}")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("erpgen: error: loading into mysql://") and "nothing was committed" in last, err
    assert "Traceback" not in err
    assert digests(mysql_url) == before
    assert scratch_databases(mysql_url) == []


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


def test_a_connection_killed_during_load_data_is_a_driver_error(erpgen, mysql_url, tmp_path):
    """PyMySQL drops its socket when the server kills the connection while the file is being sent, and
    its next send fails on the missing socket: the sink reports that as the lost connection it is, so the
    load ends in one line rather than an internal error."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import pymysql

    from erpgen.sinks.encode import IsoDates
    from erpgen.sinks.mysql import _LoadData

    assert erpgen("db", "upgrade", "--database-url", mysql_url).code == 0
    url = make_url(mysql_url)
    raw = pymysql.connect(host=url.host, port=url.port or 3306, user=url.username, password=url.password or "",
                          database=url.database, local_infile=True)  # fmt: skip
    rows = 3_000_000
    (tmp_path / "stores.tsv").write_text("".join(f"{i}\tStore {i}\tRETAIL\tUS\n" for i in range(rows)))
    killer = pymysql.connect(
        host=url.host, port=url.port or 3306, user=url.username, password=url.password or ""
    )

    def kill_it() -> None:
        time.sleep(0.3)
        killer.cursor().execute(f"KILL CONNECTION {raw.thread_id()}")

    threading.Thread(target=kill_it).start()
    with ThreadPoolExecutor(1) as thread:
        writer = _LoadData(raw, "stores", str(tmp_path), thread, IsoDates())
        with pytest.raises(pymysql.err.OperationalError):
            writer._load(str(tmp_path / "stores.tsv"), rows)
    killer.close()
