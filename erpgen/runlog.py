"""The run log: the one row of erpgen_runs that says what a target holds (version, scenario, seed,
parameters, row counts, content digest) and, while a --resume load is under way, how far it got."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from erpgen.config import GenerateConfig
from erpgen.errors import TargetError
from erpgen.schema import TABLES, erpgen_runs
from erpgen.sinks.base import Batch
from erpgen.version import __version__

LOADING, COMPLETE = "LOADING", "COMPLETE"


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
