"""A pytest plugin: a small, deterministic erpgen database for a test suite, built once and cached.

    def test_revenue(erpgen_database):             # a SQLAlchemy URL string
        engine = sqlalchemy.create_engine(erpgen_database)
        ...

    @pytest.mark.erpgen(scenario="gym-coffee", n_customers=300, seed=7)
    def test_returns(erpgen_database): ...

    @pytest.mark.erpgen(target="duckdb")            # or --erpgen-target duckdb for every test
    def test_in_duckdb(erpgen_database): ...       # duckdb:///...?access_mode=read_only

The database is a SQLite (or DuckDB) file in pytest's cache folder (.pytest_cache/d/erpgen/), one file per
parameter set, reused by later runs as long as its run record shows the same parameters and erpgen
version. Without a usable cache folder (-p no:cacheprovider, a read-only checkout) the files go to a
folder of the user's in the temporary directory instead. Under pytest-xdist each parameter set is built
once: a file lock makes the other workers wait for it and then reuse it. Pass
`--erpgen-database-url postgresql://...` to load into that server instead (reloaded only when the
parameters differ). Treat it as read-only (a DuckDB file is handed out read-only, so that several
workers may open it at once); `erpgen_database_copy` gives a private, writable copy of a file.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

DEFAULTS = {"n_customers": 200, "date_from": "2022-01-01", "date_till": "2024-12-31", "seed": 42}
# the file targets the fixture builds in its cache folder: URL scheme and file suffix
FILE_TARGETS = {"sqlite": ".db", "duckdb": ".duckdb"}
READ_ONLY = "?access_mode=read_only"  # DuckDB: readers in many processes at once, no writer


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--erpgen-database-url",
        default=None,
        help="erpgen: load the erpgen_database fixture into this database instead of a cached SQLite file.",
    )
    parser.addoption(
        "--erpgen-target",
        default="sqlite",
        choices=sorted(FILE_TARGETS),
        help="erpgen: the kind of cached file the erpgen_database fixture builds (a marker's target= wins).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "erpgen(**params): parameters of the erpgen_database fixture (target='duckdb' or 'sqlite')"
    )


def _recorded_parameters(url: str) -> dict | None:
    """The parameters and version of the load the database holds as it is now: None when there is none, or
    when a test has since extended it (`erpgen extend` keeps the parameters: the data is not theirs)."""
    from erpgen.database import connect
    from erpgen.runlog import latest_run
    from erpgen.urls import parse

    target = parse(url)
    if target.get_backend_name() == "duckdb":  # beside other workers' readers, which a writer may not join
        target = target.update_query_dict({"access_mode": "read_only"})
    try:
        with connect(target) as conn:
            run = latest_run(conn)
    except Exception:
        return None
    if run is None:
        return None
    parameters = json.loads(run["parameters"])
    if str(run["covers_till"]) != parameters.get("date_till"):  # extended past its load's last day
        return None
    return {"parameters": parameters, "version": run["erpgen_version"]}


def ensure_database(url: str, params: dict) -> str:
    """Make sure `url` holds erpgen's data for `params`; generate it (replacing erpgen's tables) if not."""
    import erpgen
    from erpgen.config import make_config
    from erpgen.urls import is_file, parse, sqlite_path

    wanted = make_config(**params).public_parameters()
    if _recorded_parameters(url) != {"parameters": wanted, "version": erpgen.__version__}:
        target = parse(url)
        if is_file(target):
            # a new file renamed into place, not one loaded in place: a reader of the old one keeps it whole
            sqlite_path(target).unlink(missing_ok=True)
            erpgen.generate(database_url=url, **params)
        else:
            erpgen.generate(database_url=url, replace=True, **params)
    return url


def cache_folder(config: pytest.Config) -> Path:
    """pytest's cache folder for erpgen's files, when there is one and it can be written; else a folder of
    this user's in the temporary directory (the same for every run and every xdist worker)."""
    cache = getattr(config, "cache", None)  # absent under -p no:cacheprovider
    if cache is not None:
        with contextlib.suppress(OSError):
            folder = Path(cache.mkdir("erpgen"))
            if _writable(folder):
                return folder
    return _temporary_folder()


def _temporary_folder() -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else getpass.getuser()
    folder = Path(tempfile.gettempdir()) / f"erpgen-pytest-{uid}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _writable(folder: Path) -> bool:
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (made if missing): xdist's workers build a parameter set one at a
    time, and those that waited find it built."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock; workers that race each build their own scratch file
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def _erpgen_databases(request: pytest.FixtureRequest):
    return {}


@pytest.fixture
def erpgen_database(request: pytest.FixtureRequest, _erpgen_databases: dict) -> str:
    marker = request.node.get_closest_marker("erpgen")
    params = {**DEFAULTS, **(marker.kwargs if marker else {})}
    kind = params.pop("target", None) or request.config.getoption("--erpgen-target")
    if kind not in FILE_TARGETS:
        raise pytest.UsageError(f"erpgen marker: target must be one of {sorted(FILE_TARGETS)}, got {kind!r}")
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    url = request.config.getoption("--erpgen-database-url")
    if url is not None:
        kind, key = "url", hashlib.sha256(f"{url}|{key}".encode()).hexdigest()[:16]
    if (kind, key) not in _erpgen_databases:
        # a server's database: only the lock is a file, kept out of the project's cache
        folder = cache_folder(request.config) if url is None else _temporary_folder()
        with _locked(folder / f"erpgen-{key}.lock"):
            if url is None:
                ensure_database(f"{kind}:///{folder / f'erpgen-{key}{FILE_TARGETS[kind]}'}", params)
            else:
                ensure_database(url, params)
        built = url or f"{kind}:///{folder / f'erpgen-{key}{FILE_TARGETS[kind]}'}"
        _erpgen_databases[kind, key] = built + (READ_ONLY if kind == "duckdb" else "")
    return _erpgen_databases[kind, key]


@pytest.fixture
def erpgen_database_copy(erpgen_database: str, tmp_path) -> str:
    """A private, writable copy of erpgen_database (a SQLite or DuckDB file)."""
    from erpgen.urls import parse, sqlite_path

    url = parse(erpgen_database.removesuffix(READ_ONLY))
    backend = url.get_backend_name()
    if backend not in FILE_TARGETS:
        pytest.skip("erpgen_database_copy copies SQLite and DuckDB files only")
    copy = tmp_path / f"erpgen{FILE_TARGETS[backend]}"
    shutil.copyfile(sqlite_path(url), copy)
    return f"{backend}:///{copy}"
