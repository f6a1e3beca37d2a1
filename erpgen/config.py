"""A run's parameters, checked in one place. Names match the CLI flags (--n-customers -> n_customers).

Two kinds, kept apart because only the first changes the data:
- GenerateConfig: what is simulated: a scenario (erpgen.scenario), the flags that override the
  scenario's values of the same names, and the seed (make_config);
- RunOptions: where and how it is written: targets, engine, workers, block and batch sizes (make_options).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from erpgen.dates import FIRST_DATE, LAST_DATE
from erpgen.errors import ConfigError
from erpgen.scenario import Scenario

# Invoice ids are "INV-<customer_id:08d>-<seq:06d>": fixed width, so the PostgreSQL encoder can write
# them as fixed-size binary fields. That width is where these two limits come from.
MAX_CUSTOMERS = 99_999_999
MAX_YEARS = 50  # x 366 days x MAX_INVOICES_PER_DAY stays below 1,000,000 invoices per customer
MAX_INVOICES_PER_DAY = 50

# Flags that a scenario also sets; the flag wins when given.
SCENARIO_FLAGS = (
    "n_customers", "date_from", "date_till", "p_first_name", "p_last_name", "p_email", "p_phone",
    "p_email_opt_in", "p_sms_opt_in", "p_call_opt_in", "faker_locale",
)  # fmt: skip
CATALOG_FLAGS = ("n_devices", "n_accessories", "n_spare_parts", "n_refills", "n_bulk_refills")


@dataclass(frozen=True)
class GenerateConfig:
    scenario: Scenario
    scenario_text: str = ""
    seed: int = 42
    locale_override: str | None = None  # --faker-locale given: every country's names come from it

    def __getattr__(self, name: str):
        # The flags read through to the (already overridden) scenario: cfg.n_customers, cfg.n_refills...
        if name in SCENARIO_FLAGS:
            return getattr(self.scenario, name)
        if name in CATALOG_FLAGS:
            return getattr(self.scenario.catalog, name)
        raise AttributeError(name)

    @property
    def n_days(self) -> int:
        return (self.date_till - self.date_from).days + 1

    def public_parameters(self) -> dict[str, object]:
        """The parameters as plain values (for summaries and the run record)."""
        out: dict[str, object] = {"scenario": self.scenario.name, "seed": self.seed}
        for name in SCENARIO_FLAGS + CATALOG_FLAGS:
            v = getattr(self, name)
            out[name] = v.isoformat() if isinstance(v, dt.date) else v
        # whether --faker-locale was given (every country's names from it) or is the scenario's own: the
        # same faker_locale makes other names either way, and `erpgen extend` rebuilds the run from this
        out["locale_override"] = self.locale_override
        return out


def parse_date(value: object, flag: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(
            f"{flag} {value!r} is not a date", "write it as YYYY-MM-DD, e.g. 2015-01-01"
        ) from None


def make_config(
    *, scenario: str | Scenario | None = None, seed: int | None = None, **flags: object
) -> GenerateConfig:
    """Load the scenario (a name, a path or a Scenario), apply the flags given (not None), validate."""
    from erpgen import scenario as scenarios

    unknown = sorted(set(flags) - set(SCENARIO_FLAGS) - set(CATALOG_FLAGS))
    if unknown:
        raise ConfigError(f"unknown parameter(s): {', '.join(unknown)}")
    if isinstance(scenario, Scenario):
        base, text = scenario, ""
    else:
        base, text = scenarios.load(scenario)
    given = {k: v for k, v in flags.items() if v is not None}
    for name in ("date_from", "date_till"):
        if name in given:
            given[name] = parse_date(given[name], _flag(name))
    top = {k: v for k, v in given.items() if k in SCENARIO_FLAGS}
    catalog = dataclasses.replace(base.catalog, **{k: v for k, v in given.items() if k in CATALOG_FLAGS})
    cfg = GenerateConfig(
        scenario=dataclasses.replace(base, catalog=catalog, **top),
        scenario_text=text,
        seed=42 if seed is None else seed,
        locale_override=given.get("faker_locale"),  # type: ignore[arg-type]
    )
    _check(cfg)
    return cfg


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check(cfg: GenerateConfig) -> None:
    from erpgen.catalog import universe_sizes

    if not isinstance(cfg.n_customers, int) or cfg.n_customers <= 0:
        raise ConfigError(f"--n-customers must be at least 1, got {cfg.n_customers}")
    if cfg.n_customers > MAX_CUSTOMERS:
        raise ConfigError(
            f"--n-customers {cfg.n_customers:,} is above the limit of {MAX_CUSTOMERS:,}",
            "invoice ids carry the customer id in 8 digits",
        )
    for name in ("date_from", "date_till"):
        day = getattr(cfg, name)
        if not FIRST_DATE <= day <= LAST_DATE:
            raise ConfigError(
                f"{_flag(name)} {day} is outside the dates erpgen simulates ({FIRST_DATE}..{LAST_DATE})",
                f"pick dates from {FIRST_DATE.year} to {LAST_DATE.year}",
            )
    if cfg.date_from > cfg.date_till:
        raise ConfigError(
            f"--date-from {cfg.date_from} is after --date-till {cfg.date_till}",
            "swap them or pick a later --date-till",
        )
    years = cfg.n_days / 365.25
    if years > MAX_YEARS:
        raise ConfigError(
            f"the range {cfg.date_from}..{cfg.date_till} spans {years:.2f} years; the limit is {MAX_YEARS} years",
            "invoice numbers per customer are 6 digits wide",
        )
    sizes = universe_sizes(cfg.scenario.catalog.universe)
    for name, pool in zip(CATALOG_FLAGS, ("DEVICE", "ACCESSORY", "SPARE_PART", "REFILL", "BULK_REFILL")):
        n = getattr(cfg, name)
        if not isinstance(n, int) or n < 0:
            raise ConfigError(f"{_flag(name)} must be 0 or more, got {n}")
        if n > sizes[pool]:
            raise ConfigError(
                f"{_flag(name)} {n} is more than the catalog universe holds ({sizes[pool]})",
                f"use at most {sizes[pool]}",
            )
    if sum(getattr(cfg, name) for name in CATALOG_FLAGS) == 0:
        raise ConfigError("the catalog would be empty", "give at least one of --n-refills, --n-devices, ...")
    for name in SCENARIO_FLAGS:
        if name.startswith("p_"):
            p = getattr(cfg, name)
            if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
                raise ConfigError(f"{_flag(name)} must be a probability between 0 and 1, got {p}")
    if not isinstance(cfg.seed, int) or not 0 <= cfg.seed < 2**63:
        raise ConfigError(f"--seed must be a whole number from 0 to 2**63-1, got {cfg.seed}")
    _check_locale(cfg.faker_locale)


def _check_locale(locale: str) -> None:
    from erpgen.scenario import faker_locales

    if locale not in faker_locales():
        close = [x for x in sorted(faker_locales()) if x.lower().startswith(locale.lower()[:2])][:5]
        hint = f"try one of {', '.join(close)}" if close else "e.g. en_US, en_GB, de_DE, fr_FR"
        raise ConfigError(f"--faker-locale {locale!r} is not a Faker locale", hint)


DEFAULT_BLOCK_SIZE = 25_000  # customers simulated together
DEFAULT_BATCH_SIZE = 100_000  # rows handed to a sink per write
ENGINES = ("local", "dask")
MAX_WORKERS = 64
# A dashboard's query ends in seconds and frees its locks; a session left idle in a transaction never does.
DEFAULT_LOCK_WAIT, MAX_LOCK_WAIT = 60.0, 86_400.0


@dataclass(frozen=True)
class RunOptions:
    """Where a run writes and how it spreads the work: none of it changes the data."""

    database_url: str | None = None  # None: the default SQLite file, unless no_database
    no_database: bool = False
    csv_dir: str | None = None
    parquet_dir: str | None = None
    delta_dir: str | None = None
    replace: bool = False
    resume: bool = False
    workers: int = 1
    engine: str = "local"
    scheduler: str | None = None
    block_size: int = DEFAULT_BLOCK_SIZE
    batch_size: int = DEFAULT_BATCH_SIZE
    lock_wait_timeout: float = DEFAULT_LOCK_WAIT  # seconds a lock other sessions hold is waited for
    # load even when the calibration cannot reach every target (the run record keeps the shortfall)
    accept_calibration_shortfall: bool = False


def make_options(
    cfg: GenerateConfig,
    *,
    database_url: str | None = None,
    no_database: bool = False,
    csv_dir: str | None = None,
    parquet_dir: str | None = None,
    delta_dir: str | None = None,
    replace: bool = False,
    resume: bool = False,
    workers: int = 1,
    engine: str = "local",
    scheduler: str | None = None,
    block_size: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lock_wait_timeout: float = DEFAULT_LOCK_WAIT,
    accept_calibration_shortfall: bool = False,
) -> RunOptions:
    """The options checked against each other and the run's size, with the block size chosen when not
    given. Raises ConfigError, before anything is written, for a combination that cannot work."""
    if engine not in ENGINES:
        raise ConfigError(f"--engine must be local or dask, got {engine!r}")
    if not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise ConfigError(f"--workers must be between 1 and {MAX_WORKERS}, got {workers}")
    if block_size is None:
        block_size = _default_block_size(cfg, engine, workers)
    elif engine == "dask" and block_size % _dask_segment():
        segment = _dask_segment()
        raise ConfigError(
            f"--block-size {block_size:,} with --engine dask must be a multiple of {segment:,}",
            f"use e.g. {max(segment, block_size // segment * segment):,}",
        )
    if block_size < 1 or batch_size < 1:
        raise ConfigError("--block-size and --batch-size must be at least 1")
    if not 1 <= lock_wait_timeout <= MAX_LOCK_WAIT:
        raise ConfigError(
            f"--lock-wait-timeout must be between 1 and {MAX_LOCK_WAIT:,} seconds, got {lock_wait_timeout:g}"
        )
    if scheduler and engine != "dask":
        raise ConfigError("--scheduler names a Dask cluster", "add --engine dask")
    if scheduler and workers != 1:
        raise ConfigError(
            "--workers sizes the pool or local cluster erpgen starts",
            "leave it out with --scheduler: the cluster's own workers are used",
        )
    if resume and engine == "dask":
        raise ConfigError(
            "--resume works with the local engine", "--engine dask loads atomically: leave out --resume"
        )
    if resume and (no_database or csv_dir or parquet_dir or delta_dir):
        raise ConfigError(
            "--resume loads into a database only",
            "leave out --csv-dir, --parquet-dir, --delta-dir, --no-database",
        )
    if no_database and not (csv_dir or parquet_dir or delta_dir):
        raise ConfigError(
            "--no-database leaves nothing to write", "add --csv-dir, --parquet-dir or --delta-dir"
        )
    return RunOptions(
        database_url=None if no_database else database_url, no_database=no_database, csv_dir=csv_dir,
        parquet_dir=parquet_dir, delta_dir=delta_dir, replace=replace, resume=resume, workers=workers, engine=engine,
        scheduler=scheduler, block_size=block_size, batch_size=batch_size, lock_wait_timeout=lock_wait_timeout,
        accept_calibration_shortfall=accept_calibration_shortfall,
    )  # fmt: skip


def _dask_segment() -> int:
    from erpgen.schema import DIGEST_SEGMENT  # Dask's workers hash whole segments of the fact table

    return DIGEST_SEGMENT


def _default_block_size(cfg: GenerateConfig, engine: str, workers: int) -> int:
    # enough blocks to keep every worker busy, big enough to amortise the event loop's overhead
    size = DEFAULT_BLOCK_SIZE
    if workers > 1:
        size = max(5_000, min(DEFAULT_BLOCK_SIZE, -(-cfg.n_customers // (4 * workers))))
    if engine == "dask":
        size = -(-size // _dask_segment()) * _dask_segment()
    return size


def make_run(**params: object) -> tuple[GenerateConfig, RunOptions]:
    """Split keyword arguments named like the CLI flags into what is simulated and how it is written,
    each checked (ConfigError on the first problem, before anything is written)."""
    names = {f.name for f in dataclasses.fields(RunOptions)}
    options = {k: v for k, v in params.items() if k in names}
    cfg = make_config(**{k: v for k, v in params.items() if k not in names})  # type: ignore[arg-type]
    return cfg, make_options(cfg, **options)  # type: ignore[arg-type]
