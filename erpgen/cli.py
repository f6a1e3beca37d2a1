"""The command line: each command parses its options, calls one function of erpgen's Python API
(erpgen/__init__.py) and prints the result; a problem is one line and exit 2."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator

import click

import erpgen
from erpgen.config import DEFAULT_BATCH_SIZE, DEFAULT_BLOCK_SIZE, DEFAULT_LOCK_WAIT
from erpgen.errors import ErpGenError, one_line
from erpgen.scenario import Scenario
from erpgen.urls import DEFAULT_URL

DEFAULT = Scenario()  # the air-freshener scenario's values, shown in --help


def _url_option(f):
    return click.option(
        "--database-url",
        envvar="DATABASE_URL",
        default=DEFAULT_URL,
        show_default=True,
        help="Target database: sqlite:///path.db, duckdb:///path.duckdb (needs pip install "
        "'erpgen[duckdb]'), postgresql://user@host:5432/db or mysql://user@host:3306/db for MySQL and "
        "MariaDB (env: DATABASE_URL).",
    )(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(erpgen.__version__, prog_name="erpgen")
@click.option("--debug", is_flag=True, help="Show the full traceback when something fails.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Simulate years of customers and sales and load them into a relational database."""
    ctx.obj = {"debug": debug}


def _scenario_flag(name: str, type_, help_text: str):
    """A flag the scenario also sets: unset means the scenario's value (the air-freshener default shown)."""
    default = getattr(DEFAULT, name) if hasattr(DEFAULT, name) else getattr(DEFAULT.catalog, name)
    shown = default.isoformat() if hasattr(default, "isoformat") else default
    return click.option(
        "--" + name.replace("_", "-"),
        type=type_,
        default=None,
        show_default=f"{shown}, or the scenario's",
        help=help_text,
    )


@cli.command()
@_url_option
@click.option(
    "--scenario",
    default="air-freshener",
    show_default=True,
    help="Built-in scenario name (see 'erpgen scenarios') or path of a scenario .toml file.",
)
@_scenario_flag("n_customers", int, "Number of customers.")
@_scenario_flag("date_from", str, "First day customers are created (YYYY-MM-DD).")
@_scenario_flag("date_till", str, "Last day of the history (YYYY-MM-DD).")
@_scenario_flag("n_devices", int, "Devices in the catalog.")
@_scenario_flag("n_accessories", int, "Accessories in the catalog.")
@_scenario_flag("n_spare_parts", int, "Spare parts in the catalog.")
@_scenario_flag("n_refills", int, "Regular refills in the catalog.")
@_scenario_flag("n_bulk_refills", int, "Bulk (industrial) refills in the catalog.")
@_scenario_flag("p_first_name", float, "Share of customers with a first name.")
@_scenario_flag("p_last_name", float, "Share of customers with a last name.")
@_scenario_flag("p_email", float, "Share of customers with an e-mail address.")
@_scenario_flag("p_phone", float, "Share of customers with a phone number.")
@_scenario_flag("p_email_opt_in", float, "E-mail opt-in rate among customers with an e-mail.")
@_scenario_flag("p_sms_opt_in", float, "SMS opt-in rate among customers with a phone.")
@_scenario_flag("p_call_opt_in", float, "Call opt-in rate among customers with a phone.")
@_scenario_flag("faker_locale", str, "Faker locale for every customer (default: each country's own).")
@click.option(
    "--seed",
    type=int,
    default=42,
    show_default=True,
    help="Random seed: the same seed gives the same data everywhere.",
)
@click.option(
    "--csv-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Also write products.csv, customers.csv and sales_transactions.csv here.",
)
@click.option(
    "--parquet-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Also write every table as a Parquet file here (needs pyarrow: pip install 'erpgen[parquet]').",
)
@click.option(
    "--delta-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Also write every table as a Delta Lake table here, the sales partitioned by year "
    "(needs deltalake: pip install 'erpgen[delta]').",
)
@click.option(
    "--no-database",
    is_flag=True,
    help="Write only the --csv-dir / --parquet-dir / --delta-dir files, no database.",
)
@click.option("--replace", is_flag=True, help="Drop an existing erpgen dataset in the target first.")
@click.option(
    "--resume",
    is_flag=True,
    help="Commit block by block and carry on an interrupted --resume load (same options, same data).",
)
@click.option(
    "--workers",
    type=int,
    default=1,
    show_default=True,
    help="Worker processes simulating blocks in parallel, while this process writes (and simulates too "
    "when it would wait, but into PostgreSQL, whose server does the heavy part of the writing); the data "
    "stays the same. With --engine dask, the size of the local cluster.",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="local: this process and --workers forked ones. dask: blocks made on a Dask cluster, their "
    "customers, lines and lifecycle rows written by its workers in parallel (PostgreSQL, Parquet); "
    "needs erpgen[dask].",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="With --engine dask: the scheduler of an existing cluster (tcp://host:8786); default: a "
    "cluster of --workers processes of erpgen's own, which ends with it.",
)
@click.option(
    "--block-size",
    type=int,
    default=None,
    show_default=f"{DEFAULT_BLOCK_SIZE:,}, smaller with --workers",
    help="Customers simulated together, on average: the local engine cuts blocks of older customers "
    "smaller, so that each holds about as many lines (speed and memory only; the data stays the same).",
)
@click.option(
    "--batch-size",
    type=int,
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Rows per write to the target (speed and memory only; the data stays the same).",
)
@click.option(
    "--lock-wait-timeout",
    type=float,
    default=DEFAULT_LOCK_WAIT,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for a lock another session holds on erpgen's tables (PostgreSQL, MariaDB/MySQL) "
    "before giving up, naming the sessions that hold it.",
)
@click.option(
    "--accept-calibration-shortfall",
    is_flag=True,
    help="Load even when the scenario's targets cannot all be met (by default erpgen names each target, "
    "what it reached and the knob that fights it, and writes nothing); the run record keeps the shortfall.",
)
@click.option("--dry-run", is_flag=True, help="Estimate rows, size and time, and write nothing.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing on success.")
def generate(database_url: str, dry_run: bool, quiet: bool, **params) -> None:
    """Simulate customers and sales and load them into the target database."""
    if dry_run:
        click.echo(erpgen.estimate(database_url=database_url, **params).render())
        return
    progress = None if quiet else _Progress(_totals(params))
    _keep_freed_memory()
    summary = erpgen.generate(database_url=database_url, on_progress=progress, **params)
    if progress is not None:
        progress.close()
    if not quiet:
        click.echo(_render_run(summary, params["scenario"]))


def _totals(params: dict) -> dict[str, int | None]:
    """Rows the progress bars count up to, where known in advance: one per customer."""
    from erpgen.config import make_config

    try:
        n = make_config(scenario=params["scenario"], n_customers=params["n_customers"]).n_customers
    except ErpGenError:
        n = None  # the run itself reports it
    return {"customers": n, "customer_lifecycle": n}


def _render_run(summary: erpgen.RunSummary, scenario: str) -> str:
    width = max(len(t) for t in summary.rows)
    lines = [
        f"erpgen {erpgen.__version__}: loaded {summary.target} in {summary.seconds:.1f} s "
        f"(scenario {scenario}, seed {summary.seed})"
    ]
    lines += [f"  {table:<{width}}  {n:>12,} rows" for table, n in summary.rows.items()]
    lines.append(f"  {summary.lines_per_second:,.0f} sales lines/s")
    lines += [f"  also written: {out}" for out in summary.outputs]
    return "\n".join(lines)


def _keep_freed_memory() -> None:
    """Have glibc's malloc keep freed memory for the next block instead of handing it back at once.

    Every block allocates and frees the same few hundred MB of numpy arrays. By default glibc maps the
    larger ones fresh each time and trims the heap as soon as they are freed, so the kernel zeroes the
    same pages again and again; taking arrays of up to 32 MiB from the heap and keeping the heap saves
    that system time for a little more peak memory (bench/README.md has the figures). This changes the
    process, so only the command line does it, not the library (the threshold is glibc's largest; the
    workers inherit it when forked). Elsewhere than on Linux, nothing."""
    import ctypes

    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 1 << 30)


class _Progress:
    """Progress on stderr: tqdm bars (rows, rate, elapsed; ETA where the total is known) on a terminal,
    plain lines at most once a second per table otherwise (logs, CI)."""

    def __init__(self, totals: dict[str, int] | None = None) -> None:
        import sys
        import time

        self.totals = totals or {}
        self.tty = sys.stderr.isatty()
        self.clock = time.monotonic
        self.table, self.last, self.count, self.bar = None, 0.0, 0, None

    def __call__(self, table: str, count: int) -> None:
        now = self.clock()
        if table != self.table:
            self.close()
            self.table, self.last = table, now
            if count == 0:  # a phase without rows
                click.echo(f"erpgen: {table} ...", err=True)
                self.table = None
                return
            if self.tty:
                from tqdm import tqdm

                self.bar = tqdm(
                    total=self.totals.get(table), desc=table, unit=" rows", unit_scale=True, leave=False
                )
        if self.bar is not None:
            self.bar.update(count - self.count)
        elif now - self.last >= 1.0:
            click.echo(f"erpgen: {table} {count:,} rows ...", err=True)
            self.last = now
        self.count = count

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.table is not None:
            click.echo(f"erpgen: {self.table} {self.count:,} rows", err=True)
        self.count = 0


@cli.command()
def scenarios() -> None:
    """List the built-in scenarios."""
    from erpgen.scenario import describe_all

    rows = describe_all()
    width = max(len(name) for name, _ in rows)
    for name, description in rows:
        click.echo(f"{name:<{width}}  {description}")


@cli.command()
@_url_option
@click.option(
    "--scenario",
    default=None,
    help="Scenario whose targets to check (default: the one the data was made with).",
)
def validate(database_url: str, scenario: str | None) -> None:
    """Check a loaded database: integrity, and business metrics against the scenario's targets."""
    result = erpgen.validate(database_url=database_url, scenario=scenario)
    click.echo(result.render())
    if not result.ok:
        raise SystemExit(1)


def _one_target(ctx: click.Context, verb: str, database_url: str, directories: dict) -> str | None:
    """The database URL, or None when an export directory is the target (DATABASE_URL then does not count;
    a --database-url given beside a directory is an error)."""
    if not any(directories.values()):
        return database_url
    if ctx.get_parameter_source("database_url") is click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError(f"{verb} takes one target at a time: a --database-url or a directory")
    return None


@cli.command()
@_url_option
@click.option("--csv-dir", default=None, help="Verify the CSV export in this directory (its row counts).")
@click.option("--parquet-dir", default=None, help="Verify the Parquet export in this directory.")
@click.option("--delta-dir", default=None, help="Verify the Delta tables in this directory.")
@click.pass_context
def verify(
    ctx: click.Context, database_url: str, csv_dir: str | None, parquet_dir: str | None, delta_dir: str | None
) -> None:
    """Recompute the content digest of a loaded database (or export) and compare it with the one its load
    recorded."""
    directories = {"csv_dir": csv_dir, "parquet_dir": parquet_dir, "delta_dir": delta_dir}
    database_url = _one_target(ctx, "verify", database_url, directories)  # type: ignore[assignment]
    result = erpgen.verify(database_url=database_url, **directories)
    click.echo(result.render())
    if not result.ok:
        raise SystemExit(1)


@cli.command()
@_url_option
@click.option(
    "--till",
    default=None,
    help="The new last day of the data, YYYY-MM-DD (default: today). A day it already covers changes nothing.",
)
@click.option(
    "--csv-dir",
    default=None,
    help="Extend the CSV export in this directory instead of a database: rows appended to its files.",
)
@click.option(
    "--parquet-dir",
    default=None,
    help="Extend the Parquet export in this directory instead of a database: new part files.",
)
@click.option(
    "--delta-dir",
    default=None,
    help="Extend the Delta tables in this directory instead of a database: one new commit per table.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing on success.")
@click.pass_context
def extend(
    ctx: click.Context,
    database_url: str,
    till: str | None,
    csv_dir: str | None,
    parquet_dir: str | None,
    delta_dir: str | None,
    quiet: bool,
) -> None:
    """Carry a dataset erpgen loaded on to a later day: its customers go on living, new ones arrive, with
    the scenario, seed and parameters it was made with. One transaction; earlier rows are kept as they
    are, but for the lifecycle truth learnt later (customer_lifecycle's first_purchase_on and lost_on)."""
    directories = {"csv_dir": csv_dir, "parquet_dir": parquet_dir, "delta_dir": delta_dir}
    database_url = _one_target(ctx, "extend", database_url, directories)  # type: ignore[assignment]
    progress = None if quiet else _Progress()
    summary = erpgen.extend(database_url=database_url, till=till, on_progress=progress, **directories)
    if progress is not None:
        progress.close()
    if not summary.changed:
        click.echo(
            f"erpgen: {summary.target} already covers {summary.till} (its data runs to {summary.covered}); "
            "nothing to do"
        )
    elif not quiet:
        click.echo(summary.render())


@cli.command()
@_url_option
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=float,
    help="Simulated seconds per second of wall time: 1 is real time, 3600 an hour a second.",
)
@click.option(
    "--for",
    "run_for",
    default=None,
    type=float,
    help="Stop after this many seconds (default: run until Ctrl-C or SIGTERM).",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only the summary at the end.")
def live(database_url: str, speed: float, run_for: float | None, quiet: bool) -> None:
    """Keep a dataset current, then move it on: extend it to yesterday, then commit each moment's sales,
    credit notes and new customers as a clock passes them, in small transactions (a dashboard that
    refreshes, or a CDC pipeline, sees them arrive in time order). Ctrl-C or SIGTERM stops between
    commits; running it again carries on where the dataset stands."""
    import time

    progress = None if quiet else _Progress()
    last = [0.0]

    def committed(moment, added: dict[str, int]) -> None:
        if progress is not None:
            progress.close()
        now = time.monotonic()
        if quiet or now - last[0] < 1.0:  # one line a second at most
            return
        last[0] = now
        rows = ", ".join(f"+{n} {t}" for t, n in added.items() if n and t != "learnt")
        click.echo(f"erpgen live: {moment}  {rows or 'no new rows'}")

    summary = erpgen.live(
        database_url=database_url, speed=speed, run_for=run_for, on_commit=committed, on_progress=progress
    )
    if summary.caught_up is not None and not quiet:
        click.echo(summary.caught_up.render())
    click.echo(summary.render())


@cli.command()
@_url_option
@click.option(
    "--output",
    "-o",
    default="report.html",
    show_default=True,
    help="HTML file to write; self-contained (plotly.js inline), so it opens offline.",
)
def report(database_url: str, output: str) -> None:
    """Write an offline HTML report of a loaded database.

    Charts of sales, customers, cohorts, segments, returns, products and countries, then the checks of
    'erpgen validate'.
    """
    click.echo(erpgen.report(database_url=database_url, output=output).render())


def _column_options(f):
    for role, meaning in reversed(
        (
            ("customer", "the customer"),
            ("date", "the date or timestamp of the sale"),
            ("amount", "the line's amount (negative on returns, or see --returns)"),
            ("quantity", "units on the line (optional; negative on returns)"),
            ("product", "the product (optional)"),
            ("channel", "the channel or store (optional)"),
            ("country", "the country (optional)"),
            (
                "document",
                "the invoice or order the line belongs to (optional; else an order is a customer's day)",
            ),
            ("returns", "a flag that marks return lines (optional)"),
        )
    ):
        f = click.option(
            f"--{role}",
            metavar="COLUMN",
            default=None,
            help=f"Column holding {meaning}; default: found by name.",
        )(f)
    return f


@cli.command()
@click.option(
    "--database-url",
    default=None,
    help="Database holding the sales history (with --table): sqlite:///path.db, postgresql://..., mysql://...",
)
@click.option(
    "--table", default=None, help="The table (or schema.table) of sales lines, with --database-url."
)
@click.option(
    "--csv", "csv_path", metavar="FILE", default=None, help="A CSV file of sales lines, with a header."
)
@click.option("--parquet", metavar="PATH", default=None, help="A Parquet file or folder of sales lines.")
@_column_options
@click.option("--output", "-o", default="twin.toml", show_default=True, help="The scenario file to write.")
@click.option("--name", default=None, help="The scenario's name (default: the output file's name).")
@click.option(
    "--seed", type=int, default=42, show_default=True, help="Seed of the twin's pilot, and of sampling."
)
@click.option(
    "--max-rows",
    type=int,
    default=20_000_000,
    show_default=True,
    help="A bigger source is sampled: whole customers, kept by a hash of (--seed, customer id).",
)
@click.option(
    "--compare",
    nargs=2,
    metavar="REAL TWIN",
    default=None,
    help="Print the figures of two histories side by side instead (each a database URL, .csv or Parquet "
    "path; an erpgen dataset is read as such, the other side by --table and the column options).",
)
def fit(compare: tuple[str, str] | None, csv_path: str | None, **params) -> None:
    """Fit a scenario to a real sales history: its synthetic twin.

    Reads a table, CSV or Parquet file of sales lines, measures the figures erpgen's scenarios are made
    of (one-time buyers, retention, purchase rhythm, basket, prices, seasons, returns, ...) and writes a
    scenario that 'erpgen generate --scenario' turns into data shaped like it. Only aggregates are
    written: no customer, product or amount of the source.
    """
    from erpgen.fit import compare as compare_histories
    from erpgen.fit import fit as fit_history

    if compare:
        keep = ("table", "max_rows", "seed", "customer", "date", "amount", "quantity", "product", "channel",
                "country", "document", "returns")  # fmt: skip
        kwargs = {k: v for k, v in params.items() if k in keep}
        click.echo(compare_histories(real=compare[0], twin=compare[1], **kwargs).render())
        return
    click.echo(fit_history(csv=csv_path, **params).render())


@cli.group()
def db() -> None:
    """Schema migrations (Alembic) on a target database."""


@db.command()
@_url_option
@click.option("--revision", default="head", show_default=True, help="Revision to upgrade to.")
def upgrade(database_url: str, revision: str) -> None:
    """Create or upgrade erpgen's tables."""
    _migrate(database_url, "upgrade", revision)


@db.command()
@_url_option
@click.option("--revision", default="base", show_default=True, help="Revision to downgrade to.")
def downgrade(database_url: str, revision: str) -> None:
    """Downgrade erpgen's tables (to base: drop them)."""
    _migrate(database_url, "downgrade", revision)


def _migrate(database_url: str, direction: str, revision: str) -> None:
    from erpgen.migrate import migrate_database
    from erpgen.urls import mask, parse

    now = migrate_database(database_url, direction, revision)
    click.echo(f"{mask(parse(database_url))}: schema at revision {now or 'base (no erpgen tables)'}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: exit 0 on success, 2 with one line on a usage or input problem, 1 on a bug."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    # A failed load is reported in one line; psycopg would also warn on stderr that it could not end a COPY
    # on a connection the server had closed (the command line owns the terminal: the library leaves
    # logging to its caller)
    logging.getLogger("psycopg").setLevel(logging.ERROR)
    # Arrow's default allocator (mimalloc) keeps what the Parquet, Delta and DuckDB sinks free between
    # batches (a year's rows gathered, written, dropped), and a load's peak memory grows with it; the
    # system allocator gives it back at no cost in time (bench/README.md). An environment that names a
    # pool keeps it; set before pyarrow is imported, here and in the workers that inherit it.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    with _stops_unwind(args):
        return _run(args, debug)


def command() -> None:
    """The `erpgen` program (and `python cli.py`): main(), then exit with its code. Everything it made is
    let go of by then, but the interpreter's last garbage collection would still walk every object its
    imports made (Faker's locale data, SQLAlchemy, numpy): frozen, they are left to the process's end."""
    code = main()
    gc.freeze()
    sys.exit(code)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a service manager, `kill`, a container stopping): unwound as Ctrl-C is, so the run rolls
    back, removes its scratch and ends its workers before it exits."""


# Unwinding a stop talks to the target (the end of a COPY, the rollback), and a server that stopped
# answering (a frozen host, a cut network) would hold it until TCP gives up, hours later: past this many
# seconds after SIGTERM or Ctrl-C, or at a second one, erpgen ends at once, as SIGKILL would end it. That
# leaves what SIGKILL leaves, which tests/test_endings.py proves harmless: the server rolls the transaction
# back when the connection goes, the workers end with their parent, the next run clears the scratch.
STOP_GRACE = 15.0


@contextlib.contextmanager
def _stops_unwind(args: list[str]) -> Iterator[None]:
    """SIGTERM raises Terminated, and Ctrl-C KeyboardInterrupt as it does by default (where it is not
    ignored, as a shell's background job ignores it); either starts the STOP_GRACE clock."""
    if threading.current_thread() is not threading.main_thread():  # signals reach only the main thread
        yield
        return
    first: list[int] = []
    unwound = threading.Event()

    def stop(signum, frame):
        if first:  # unwinding already: a second stop is not to be waited on
            _end_at_once(first[0], args, f"a second {_signal_name(signum)} came")
        first.append(signum)
        threading.Thread(
            target=_end_if_stuck, args=(signum, args, unwound), name="erpgen-stop-grace", daemon=True
        ).start()
        raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt

    caught = [signal.SIGTERM]
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        caught.append(signal.SIGINT)
    previous = {signum: signal.signal(signum, stop) for signum in caught}
    try:
        yield
    finally:
        unwound.set()  # the clock, if one runs, has nothing left to end
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _end_if_stuck(signum: int, args: list[str], unwound: threading.Event) -> None:
    if not unwound.wait(STOP_GRACE):
        why = f"the run had not unwound {STOP_GRACE:g} s after {_signal_name(signum)} (is the server answering?)"
        _end_at_once(signum, args, why)


def _end_at_once(signum: int, args: list[str], why: str) -> None:
    """The process ends now, with the line and exit code an unwound stop gives, after one saying why."""
    line, code = _stopped(signum == signal.SIGTERM, args)
    os.write(2, f"erpgen: {why}: ended at once\n{line}\n".encode())
    os._exit(code)


def _signal_name(signum: int) -> str:
    return "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"


def _stopped(terminated: bool, args: list[str]) -> tuple[str, int]:
    """The last line of a run that a stop ended, and its exit code."""
    command = next((a for a in args if not a.startswith("-")), None)
    if command == "live":  # a stop its feed could not take between two commits
        kept = "what it committed is kept; run it again to carry on"
    elif "--resume" in args:
        kept = "the blocks committed so far are kept; run the same command, with --resume, to carry on"
    else:
        kept = "nothing was committed"
    if terminated:
        return f"erpgen: stopped by SIGTERM; {kept}", 128 + signal.SIGTERM
    return f"erpgen: interrupted; {kept}", 130


def _interrupted(exc: BaseException | None, args: list[str]) -> int:
    line, code = _stopped(isinstance(exc, Terminated), args)
    click.echo(line, err=True)
    return code


def _run(args: list[str], debug: bool) -> int:
    try:
        cli.main(args=args, prog_name="erpgen", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:
        return int(exc.code or 0)
    except click.exceptions.Abort as exc:  # click's own wrapping of KeyboardInterrupt
        return _interrupted(exc.__cause__, args)
    except click.exceptions.NoArgsIsHelpError as exc:  # bare `erpgen` / `erpgen db`: show the help
        click.echo(exc.format_message())
        return exc.exit_code
    except click.ClickException as exc:
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        click.echo(f"erpgen: error: {one_line(exc.format_message())}{hint}", err=True)
        return exc.exit_code
    except ErpGenError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"erpgen: error: {one_line(str(exc))}", err=True)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        return _interrupted(exc, args)
    except Exception as exc:  # a bug: say so in one line, unless --debug asks for the traceback
        from erpgen.database import describe_db_error, is_driver_error

        if debug:
            traceback.print_exc()
        elif is_driver_error(exc):
            # a server's or the file system's error outside a load (verify, validate, report)
            click.echo(f"erpgen: error: {describe_db_error(exc)}", err=True)
            return 2
        else:
            from erpgen.urls import mask_text

            click.echo(
                f"erpgen: internal error: {type(exc).__name__}: {one_line(mask_text(str(exc)))} (rerun with --debug)",
                err=True,
            )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
