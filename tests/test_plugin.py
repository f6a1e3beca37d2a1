"""The pytest plugin hands user test suites a deterministic erpgen database, built once and cached."""

from __future__ import annotations

import tomllib

from .conftest import REPO

USER_TESTS = """
import pytest
from sqlalchemy import create_engine, text

def count(url, table):
    with create_engine(url).connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()

def test_default(erpgen_database):
    assert count(erpgen_database, "customers") == 200
    assert count(erpgen_database, "sales_transactions") > 0

@pytest.mark.erpgen(scenario="gym-coffee", n_customers=120, seed=7)
def test_marked(erpgen_database):
    assert count(erpgen_database, "customers") == 120
    assert count(erpgen_database, "products") == 520

def test_copy_is_private(erpgen_database, erpgen_database_copy):
    with create_engine(erpgen_database_copy).begin() as conn:
        conn.execute(text("DELETE FROM lifecycle_events"))
    assert count(erpgen_database_copy, "lifecycle_events") == 0
    assert count(erpgen_database, "lifecycle_events") > 0
"""


def test_fixture_builds_once_and_is_reused(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the inner run imports this checkout's erpgen
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # loaded once, by -p, installed or not
    pytester.makepyfile(test_user=USER_TESTS)
    first = pytester.runpytest_subprocess("-p", "erpgen.pytest_plugin", "-q")
    first.assert_outcomes(passed=3)
    cached = sorted((pytester.path / ".pytest_cache" / "d" / "erpgen").glob("erpgen-*.db"))
    assert len(cached) == 2  # one per parameter set
    stamps = [p.stat().st_mtime_ns for p in cached]
    second = pytester.runpytest_subprocess("-p", "erpgen.pytest_plugin", "-q")
    second.assert_outcomes(passed=3)
    assert [p.stat().st_mtime_ns for p in cached] == stamps  # reused, not regenerated


def test_fixture_loads_into_postgres_when_asked(pytester, pg_url, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(test_user=USER_TESTS.split("@pytest.mark.erpgen")[0])
    result = pytester.runpytest_subprocess(
        "-p", "erpgen.pytest_plugin", "-q", f"--erpgen-database-url={pg_url}"
    )
    result.assert_outcomes(passed=1)
    assert not (pytester.path / ".pytest_cache" / "d" / "erpgen").exists()


def test_plugin_is_registered_for_pip_installs():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"]["erpgen"] == "erpgen.pytest_plugin"
