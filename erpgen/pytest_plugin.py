"""A pytest plugin: a small, deterministic erpgen database for a test suite, built once and cached.

    def test_revenue(erpgen_database):             # a SQLAlchemy URL string
        engine = sqlalchemy.create_engine(erpgen_database)
        ...

    @pytest.mark.erpgen(scenario="gym-coffee", n_customers=300, seed=7)
    def test_returns(erpgen_database): ...

The database is SQLite in pytest's cache folder (.pytest_cache/d/erpgen/), one file per parameter set,
reused by later runs as long as its run record shows the same parameters and erpgen version. Pass
`--erpgen-database-url postgresql://...` to load into that server instead (reloaded only when the
parameters differ). Treat it as read-only; `erpgen_database_copy` gives a private SQLite copy.
"""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

DEFAULTS = {"n_customers": 200, "date_from": "2022-01-01", "date_till": "2024-12-31", "seed": 42}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--erpgen-database-url",
        default=None,
        help="erpgen: load the erpgen_database fixture into this database instead of a cached SQLite file.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "erpgen(**params): parameters of the erpgen_database fixture")


def _recorded_parameters(url: str) -> dict | None:
    from sqlalchemy import select

    from erpgen.database import connect
    from erpgen.schema import erpgen_runs
    from erpgen.urls import parse

    try:
        with connect(parse(url)) as conn:
            row = conn.execute(
                select(erpgen_runs.c.parameters, erpgen_runs.c.erpgen_version).where(
                    erpgen_runs.c.status == "COMPLETE"
                )
            ).first()
    except Exception:
        return None
    return {"parameters": json.loads(row.parameters), "version": row.erpgen_version} if row else None


def ensure_database(url: str, params: dict) -> str:
    """Make sure `url` holds erpgen's data for `params`; generate it (replacing erpgen's tables) if not."""
    import erpgen
    from erpgen.config import make_config

    wanted = make_config(**params).public_parameters()
    if _recorded_parameters(url) != {"parameters": wanted, "version": erpgen.__version__}:
        erpgen.generate(database_url=url, replace=True, **params)
    return url


@pytest.fixture(scope="session")
def _erpgen_databases(request: pytest.FixtureRequest):
    return {}


@pytest.fixture
def erpgen_database(request: pytest.FixtureRequest, _erpgen_databases: dict) -> str:
    marker = request.node.get_closest_marker("erpgen")
    params = {**DEFAULTS, **(marker.kwargs if marker else {})}
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    if key not in _erpgen_databases:
        url = request.config.getoption("--erpgen-database-url")
        if url is None:
            folder = request.config.cache.mkdir("erpgen")
            url = f"sqlite:///{folder / f'erpgen-{key}.db'}"
        _erpgen_databases[key] = ensure_database(url, params)
    return _erpgen_databases[key]


@pytest.fixture
def erpgen_database_copy(erpgen_database: str, tmp_path) -> str:
    """A private, writable SQLite copy of erpgen_database."""
    from erpgen.urls import parse, sqlite_path

    url = parse(erpgen_database)
    if url.get_backend_name() != "sqlite":
        pytest.skip("erpgen_database_copy copies SQLite files only")
    copy = tmp_path / "erpgen.db"
    shutil.copyfile(sqlite_path(url), copy)
    return f"sqlite:///{copy}"
