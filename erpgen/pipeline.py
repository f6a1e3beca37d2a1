"""generate(): parameters -> targets -> engine -> load -> commit, and nothing else.

Each step has its own module: erpgen.config checks the parameters, erpgen.sinks opens the targets,
erpgen.engines makes the blocks, erpgen.load writes them, erpgen.runlog records the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from erpgen.config import make_run
from erpgen.database import describe_db_error, is_disk_full, is_driver_error, lock_timed_out
from erpgen.engines import block_maker
from erpgen.errors import TargetError
from erpgen.estimation import fact_lines
from erpgen.load import load, load_resumable
from erpgen.masters import catalog_for
from erpgen.sinks import Sink, sinks_for
from erpgen.space import Clue, disk_full_error


@dataclass
class RunSummary:
    """What generate() loaded: where (safe to print), with which seed, the rows per table, and the time."""

    target: str
    outputs: list[str]
    seed: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def lines_per_second(self) -> float:
        return self.rows.get("sales_transactions", 0) / self.seconds if self.seconds else 0.0


def generate(*, on_progress: Callable[[str, int], None] | None = None, **params: object) -> RunSummary:
    """Simulate and load a dataset. Keyword arguments are named like the CLI flags (see erpgen.config:
    make_config for what is simulated, make_options for where and how it is written); on_progress(table,
    rows so far) is called as the load goes. The load is one transaction per target: it completes, or
    the target is unchanged (with resume=True: committed block by block, and carried on by the next
    resume=True run). Workers, engine, block and batch sizes change speed and memory, never the data.
    Raises erpgen.errors.ConfigError for bad parameters and TargetError for a target that cannot be used.
    """
    cfg, options = make_run(**params)
    sinks = sinks_for(options)
    summary = RunSummary(target=sinks[0].describe(), outputs=[s.describe() for s in sinks[1:]], seed=cfg.seed)
    started = time.perf_counter()
    lines: list[int] = []  # the run's sales lines, about: set when a disk fills up
    try:
        summary.rows = _load(cfg, options, sinks, on_progress, lines)
    except BaseException as exc:
        if not lines:
            raise
        clue = Clue.of(exc)
    # Out here the failed load's frames are gone, and with them the scratch files they held open: the
    # free space read now is what the next run would find.
    if lines:
        raise disk_full_error(clue, cfg, options, lines[0], sinks[0].data_directory)
    summary.seconds = time.perf_counter() - started
    return summary


def _load(cfg, options, sinks: list[Sink], on_progress, lines: list[int]) -> dict[str, int]:
    begun: list[Sink] = []
    # The engine starts (and forks its workers) before any sink opens a connection. One of its workers
    # calibrates the rates while this process writes the masters and customers; a target the calibration
    # cannot reach stops the load there (erpgen.load), and the abort below leaves every target as it was.
    with block_maker(cfg, catalog_for(cfg), options) as blocks:
        try:
            for sink in sinks:
                sink.begin()
                begun.append(sink)
            if options.resume:
                return load_resumable(blocks, sinks[0], options, on_progress)
            rows = load(blocks, sinks, options, on_progress)
            if on_progress:
                on_progress("keys and indexes", 0)
            for sink in sinks:
                sink.commit()
            return rows
        except BaseException as exc:
            for sink in begun:
                sink.abort()
            if is_disk_full(exc):  # "run it again" would hit the same wall: generate() says where
                lines.append(fact_lines(blocks.model))
                raise
            if is_driver_error(exc):
                message = describe_db_error(exc)
                kept = (
                    "the blocks committed so far are kept; run the same command, with --resume, to carry on"
                    if options.resume
                    else "nothing was committed; run it again"
                )
                if lock_timed_out(message):
                    kept += f" once the sessions holding locks on its tables end (waited {options.lock_wait_timeout:g} s)"
                raise TargetError(
                    f"loading into {', '.join(s.describe() for s in sinks)} failed: {message}", kept
                ) from None
            raise
