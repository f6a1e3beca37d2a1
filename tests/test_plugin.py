"""The pytest plugin hands user test suites a deterministic erpgen database, built once and cached."""

from __future__ import annotations

import os
import subprocess
import tomllib

import pytest

import erpgen

from .conftest import REPO

# the inner test files' imports and row counter (engines disposed: a DuckDB file takes one writer)
INNER_HEAD = """
import pytest
from sqlalchemy import create_engine, text

def count(url, table):
    engine = create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
    engine.dispose()
    return n
"""

USER_TESTS = (
    INNER_HEAD
    + """

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
)


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


# -- fixtures that never break: no cache plugin, a read-only cache, xdist's workers, DuckDB ----------------
# The inner runs count erpgen.generate's calls (each call a real load) in $ERPGEN_BUILDS.
COUNTING_CONFTEST = """
import os

import erpgen

_generate = erpgen.generate


def _counted(**params):
    with open(os.environ["ERPGEN_BUILDS"], "a") as log:
        log.write(params.get("database_url", "") + "\\n")
    return _generate(**params)


erpgen.generate = _counted
"""

SMALL_TESTS = (
    INNER_HEAD
    + """
@pytest.mark.erpgen(n_customers=40, date_from="2024-01-01")
@pytest.mark.parametrize("i", range(4))
def test_small(erpgen_database, i):
    assert count(erpgen_database, "customers") == 40

@pytest.mark.erpgen(n_customers=30, date_from="2024-01-01")
@pytest.mark.parametrize("i", range(2))
def test_smaller(erpgen_database, i):
    assert count(erpgen_database, "customers") == 30
"""
)


def _inner(pytester, monkeypatch, tests: str = SMALL_TESTS):
    """The user's suite, with erpgen's builds counted and the temporary directory its own: the builds' log."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("TMPDIR", str(pytester.mkdir("tmp")))
    builds = pytester.path / "builds.log"
    monkeypatch.setenv("ERPGEN_BUILDS", str(builds))
    pytester.makeconftest(COUNTING_CONFTEST)
    pytester.makepyfile(test_user=tests)
    return builds


def _built(builds) -> list[str]:
    return builds.read_text().splitlines() if builds.exists() else []


def test_without_the_cache_plugin_the_files_go_to_the_temporary_directory(pytester, monkeypatch):
    builds = _inner(pytester, monkeypatch)
    for _ in range(2):  # built once, then found there by the next run
        result = pytester.runpytest_subprocess("-p", "erpgen.pytest_plugin", "-p", "no:cacheprovider", "-q")
        result.assert_outcomes(passed=6)
    assert len(_built(builds)) == 2
    assert all(f"/tmp/erpgen-pytest-{os.getuid()}/" in url for url in _built(builds))
    assert not (pytester.path / ".pytest_cache").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="a read-only file system needs root to mount")
def test_a_read_only_cache_folder(pytester, monkeypatch):
    builds = _inner(pytester, monkeypatch)
    cache = pytester.mkdir(".pytest_cache")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(cache)], check=True)
    try:
        result = pytester.runpytest_subprocess("-p", "erpgen.pytest_plugin", "-q", "-W", "ignore")
        result.assert_outcomes(passed=6)
    finally:
        subprocess.run(["umount", str(cache)], check=True)
    assert len(_built(builds)) == 2 and all("/erpgen-pytest-" in url for url in _built(builds))


def test_xdist_workers_build_each_parameter_set_once(pytester, monkeypatch):
    pytest.importorskip("xdist")
    builds = _inner(pytester, monkeypatch)
    result = pytester.runpytest_subprocess(
        "-p", "erpgen.pytest_plugin", "-p", "xdist.plugin", "-n", "2", "-q"
    )
    result.assert_outcomes(passed=6)
    assert len(_built(builds)) == 2  # one per parameter set, though both workers needed both


def test_a_cached_database_someone_extended_is_built_again(pytester, monkeypatch):
    """A test that extends the shared database (instead of its copy) must not leave the next run data that
    is no longer what the marker asked for: `erpgen extend` keeps the parameters, not the last day."""
    builds = _inner(pytester, monkeypatch)
    pytester.runpytest_subprocess("-p", "erpgen.pytest_plugin", "-q").assert_outcomes(passed=6)
    (extended,) = [url for url in _built(builds) if "erpgen-" in url][:1]
    assert erpgen.extend(database_url=extended, till="2026-06-30").changed
    pytester.runpytest_subprocess("-p", "erpgen.pytest_plugin", "-q").assert_outcomes(passed=6)
    assert _built(builds).count(extended) == 2  # built again; the other parameter set was reused
    assert len(_built(builds)) == 3


DUCKDB_TESTS = (
    INNER_HEAD
    + """
@pytest.mark.erpgen(n_customers=40, date_from="2024-01-01", target="duckdb")
def test_marked(erpgen_database):
    assert erpgen_database.startswith("duckdb:///")
    assert count(erpgen_database, "customers") == 40

@pytest.mark.erpgen(n_customers=40, date_from="2024-01-01")
def test_by_option(erpgen_database, erpgen_database_copy, request):
    wanted = request.config.getoption("--erpgen-target")
    assert erpgen_database.startswith(f"{wanted}:///") and erpgen_database_copy.startswith(f"{wanted}:///")
    with create_engine(erpgen_database_copy).begin() as conn:
        conn.execute(text("DELETE FROM lifecycle_events"))
    assert count(erpgen_database_copy, "lifecycle_events") == 0
    assert count(erpgen_database, "lifecycle_events") > 0
"""
)


def test_duckdb_beside_sqlite(pytester, monkeypatch):
    pytest.importorskip("duckdb_engine")
    builds = _inner(pytester, monkeypatch, DUCKDB_TESTS)
    pytester.runpytest_subprocess("-p", "erpgen.pytest_plugin", "-q").assert_outcomes(passed=2)
    pytester.runpytest_subprocess(
        "-p", "erpgen.pytest_plugin", "-q", "--erpgen-target", "duckdb"
    ).assert_outcomes(passed=2)
    # the marked DuckDB file once, the other set once as SQLite and once as DuckDB (the same file as marked)
    assert sorted(url.split(":")[0] for url in _built(builds)) == ["duckdb", "sqlite"]
