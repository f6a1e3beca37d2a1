"""The run log: the one row of erpgen_runs that says what a target holds (version, scenario, seed,
parameters, row counts, content digest) and, while a --resume load is under way, how far it got."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from erpgen.config import GenerateConfig
from erpgen.dates import day_number
from erpgen.errors import TargetError
from erpgen.schema import TABLES, erpgen_runs
from erpgen.sinks.base import Batch
from erpgen.version import __version__

LOADING, COMPLETE = "LOADING", "COMPLETE"
# The data format a record's digests and data belong to. Raise it whenever the same parameters would
# give other rows or other digests (a change to tests/golden/digests.json): `erpgen extend` carries on
# only a dataset of this format, and `erpgen verify` compares digests only within it.
#   1: before `erpgen extend` (records made before Alembic revision 0005)
#   2: customer-keyed tables hashed in (customer_id, key) order; extensions (runlog.extension_record)
#   3: sales lines carry the moment of their invoice (invoiced_at); records may end within a day (live);
#      currencies and exchange_rates (Alembic revisions 0006, 0007), which an extension carries on
#   4: invoices, a header per invoice id of the lines (revision 0008), which an extension carries on
#   5: the order-to-cash chain (revision 0009): sales_orders, deliveries, payments; the lines' order_id and
#      return_reason, the invoices' order_id
FORMAT = 5


def now() -> dt.datetime:
    """UTC, to the second, without a zone (as erpgen_runs stores it)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def as_text(moment: dt.datetime) -> str:
    return moment.isoformat(sep=" ")


def as_json(value) -> str:
    return json.dumps(value, sort_keys=True)


def parameters(cfg: GenerateConfig, shortfalls: tuple = ()) -> str:
    """The run's parameters as recorded: with the targets it was allowed to miss, if any
    (--accept-calibration-shortfall), each as erpgen.calibrate.Shortfall.as_record gives it."""
    public = cfg.public_parameters()
    if shortfalls:
        public["calibration_shortfall"] = {s.figure: s.as_record() for s in shortfalls}
    return as_json(public)


def run_record(
    cfg: GenerateConfig,
    *,
    started: dt.datetime,
    block_size: int,
    blocks_done: int,
    next_line_id: int,
    shortfalls: tuple = (),
    rates: object | None = None,
) -> Batch:
    """The run's row, LOADING, as a batch."""
    return {
        "run_id": np.array([1], dtype=np.int64),
        "erpgen_version": [__version__],
        "scenario": [cfg.scenario.name],
        "scenario_toml": [cfg.scenario_text],
        "seed": np.array([cfg.seed], dtype=np.int64),
        "parameters": [parameters(cfg, shortfalls)],
        "loaded_at": [None],
        "status": [LOADING],
        "started_at": [as_text(started)],
        "row_counts": ["{}"],
        "content_digest": ["{}"],
        "block_size": np.array([block_size], dtype=np.int64),
        "blocks_done": np.array([blocks_done], dtype=np.int64),
        "next_line_id": np.array([next_line_id], dtype=np.int64),
        "format_version": np.array([FORMAT], dtype=np.int64),
        "covers_till": np.array([day_number(cfg.date_till)], dtype=np.int64),
        "covers_till_second": [None],
        # the knobs only (an extension simulates on with them); the shortfalls are kept in the parameters
        "rates": [
            None if rates is None else as_json(dataclasses.asdict(dataclasses.replace(rates, shortfalls=())))
        ],  # type: ignore[call-overload]
    }


def completed(record: Batch, rows: dict[str, int], digests: dict[str, str]) -> Batch:
    """The record of a load that has written every row: COMPLETE, with its counts and digests."""
    return {
        **record,
        "status": [COMPLETE],
        "loaded_at": [as_text(now())],
        "row_counts": [as_json(rows)],
        "content_digest": [as_json(digests)],
    }


def check_same_run(interrupted: dict, cfg: GenerateConfig, where: str, shortfalls: tuple = ()) -> None:
    """A --resume load carries on only with the parameters it was started with."""
    if interrupted["parameters"] != parameters(cfg, shortfalls) or (
        interrupted["scenario_toml"] != cfg.scenario_text
    ):
        raise TargetError(
            f"the interrupted load in {where} was started with other parameters: {interrupted['parameters']}",
            "run --resume with the same options, or start again with --replace",
        )


# -- the record inside a database, for a --resume load (erpgen.sinks.db) ------------------------------
def interrupted_run(conn: Connection) -> dict | None:
    """The record of a --resume load that has not completed, if the database holds one."""
    row = conn.execute(select(erpgen_runs).where(erpgen_runs.c.status == LOADING)).mappings().first()
    return dict(row) if row else None


def record_progress(conn: Connection, *, blocks_done: int, next_line_id: int) -> None:
    conn.execute(update(erpgen_runs).values(blocks_done=blocks_done, next_line_id=next_line_id))


def record_completion(conn: Connection) -> dict[str, int]:
    """Count and hash what the database holds now, and mark the run COMPLETE: the row counts."""
    from erpgen.digest import database_digests

    rows = {t.name: conn.scalar(select(func.count()).select_from(t)) for t in TABLES}
    counts = {k: v for k, v in rows.items() if k != erpgen_runs.name}
    conn.execute(
        update(erpgen_runs).values(
            status=COMPLETE, loaded_at=now(), row_counts=as_json(counts),
            content_digest=as_json(database_digests(conn)),
        )
    )  # fmt: skip
    return rows


# -- the record of a completed dataset, for `erpgen extend` -------------------------------------------
def check_format(record: dict, target: str, *, verb: str, consequence: str, older_fix: str) -> None:
    """TargetError unless the record's data format is this erpgen's: `verb` is what this erpgen does with
    the format ("extends", "verifies"), `consequence` why another format will not do."""
    version = record["format_version"]
    if version != FORMAT:
        older = version < FORMAT
        raise TargetError(
            f"the dataset in {target} was recorded by {'an older' if older else 'a newer'} erpgen "
            f"(data format {version}; this erpgen {verb} format {FORMAT}): {consequence}",
            older_fix if older else "upgrade erpgen",
        )


def dataset_record(conn: Connection, where: str) -> dict | None:
    """The latest completed record of the dataset in the connected database (erpgen.extension), None
    when erpgen made none there; {"format_version": 1} when its tables predate format_version."""
    from sqlalchemy import inspect

    from erpgen.database import has_alembic_version

    if not has_alembic_version(conn) or erpgen_runs.name not in inspect(conn).get_table_names():
        return None
    # the columns, not Alembic's revision: importing Alembic costs more than a small extension; read off
    # an empty result, as inspect().get_columns fails on DuckDB (duckdb-engine asks for pg_collation)
    columns = conn.exec_driver_sql(f"SELECT * FROM {erpgen_runs.name} WHERE 1 = 0").keys()
    if "format_version" not in columns:
        return {"format_version": 1}  # before Alembic revision 0005 every record was of format 1
    if "covers_till_second" not in columns:
        return {"format_version": 2}  # and before 0006, of format 2 at most
    if interrupted_run(conn) is not None:
        raise TargetError(
            f"{where} holds an interrupted --resume load",
            "carry it on with generate --resume (same options) before extending it",
        )
    return latest_run(conn)


def latest_run(conn: Connection) -> dict | None:
    """The latest completed record (the one an extension adds, or the load's), None if there is none."""
    from sqlalchemy import desc

    completed = (
        select(erpgen_runs).where(erpgen_runs.c.status == COMPLETE).order_by(desc(erpgen_runs.c.run_id))
    )
    row = conn.execute(completed.limit(1)).mappings().first()
    return dict(row) if row else None


def latest_of(records: list[dict]) -> dict | None:
    """The latest completed record among rows of erpgen_runs read from files (CSV, Parquet, Delta)."""
    done = [r for r in records if r["status"] == COMPLETE]
    return max(done, key=lambda r: r["run_id"]) if done else None


def config_of(record: dict) -> GenerateConfig:
    """The run's GenerateConfig, rebuilt from its record: scenario text, seed and parameters."""
    from erpgen import scenario as scenarios
    from erpgen.config import CATALOG_FLAGS, SCENARIO_FLAGS, make_config

    params = json.loads(record["parameters"])
    text = record["scenario_toml"]
    base = scenarios.parse(text, "the recorded scenario") if text else record["scenario"]
    flags = {name: params[name] for name in SCENARIO_FLAGS + CATALOG_FLAGS if name != "faker_locale"}
    if params.get("locale_override"):
        flags["faker_locale"] = params["locale_override"]
    cfg = make_config(scenario=base, seed=record["seed"], **flags)
    return dataclasses.replace(cfg, scenario_text=text)


def extension_record(
    previous: dict,
    *,
    started: dt.datetime,
    till: dt.date,
    rows: dict[str, int],
    digests: dict[str, str],
    second: int | None = None,
) -> Batch:
    """The record of an extension: the original run's scenario, seed and parameters, the next run_id, the
    whole tables' row counts and digests after it, and the day its data now covers (up to `second` of it,
    when it ends within the day; digests {} when they were not taken)."""
    return {
        **{name: [previous[name]] for name in ("erpgen_version", "scenario", "scenario_toml", "parameters")},
        "run_id": np.array([previous["run_id"] + 1], dtype=np.int64),
        "erpgen_version": [__version__],
        "seed": np.array([previous["seed"]], dtype=np.int64),
        "loaded_at": [as_text(now())],
        "status": [COMPLETE],
        "started_at": [as_text(started)],
        "row_counts": [as_json(rows)],
        "content_digest": [as_json(digests)],
        "block_size": np.array([previous["block_size"]], dtype=np.int64),
        "blocks_done": np.array([previous["blocks_done"]], dtype=np.int64),
        "next_line_id": np.array([rows.get("sales_transactions", 0) + 1], dtype=np.int64),
        "format_version": np.array([FORMAT], dtype=np.int64),
        "covers_till": np.array([day_number(till)], dtype=np.int64),
        "covers_till_second": [second],
        "rates": [previous["rates"]],
    }
