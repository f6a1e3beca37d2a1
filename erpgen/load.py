"""The load: masters, customers, then the fact blocks an engine makes, then the invoice headers and the
order-to-cash documents, the lifecycle tables and the run record, written to every sink in batches.
Written against erpgen.engines.BlockMaker and erpgen.sinks.base.Sink only. An engine may make, hash and
write the tables keyed by customer itself, where its blocks are (--engine dask): this process then makes
those rows only for the sinks left to it.

Two ways:
- load(): one pass, one transaction per sink; the digest of every table is taken on the way;
- load_resumable(): one database, committed block by block, so an interrupted load can carry on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from erpgen import runlog
from erpgen.config import RunOptions
from erpgen.customers import build_customers
from erpgen.digest import LoadDigests
from erpgen.engines import BlockMaker
from erpgen.errors import ConfigError
from erpgen.masters import master_batches
from erpgen.rng import Draws
from erpgen.schema import CUSTOMER_TABLES, FACT, TABLES
from erpgen.scratch import Spill
from erpgen.simulation import BlockFacts, Model, compact, lifecycle_only, simulate_block
from erpgen.simulation.plan import blocks as count_blocks
from erpgen.sinks.base import Batch, ResumableSink, Sink
from erpgen.tables import HEADER_TABLES, events_batch, fact_batch, header_batches, lifecycle_batch

Progress = Callable[[str, int], None]
_CUSTOMER_TABLES = frozenset(t.name for t in CUSTOMER_TABLES)


def facts_of(model: Model, ids: np.ndarray, lines_from: int | None = None) -> BlockFacts:
    """One fact block, as the engines make it (a module-level function: it goes to worker processes);
    `lines_from`: simulate_block's."""
    return compact(simulate_block(model, ids, Draws(model.cfg.seed), lines_from))


class _Writes:
    """Batches of one table to every sink that keeps it, in chunks of at most batch_size rows, counted."""

    def __init__(self, sinks: list[Sink], batch_size: int, on_progress: Progress | None):
        self.sinks, self.batch_size, self.on_progress = sinks, batch_size, on_progress
        self.rows: dict[str, int] = {}
        self.handed: set[int] = set()  # sinks whose tables keyed by customer an engine's workers write
        # Progress is held back (the latest count per table) until the calibration has passed: a run
        # that its targets stop prints only the line that says why, not tables it then discards.
        self.held: dict[str, int] | None = {}

    def report(self, table: str, rows: int) -> None:
        if self.on_progress is None:
            return
        if self.held is None:
            self.on_progress(table, rows)
        else:
            self.held[table] = rows

    def calibrated(self, blocks: BlockMaker, options: RunOptions) -> None:
        """Wait for the calibration, refuse a shortfall the options do not accept, then let progress out."""
        if self.held is None:
            return
        refuse_shortfall(blocks, options)
        held, self.held = self.held, None
        for table, rows in held.items():
            self.report(table, rows)

    def keepers(self, table: str) -> list[Sink]:
        """The sinks this process writes `table` to."""
        return [
            s for k, s in enumerate(self.sinks)
            if table in s.tables and not (table in _CUSTOMER_TABLES and k in self.handed)
        ]  # fmt: skip

    def table(self, table: str, batches: Iterable[Batch], *, progress: bool = True) -> None:
        keep = self.keepers(table)
        with contextlib.ExitStack() as stack:
            writers = [stack.enter_context(s.table_writer(table)) for s in keep]
            count = 0
            for batch in batches:
                for chunk in _chunks(batch, self.batch_size):
                    for w in writers:
                        w.write(chunk)
                count += len(next(iter(batch.values())))  # type: ignore[arg-type]
                del batch, chunk  # not held while the next batch is made (a fact block, simulated here)
                if progress:
                    self.report(table, self.rows.get(table, 0) + count)
        self.rows[table] = self.rows.get(table, 0) + count


def _chunks(batch: Batch, size: int) -> Iterator[Batch]:
    n = len(next(iter(batch.values())))  # type: ignore[arg-type]
    if n <= size:
        yield batch
        return
    for lo in range(0, n, size):
        yield {k: v[lo : lo + size] for k, v in batch.items()}  # type: ignore[index]


def _masters_and_customers(
    blocks: BlockMaker, writes: _Writes, block_size: int, between=lambda: None
) -> None:
    """The small tables, then the customers, calling `between()` before each block of customers (unless
    no sink needs them from this process)."""
    cfg = blocks.cfg
    for table, batch in master_batches(cfg, blocks.catalog).items():
        writes.table(table, [batch])
    if not writes.keepers("customers"):
        return

    def customers() -> Iterator[Batch]:
        # Only a calibrated channel mix makes the customers wait for the calibration: without one they are
        # written while it runs.
        shares = blocks.model.rates.channel_shares if cfg.scenario.targets.order_share else ()
        # cheap to build and costly to pickle (strings): always made in this process
        for ids in count_blocks(cfg.n_customers, block_size):
            between()
            yield build_customers(cfg, ids, Draws(cfg.seed), channel_shares=shares)

    writes.table("customers", customers())


def refuse_shortfall(blocks: BlockMaker, options: RunOptions) -> None:
    """Wait for the calibration; ConfigError naming each target it could not reach, unless the options
    accept that. Called before anything is committed: the caller's abort leaves every target as it was."""
    shortfalls = blocks.model.rates.shortfalls
    if shortfalls and not options.accept_calibration_shortfall:
        raise ConfigError(
            "the scenario's targets cannot all be met: " + "; ".join(s.describe() for s in shortfalls),
            "change those targets (or the knobs that fight them) in the scenario, or pass "
            "--accept-calibration-shortfall to load the data anyway",
        )


def load(
    blocks: BlockMaker, sinks: list[Sink], options: RunOptions, on_progress: Progress | None = None
) -> dict[str, int]:
    """Every table into every sink (begun, not committed): the rows per table."""
    cfg, block_size = blocks.cfg, options.block_size
    started = runlog.now()
    handed = blocks.attach(sinks)
    digest = LoadDigests(hashed_elsewhere=_CUSTOMER_TABLES if blocks.hashes_customer_tables else frozenset())
    writes = _Writes([*sinks, digest], options.batch_size, on_progress)
    writes.handed = handed
    fact_blocks: list[Iterator] = []

    def start_facts() -> None:
        # the workers simulate the first fact blocks while this process makes the customers
        if not fact_blocks and blocks.calibrated():
            writes.calibrated(blocks, options)
            fact_blocks.append(blocks.map(facts_of, blocks.cut(block_size)))

    _masters_and_customers(blocks, writes, block_size, between=start_facts)
    writes.calibrated(blocks, options)

    # The lifecycle tables are a few rows per customer, written after the fact pass: their compact codes
    # go to a scratch file block by block meanwhile, so memory stays bounded by the block.
    lifecycle = Spill()
    lifecycle_here = any(writes.keepers(t) for t in ("customer_lifecycle", "lifecycle_events"))
    # The invoice headers and the order-to-cash documents are made from each block's lines while it is
    # here, and kept the same way until the fact pass ends (a bulk path takes one table at a time).
    headers = Spill()
    invoices_here = any(writes.keepers(t) for t in HEADER_TABLES)
    lines = 0

    def facts() -> Iterator[Batch]:
        nonlocal lines
        if not fact_blocks:
            fact_blocks.append(blocks.map(facts_of, blocks.cut(block_size)))
        made = fact_blocks.pop()
        for k, ids in enumerate(blocks.cut(block_size)):
            # next(), not zip(): zip keeps its last tuple, and with it this block, until the next block is
            # asked for, which this process may simulate meanwhile
            f = next(made)  # a block, or only its line count when it stays where it was made
            here = not isinstance(f, int)
            n_lines = len(f) if here else f
            if here and lifecycle_here:
                lifecycle.add((ids, lifecycle_only(f)))
            if here and invoices_here:
                headers.add(header_batches(f, blocks.model))
            blocks.write_on_worker(k, lines + 1)
            if here:
                yield fact_batch(f, lines + 1)
            elif on_progress:
                on_progress(FACT.name, lines + n_lines)
            lines += n_lines
            del f  # the next block may be simulated here: this one's arrays must be free by then

    writes.table(FACT.name, facts())
    writes.rows[FACT.name] = lines
    if invoices_here:
        for table in HEADER_TABLES:
            writes.table(table, (made[table] for made in headers))
    headers.close()
    worker = blocks.finish_writes()
    for table, segments in worker.segments.items():
        digest.add_segments(table, segments)
    if on_progress:  # the other tables the workers wrote: their counts are known only now
        for table in (t.name for t in CUSTOMER_TABLES if t is not FACT and t.name in worker.rows):
            on_progress(table, worker.rows[table])
    if lifecycle_here:
        writes.table("customer_lifecycle", (lifecycle_batch(i, f) for i, f in lifecycle))
        writes.table("lifecycle_events", (events_batch(f) for _, f in lifecycle))
    lifecycle.close()
    # in the schema's order; the engine's counts of the tables it made
    made = {**writes.rows, **worker.rows}
    rows = {t.name: made[t.name] for t in TABLES if t.name in made}
    record = runlog.run_record(
        cfg, started=started, block_size=block_size, blocks_done=-(-cfg.n_customers // block_size),
        next_line_id=lines + 1, rates=blocks.model.rates, shortfalls=blocks.model.rates.shortfalls,
    )  # fmt: skip
    writes.rows = rows
    writes.table("erpgen_runs", [runlog.completed(record, dict(rows), digest.digests())])
    return writes.rows


def load_resumable(
    blocks: BlockMaker, sink: ResumableSink, options: RunOptions, on_progress: Progress | None = None
) -> dict[str, int]:
    """Into one database (begun), committed block by block with the progress in erpgen_runs, carrying
    on the interrupted load the sink found, if any; completed and committed at the end: the rows per table.

    Keys and indexes are built once, at the end; until then the tables hold a partial load that only
    `--resume` (or `--replace`) touches. The content digest is read back from the database at the end.
    """
    cfg = blocks.cfg
    writes = _Writes([sink], options.batch_size, on_progress)
    interrupted = sink.interrupted_run()
    if interrupted is None:
        block_size, first_block, next_line = options.block_size, 0, 1
        _masters_and_customers(blocks, writes, block_size)
        writes.calibrated(blocks, options)
        record = runlog.run_record(
            cfg, started=runlog.now(), block_size=block_size, blocks_done=0, next_line_id=1,
            rates=blocks.model.rates, shortfalls=blocks.model.rates.shortfalls,
        )  # fmt: skip
        writes.table("erpgen_runs", [record], progress=False)
        sink.checkpoint(blocks_done=0, next_line_id=1)
    else:
        writes.calibrated(blocks, options)
        runlog.check_same_run(interrupted, cfg, sink.describe(), blocks.model.rates.shortfalls)
        block_size = interrupted["block_size"]
        first_block, next_line = interrupted["blocks_done"], interrupted["next_line_id"]
    model = blocks.model
    for k, ids in enumerate(count_blocks(cfg.n_customers, block_size)):
        if k < first_block:
            continue
        f = facts_of(model, ids)
        writes.table(FACT.name, [fact_batch(f, next_line)])
        for table, batch in header_batches(f, model).items():
            writes.table(table, [batch], progress=False)
        writes.table("customer_lifecycle", [lifecycle_batch(ids, f)], progress=False)
        writes.table("lifecycle_events", [events_batch(f)], progress=False)
        next_line += len(f)
        sink.checkpoint(blocks_done=k + 1, next_line_id=next_line)
    if on_progress:
        on_progress("keys and indexes", 0)
    return sink.complete()
