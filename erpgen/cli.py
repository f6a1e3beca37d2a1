"""The command line: parse options, call the library, print one line per problem (exit 2)."""

from __future__ import annotations

import sys
import traceback

import click

from erpgen import __version__
from erpgen.config import GenerateConfig
from erpgen.errors import ErpGenError
from erpgen.urls import DEFAULT_URL

D = GenerateConfig()  # defaults, shown in --help


def _url_option(f):
    return click.option(
        "--database-url",
        envvar="DATABASE_URL",
        default=DEFAULT_URL,
        show_default=True,
        help="Target database: sqlite:///path.db or postgresql://user@host:5432/db (env: DATABASE_URL).",
    )(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="erpgen")
@click.option("--debug", is_flag=True, help="Show the full traceback when something fails.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Simulate years of customers and sales and load them into a relational database."""
    ctx.obj = {"debug": debug}


@cli.command()
@_url_option
@click.option(
    "--n-customers", type=int, default=D.n_customers, show_default=True, help="Number of customers."
)
@click.option(
    "--date-from",
    default=D.date_from.isoformat(),
    show_default=True,
    help="First day customers are created (YYYY-MM-DD).",
)
@click.option(
    "--date-till",
    default=D.date_till.isoformat(),
    show_default=True,
    help="Last day of the history (YYYY-MM-DD).",
)
@click.option("--n-devices", type=int, default=D.n_devices, show_default=True, help="Devices in the catalog.")
@click.option(
    "--n-accessories",
    type=int,
    default=D.n_accessories,
    show_default=True,
    help="Accessories in the catalog.",
)
@click.option(
    "--n-spare-parts",
    type=int,
    default=D.n_spare_parts,
    show_default=True,
    help="Spare parts in the catalog.",
)
@click.option(
    "--n-refills", type=int, default=D.n_refills, show_default=True, help="Regular refills in the catalog."
)
@click.option(
    "--n-bulk-refills",
    type=int,
    default=D.n_bulk_refills,
    show_default=True,
    help="Bulk (industrial) refills in the catalog.",
)
@click.option("--n-stores", type=int, default=D.n_stores, show_default=True, help="Stores (ids from 101).")
@click.option(
    "--p-first-name",
    type=float,
    default=D.p_first_name,
    show_default=True,
    help="Share of customers with a first name.",
)
@click.option(
    "--p-last-name",
    type=float,
    default=D.p_last_name,
    show_default=True,
    help="Share of customers with a last name.",
)
@click.option(
    "--p-email",
    type=float,
    default=D.p_email,
    show_default=True,
    help="Share of customers with an e-mail address.",
)
@click.option(
    "--p-phone",
    type=float,
    default=D.p_phone,
    show_default=True,
    help="Share of customers with a phone number.",
)
@click.option(
    "--p-email-opt-in",
    type=float,
    default=D.p_email_opt_in,
    show_default=True,
    help="E-mail opt-in rate among customers with an e-mail.",
)
@click.option(
    "--p-sms-opt-in",
    type=float,
    default=D.p_sms_opt_in,
    show_default=True,
    help="SMS opt-in rate among customers with a phone.",
)
@click.option(
    "--p-call-opt-in",
    type=float,
    default=D.p_call_opt_in,
    show_default=True,
    help="Call opt-in rate among customers with a phone.",
)
@click.option(
    "--faker-locale",
    default=D.faker_locale,
    show_default=True,
    help="Faker locale for names and phone numbers.",
)
@click.option(
    "--seed",
    type=int,
    default=D.seed,
    show_default=True,
    help="Random seed: the same seed gives the same data on every target.",
)
@click.option(
    "--csv-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Also write products.csv, customers.csv and sales_transactions.csv here.",
)
@click.option("--replace", is_flag=True, help="Drop an existing erpgen dataset in the target first.")
@click.option(
    "--block-size",
    type=int,
    default=5000,
    show_default=True,
    help="Customers simulated together (speed and memory only; the data stays the same).",
)
@click.option(
    "--batch-size",
    type=int,
    default=100_000,
    show_default=True,
    help="Rows per write to the target (speed and memory only; the data stays the same).",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing on success.")
def generate(database_url: str, quiet: bool, **params) -> None:
    """Simulate customers and sales and load them into the target database."""
    from erpgen.pipeline import generate as run

    summary = run(database_url=database_url, **params)
    if quiet:
        return
    width = max(len(t) for t in summary.rows)
    click.echo(
        f"erpgen {__version__}: loaded {summary.target} in {summary.seconds:.1f} s (seed {summary.seed})"
    )
    for table, n in summary.rows.items():
        click.echo(f"  {table:<{width}}  {n:>12,} rows")
    click.echo(f"  {summary.lines_per_second:,.0f} sales lines/s")
    for out in summary.outputs:
        click.echo(f"  also written: {out}")


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
    from sqlalchemy.exc import DBAPIError

    from erpgen import migrate
    from erpgen.database import connect, describe_db_error
    from erpgen.errors import TargetError
    from erpgen.urls import mask, parse

    url = parse(database_url)
    with connect(url) as conn:
        try:
            with conn.begin():
                getattr(migrate, direction)(conn, revision)
                now = migrate.current_revision(conn)
        except DBAPIError as exc:
            raise TargetError(f"{direction} failed on {mask(url)}: {describe_db_error(exc, url)}") from None
    click.echo(f"{mask(url)}: schema at revision {now or 'base (no erpgen tables)'}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: exit 0 on success, 2 with one line on a usage or input problem, 1 on a bug."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="erpgen", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("erpgen: interrupted; nothing was committed", err=True)
        return 130
    except click.exceptions.NoArgsIsHelpError as exc:  # bare `erpgen` / `erpgen db`: show the help
        click.echo(exc.format_message())
        return exc.exit_code
    except click.ClickException as exc:
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        click.echo(f"erpgen: error: {exc.format_message()}{hint}", err=True)
        return exc.exit_code
    except ErpGenError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"erpgen: error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("erpgen: interrupted; nothing was committed", err=True)
        return 130
    except Exception as exc:  # a bug: say so in one line, unless --debug asks for the traceback
        if debug:
            traceback.print_exc()
        else:
            from erpgen.urls import mask_text

            click.echo(
                f"erpgen: internal error: {type(exc).__name__}: {mask_text(str(exc))} (rerun with --debug)",
                err=True,
            )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
