"""erpgen: simulate a company's customers and sales over many years, straight into a relational database.

The Python API is what the command line calls, one function per command:

    import erpgen

    summary = erpgen.generate(database_url="sqlite:///shop.db", n_customers=300)   # erpgen generate
    erpgen.estimate(n_customers=1_000_000)           # erpgen generate --dry-run: writes nothing
    erpgen.validate(database_url="sqlite:///shop.db")  # erpgen validate
    erpgen.verify(database_url="sqlite:///shop.db")    # erpgen verify
    erpgen.extend(database_url="sqlite:///shop.db", till="2026-12-31")  # erpgen extend
    erpgen.report(database_url="sqlite:///shop.db", output="shop.html")  # erpgen report

Each returns a typed result (RunSummary, Estimate, ValidationReport, VerifyResult, ReportSummary,
ExtendSummary) and
raises ConfigError or TargetError (both ErpGenError: a message and a hint) for input it cannot use; it
never prints or exits. See docs/api.md. Importing erpgen is cheap: each function imports what it needs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from inspect import signature as _signature
from typing import TYPE_CHECKING, Any, Literal

from erpgen.errors import ConfigError, ErpGenError, TargetError

if TYPE_CHECKING:
    import datetime as dt
    import os

    from erpgen.estimation import Estimate
    from erpgen.extension import ExtendSummary
    from erpgen.feed import LiveSummary
    from erpgen.html_report import ReportSummary
    from erpgen.pipeline import RunSummary
    from erpgen.scenario import Scenario
    from erpgen.validation import ValidationReport
    from erpgen.verification import VerifyResult

__all__ = [
    "__version__",
    "generate",
    "estimate",
    "validate",
    "verify",
    "report",
    "extend",
    "live",
    "RunSummary",
    "Estimate",
    "ValidationReport",
    "VerifyResult",
    "ReportSummary",
    "ExtendSummary",
    "LiveSummary",
    "ErpGenError",
    "ConfigError",
    "TargetError",
]

# The result types, imported on first use: their modules import numpy and SQLAlchemy.
_LAZY = {
    "RunSummary": "erpgen.pipeline",
    "Estimate": "erpgen.estimation",
    "ValidationReport": "erpgen.validation",
    "VerifyResult": "erpgen.verification",
    "ReportSummary": "erpgen.html_report",
    "ExtendSummary": "erpgen.extension",
    "LiveSummary": "erpgen.feed",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name == "__version__":  # importlib.metadata takes longer to import than the rest of erpgen
        from erpgen.version import __version__

        globals()["__version__"] = __version__
        return __version__
    raise AttributeError(f"module 'erpgen' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def generate(
    *,
    database_url: str | None = None,
    scenario: str | os.PathLike[str] | Scenario = "air-freshener",
    n_customers: int | None = None,
    date_from: str | dt.date | None = None,
    date_till: str | dt.date | None = None,
    n_devices: int | None = None,
    n_accessories: int | None = None,
    n_spare_parts: int | None = None,
    n_refills: int | None = None,
    n_bulk_refills: int | None = None,
    p_first_name: float | None = None,
    p_last_name: float | None = None,
    p_email: float | None = None,
    p_phone: float | None = None,
    p_email_opt_in: float | None = None,
    p_sms_opt_in: float | None = None,
    p_call_opt_in: float | None = None,
    faker_locale: str | None = None,
    seed: int = 42,
    csv_dir: str | os.PathLike[str] | None = None,
    parquet_dir: str | os.PathLike[str] | None = None,
    delta_dir: str | os.PathLike[str] | None = None,
    no_database: bool = False,
    replace: bool = False,
    resume: bool = False,
    workers: int = 1,
    engine: Literal["local", "dask"] = "local",
    scheduler: str | None = None,
    block_size: int | None = None,
    batch_size: int = 100_000,
    lock_wait_timeout: float = 60.0,
    accept_calibration_shortfall: bool = False,
    on_progress: Callable[[str, int], None] | None = None,
) -> RunSummary:
    """Simulate customers and sales and load them into the target: `erpgen generate`.

    Every parameter is the command's flag of the same name (n_customers is --n-customers) with the
    same default, except that database_url is not read from $DATABASE_URL. The scenario's values
    (n_customers to faker_locale) are taken where the parameter is None.

    database_url   same as --database-url: sqlite:///path.db, duckdb:///path.duckdb,
                   postgresql://user@host:5432/db, mysql:// or mariadb://user@host:3306/db;
                   None: sqlite:///erpgen.db here
    scenario       same as --scenario: a built-in name, the path of a .toml file, or a Scenario
    n_customers    same as --n-customers: number of customers
    date_from      same as --date-from: first day customers are created (a date or "YYYY-MM-DD")
    date_till      same as --date-till: last day of the history (a date or "YYYY-MM-DD")
    n_devices      same as --n-devices: devices in the catalog
    n_accessories  same as --n-accessories: accessories in the catalog
    n_spare_parts  same as --n-spare-parts: spare parts in the catalog
    n_refills      same as --n-refills: regular refills in the catalog
    n_bulk_refills same as --n-bulk-refills: bulk (industrial) refills in the catalog
    p_first_name   same as --p-first-name: share of customers with a first name
    p_last_name    same as --p-last-name: share of customers with a last name
    p_email        same as --p-email: share of customers with an e-mail address
    p_phone        same as --p-phone: share of customers with a phone number
    p_email_opt_in same as --p-email-opt-in: e-mail opt-in rate among customers with an e-mail
    p_sms_opt_in   same as --p-sms-opt-in: SMS opt-in rate among customers with a phone
    p_call_opt_in  same as --p-call-opt-in: call opt-in rate among customers with a phone
    faker_locale   same as --faker-locale: Faker locale for every customer (None: each country's own)
    seed           same as --seed: the same seed gives the same data everywhere
    csv_dir        same as --csv-dir: also write the CSV files there
    parquet_dir    same as --parquet-dir: also write every table as Parquet there
    delta_dir      same as --delta-dir: also write every table as a Delta Lake table there
    no_database    same as --no-database: write only csv_dir / parquet_dir / delta_dir
    replace        same as --replace: drop an existing erpgen dataset in the target first
    resume         same as --resume: commit block by block, and carry on an interrupted resume=True load
    workers        same as --workers: processes simulating blocks in parallel
    engine         same as --engine: "local", or "dask" (needs erpgen[dask])
    scheduler      same as --scheduler: a Dask scheduler's address, with engine="dask"
    block_size     same as --block-size: customers simulated together (speed and memory only)
    batch_size     same as --batch-size: rows per write (speed and memory only)
    lock_wait_timeout same as --lock-wait-timeout: seconds to wait for a lock other sessions hold
    accept_calibration_shortfall
                   same as --accept-calibration-shortfall: load even when the scenario's targets cannot
                   all be met (else ConfigError names them, before anything is written)
    on_progress    called as on_progress(table, rows so far) while the load runs (the CLI's progress)

    The load is one transaction per target: it completes, or the target is left as it was. Returns a
    RunSummary (target, outputs, seed, rows per table, seconds). Raises ConfigError for bad parameters
    (before anything is written) and TargetError for a target that cannot be used.
    """
    params = _run_parameters(locals())  # first: only the parameters are local yet
    from erpgen.pipeline import generate as run

    return run(on_progress=on_progress, **params)


def estimate(**params: Any) -> Estimate:
    """Rows per table, size on disk and time of the run generate() would make with the same parameters
    (see help(erpgen.generate)): `erpgen generate --dry-run`.

    Simulates an evenly spread sample of the customers and scales up; writes nothing and connects to
    no server. Returns an Estimate (rows, bytes per output, seconds, target). Raises ConfigError for
    the same bad parameters as generate().
    """
    from erpgen.estimation import estimate as run

    return run(**_run_parameters(params))


# generate()'s parameters but on_progress, stated once: help() and inspect show them for estimate() too
estimate.__signature__ = _signature(generate).replace(  # type: ignore[attr-defined]
    parameters=[p for p in _signature(generate).parameters.values() if p.name != "on_progress"],
    return_annotation="Estimate",
)


def _run_parameters(given: dict[str, Any]) -> dict[str, Any]:
    """generate()'s and estimate()'s arguments as erpgen.config.make_run takes them."""
    params = {k: v for k, v in given.items() if k != "on_progress"}
    for name in ("csv_dir", "parquet_dir", "delta_dir"):
        if params.get(name) is not None:
            params[name] = str(params[name])
    return params


def validate(*, database_url: str | None = None, scenario: str | None = None) -> ValidationReport:
    """Check a loaded database: integrity, and business figures against the scenario's targets:
    `erpgen validate`.

    database_url   same as --database-url (None: sqlite:///erpgen.db here)
    scenario       same as --scenario: whose targets to check (None: the one the data was made with)

    Measures everything with SQL in the database. Returns a ValidationReport: .ok, and .checks (group,
    name, measured, target, ok each). Raises TargetError when there is no dataset to check.
    """
    from erpgen.validation import validate as run

    return run(database_url=database_url, scenario=scenario)


def verify(
    *,
    database_url: str | None = None,
    csv_dir: str | os.PathLike | None = None,
    parquet_dir: str | os.PathLike | None = None,
    delta_dir: str | os.PathLike | None = None,
) -> VerifyResult:
    """Recompute the content digest of a loaded database and compare it with the one its load recorded:
    `erpgen verify`.

    database_url   same as --database-url (None: sqlite:///erpgen.db here)
    csv_dir        same as --csv-dir: verify the CSV export there instead (its row counts: the files keep
                   only some columns, the record's digests cover them all)
    parquet_dir    same as --parquet-dir: verify the Parquet export there instead
    delta_dir      same as --delta-dir: verify the Delta tables there instead

    Returns a VerifyResult: .ok, .differing (the tables that changed), the recorded and actual digests
    per table, and the load's seed, scenario and time. Raises TargetError when there is nothing to
    verify (no such database, no completed erpgen load in it).
    """
    from erpgen.verification import verify as run

    return run(database_url=database_url, csv_dir=csv_dir, parquet_dir=parquet_dir, delta_dir=delta_dir)


def report(
    *, database_url: str | None = None, output: str | os.PathLike[str] = "report.html"
) -> ReportSummary:
    """Write an offline HTML report of a loaded database: `erpgen report`.

    database_url   same as --database-url (None: sqlite:///erpgen.db here)
    output         same as --output: the HTML file to write (plotly.js inline, so it opens offline)

    Needs plotly (pip install 'erpgen[report]'). Returns a ReportSummary (output, size_bytes, charts,
    checks_failed, seconds, target). Raises ConfigError when plotly is missing or `output` cannot be
    written, TargetError when there is no dataset to report on.
    """
    from erpgen.html_report import build

    return build(database_url=database_url, output=output)


def extend(
    *,
    database_url: str | None = None,
    till: str | dt.date | None = None,
    csv_dir: str | os.PathLike | None = None,
    parquet_dir: str | os.PathLike | None = None,
    delta_dir: str | os.PathLike | None = None,
    on_progress: Callable[[str, int], None] | None = None,
) -> ExtendSummary:
    """Carry a dataset erpgen loaded on to a later day, in place: `erpgen extend`.

    database_url   same as --database-url (None: sqlite:///erpgen.db here)
    till           same as --till: the new last day (a date or "YYYY-MM-DD"; None: today, UTC)
    csv_dir        same as --csv-dir: extend the CSV export there instead of a database
    parquet_dir    same as --parquet-dir: extend the Parquet export there instead of a database
    delta_dir      same as --delta-dir: extend the Delta tables there instead of a database

    Scenario, seed and parameters come from the dataset's run record. One transaction: it completes or
    the dataset is as it was. Returns an ExtendSummary (target, seed, scenario, covered: the last day
    before, till, added and updated rows per table, seconds; changed is False when the data already
    covered `till`, and then nothing was written). Raises ConfigError for a bad date and TargetError
    for a target it cannot extend (no erpgen dataset, an older data format, another run writing).
    """
    from erpgen.extension import extend as run

    return run(
        database_url=database_url,
        till=till,
        csv_dir=csv_dir,
        parquet_dir=parquet_dir,
        delta_dir=delta_dir,
        on_progress=on_progress,
    )


def live(
    *,
    database_url: str | None = None,
    speed: float = 1.0,
    run_for: float | None = None,
    on_commit: Callable[[dt.datetime, dict[str, int]], None] | None = None,
    on_progress: Callable[[str, int], None] | None = None,
) -> LiveSummary:
    """Keep a dataset current, then move it on with a clock: `erpgen live`.

    database_url   same as --database-url (None: sqlite:///erpgen.db here); SQLite, PostgreSQL, MariaDB
    speed          same as --speed: simulated seconds per second (1: real time; 3600: an hour a second)
    run_for        same as --for: stop after this many seconds (None: until SIGINT or SIGTERM)
    on_commit      called after each commit with the simulated moment reached and the rows it added
    on_progress    called as the extension to yesterday that comes first goes on (as extend's)

    The dataset is first extended to yesterday (one transaction, as `extend`); then each commit, every
    half second, adds the rows whose moment the clock has passed. Returns a LiveSummary (target, speed,
    began, reached, commits, rows added, caught_up: the ExtendSummary of the extension, seconds). Raises
    ConfigError for a bad speed and TargetError for a target it cannot feed.
    """
    from erpgen.feed import live as run

    return run(
        database_url=database_url, speed=speed, run_for=run_for, on_commit=on_commit, on_progress=on_progress
    )
