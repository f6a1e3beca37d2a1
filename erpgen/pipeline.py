"""Orchestration only: validate -> masters -> customers by block -> facts by block -> sinks -> commit."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from erpgen import urls
from erpgen.calibrate import calibrate
from erpgen.catalog import Catalog, build_catalog
from erpgen.config import GenerateConfig, make_config
from erpgen.customers import build_customers
from erpgen.digest import LoadDigests
from erpgen.errors import ConfigError, TargetError
from erpgen.rng import Draws
from erpgen.schema import EVENTS, SEGMENTS
from erpgen.simulation import BlockFacts, Model, compact, lifecycle_only, simulate_block
from erpgen.simulation.plan import blocks as _blocks
from erpgen.simulation.plan import even_blocks as _even_blocks
from erpgen.sinks import Sink, csv_sink, database_sink, parquet_sink
from erpgen.sinks.base import Batch
from erpgen.stores import store_table
from erpgen.tables import fact_batch
from erpgen.urls import mask_text

DEFAULT_BLOCK_SIZE = 25_000  # customers simulated together; changes speed and memory, never the data
DEFAULT_BATCH_SIZE = 100_000  # rows handed to a sink per write; changes speed and memory, never the data


@dataclass
class RunSummary:
    target: str
    outputs: list[str]
    seed: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def lines_per_second(self) -> float:
        return self.rows.get("sales_transactions", 0) / self.seconds if self.seconds else 0.0


def _chunks(batch: Batch, size: int) -> Iterator[Batch]:
    n = len(next(iter(batch.values())))  # type: ignore[arg-type]
    if n <= size:
        yield batch
        return
    for lo in range(0, n, size):
        yield {k: v[lo : lo + size] for k, v in batch.items()}  # type: ignore[index]


def catalog_for(cfg: GenerateConfig) -> Catalog:
    c = cfg.scenario.catalog
    return build_catalog(
        seed=cfg.seed,
        n_devices=c.n_devices,
        n_accessories=c.n_accessories,
        n_spare_parts=c.n_spare_parts,
        n_refills=c.n_refills,
        n_bulk_refills=c.n_bulk_refills,
        universe=c.universe,
    )


def masters(cfg: GenerateConfig, catalog: Catalog) -> dict[str, Batch]:
    ps = catalog.products
    stores = store_table(cfg)
    store_rows = [
        (int(stores[i, j, 0]) + k, country, channel)
        for i, country in enumerate(cfg.scenario.countries)
        for j, channel in enumerate(cfg.scenario.channels)
        for k in range(int(stores[i, j, 1]))
    ]
    names = {"ONLINE": "Web Shop", "RETAIL": "Store", "B2B": "Business Sales"}
    return {
        "stores": {
            "store_id": np.array([r[0] for r in store_rows], dtype=np.int64),
            "store_name": [f"{names[ch]} {country} {sid}" for sid, country, ch in store_rows],
            "channel": [r[2] for r in store_rows],
            "country": [r[1] for r in store_rows],
        },
        "categories": {
            "category": [c for c, _ in catalog.categories],
            "role": [r for _, r in catalog.categories],
        },
        "products": {
            "product_id": np.array([p.product_id for p in ps], dtype=np.int64),
            "product_name": [p.product_name for p in ps],
            "brand": [p.brand for p in ps],
            "category": [p.category for p in ps],
            "gramm_g": [p.gramm_g for p in ps],
            "unit_price_cents": np.array([p.unit_price_cents for p in ps], dtype=np.int64),
        },
    }


def generate(
    *,
    database_url: str | None = None,
    no_database: bool = False,
    csv_dir: str | None = None,
    parquet_dir: str | None = None,
    replace: bool = False,
    resume: bool = False,
    workers: int = 1,
    engine: str = "local",
    scheduler: str | None = None,
    dry_run: bool = False,
    block_size: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: Callable[[str, int], None] | None = None,
    **params: object,
) -> RunSummary:
    """Simulate and load a dataset. `params` are named like the CLI flags (scenario=..., n_customers=...,
    seed=...).

    database_url: same as --database-url (default sqlite:///erpgen.db); no_database: same as
    --no-database (files only); csv_dir / parquet_dir: same as --csv-dir / --parquet-dir; replace: same
    as --replace; workers: same as --workers; engine, scheduler: same as --engine, --scheduler (a
    LocalCluster spawns its workers, so a script calling this with engine="dask" needs the usual
    `if __name__ == "__main__":` guard). The load
    is one transaction: it completes, or the target is unchanged. resume: same as --resume: commit block
    by block, and carry on an interrupted run. dry_run: same as --dry-run: return an erpgen.estimate.Estimate and write nothing.
    Workers, block and batch sizes change speed and memory, never the data.
    """
    cfg = make_config(**params)
    params_block = block_size is not None
    if block_size is None:
        # enough blocks to keep every worker busy, big enough to amortise the event loop's overhead
        block_size = (
            max(5_000, min(DEFAULT_BLOCK_SIZE, -(-cfg.n_customers // (4 * workers))))
            if workers > 1
            else DEFAULT_BLOCK_SIZE
        )
    if engine == "dask":
        from erpgen.digest import SEGMENT

        # a block holds whole segments of the fact table's digest, so its worker can hash them
        block_size = block_size if params_block else -(-block_size // SEGMENT) * SEGMENT
        if block_size % SEGMENT:
            raise ConfigError(
                f"--block-size {block_size:,} with --engine dask must be a multiple of {SEGMENT:,}",
                f"use e.g. {max(SEGMENT, block_size // SEGMENT * SEGMENT):,}",
            )
    if block_size < 1 or batch_size < 1:
        raise ConfigError("--block-size and --batch-size must be at least 1")
    if not 1 <= workers <= 64:
        raise ConfigError(f"--workers must be between 1 and 64, got {workers}")
    if engine not in ("local", "dask"):
        raise ConfigError(f"--engine must be local or dask, got {engine!r}")
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
    if resume and (no_database or csv_dir or parquet_dir):
        raise ConfigError(
            "--resume loads into a database only", "leave out --csv-dir, --parquet-dir, --no-database"
        )
    sinks: list[Sink] = []
    if not no_database:
        sinks.append(
            database_sink(urls.parse(database_url or urls.DEFAULT_URL), replace=replace, resume=resume)
        )
    if csv_dir:
        sinks.append(csv_sink(csv_dir))
    if parquet_dir:
        sinks.append(parquet_sink(parquet_dir))
    if not sinks:
        raise ConfigError("--no-database leaves nothing to write", "add --csv-dir or --parquet-dir")
    if dry_run:
        from erpgen.estimate import estimate

        backend = None if no_database else urls.parse(database_url or urls.DEFAULT_URL).get_backend_name()
        return estimate(
            cfg, backend=backend, csv=bool(csv_dir), parquet=bool(parquet_dir), target=sinks[0].describe()
        )
    summary = RunSummary(target=sinks[0].describe(), outputs=[s.describe() for s in sinks[1:]], seed=cfg.seed)
    started = time.perf_counter()
    begun: list[Sink] = []
    # Worker processes are forked before any sink opens a connection, so no child inherits a database
    # socket. One of them calibrates the rates while this process writes the masters and customers.
    with _block_maker(cfg, engine, scheduler, workers) as blocks:
        try:
            for sink in sinks:
                sink.begin()
                begun.append(sink)
                if engine == "dask" and (writer := sink.worker_fact_writer()) is not None:
                    blocks.writers.append(writer)
            if resume:
                _load_resumable(blocks, sinks[0], summary, block_size, batch_size, on_progress)
            else:
                _load(blocks, sinks, summary, block_size, batch_size, on_progress)
                if on_progress:
                    on_progress("keys and indexes", 0)
                for sink in sinks:
                    sink.commit()
        except BaseException as exc:
            for sink in begun:
                sink.abort()
            failure = _load_failure(exc, sinks)
            if failure is not None:
                raise failure from None
            raise
    summary.seconds = time.perf_counter() - started
    return summary


def _load_failure(exc: BaseException, sinks: list[Sink]) -> TargetError | None:
    """A database or file error in the middle of a load, as one line for the user (None: not one)."""
    import sqlite3

    import psycopg
    from sqlalchemy.exc import DBAPIError

    driver_errors: tuple[type, ...] = (DBAPIError, psycopg.Error, sqlite3.Error, OSError)
    with contextlib.suppress(ImportError):
        import pymysql

        driver_errors += (pymysql.Error,)
    if not isinstance(exc, driver_errors):
        return None
    cause = getattr(exc, "orig", None) or exc
    text = " ".join(str(cause).split("\nLINE ")[0].split()) or type(cause).__name__
    if type(cause).__module__.startswith("pymysql") and len(cause.args) == 2:  # (error code, message)
        text = str(cause.args[1])
    if isinstance(cause, OSError) and cause.strerror:
        text = f"{cause.strerror}: {cause.filename}" if cause.filename else cause.strerror
    where = ", ".join(s.describe() for s in sinks)
    return TargetError(
        f"loading into {where} failed: {mask_text(text)}", "nothing was committed; run it again"
    )


@contextlib.contextmanager
def _block_maker(cfg: GenerateConfig, engine: str, scheduler: str | None, workers: int):
    catalog = catalog_for(cfg)
    if engine == "local":
        with _Blocks(cfg, catalog, workers) as blocks:
            yield blocks
        return
    from erpgen.scaleout import DaskBlocks, dask_client

    with dask_client(scheduler, workers) as client:
        yield DaskBlocks(client, cfg, catalog)


class _Blocks:
    """Fact blocks, made by a pool of forked workers (and by this process while it would otherwise wait),
    yielded in order.

    Each block depends only on the seed and its customer ids, so where it is made never changes it. At
    most one block per worker, one queued for them and one made here are in flight, which bounds memory
    whatever the dataset size; and a finished block waits for its turn in a scratch file, not in memory,
    so this process holds only the block being written and the one it may be simulating. The pool also
    calibrates the rates (erpgen.calibrate), and starts on the first fact blocks, while this process
    loads the customers; `model` waits for the rates.
    """

    def __init__(self, cfg: GenerateConfig, catalog: Catalog, workers: int):
        self.cfg, self.catalog, self.workers = cfg, catalog, workers
        self.pool = None
        self._model: Model | None = None
        self.writers: list = []  # the dask engine's workers write some targets; here the sinks do
        self.lines_here = True
        self.hashes_facts = False
        self.writer_simulates = True  # whether this process simulates blocks too while it waits

    def __enter__(self) -> _Blocks:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.scratch = _scratch_dir()
        self.pool = ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("fork"), initializer=_worker_init,
            initargs=(self.cfg, self.catalog, self.scratch),
        )  # fmt: skip
        self.rates = self.pool.submit(_worker_calibrate)
        for f in [self.pool.submit(_worker_ready) for _ in range(self.workers - 1)]:
            f.result()  # start every worker now, before connections exist
        return self

    def __exit__(self, *exc) -> None:
        import shutil

        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
        shutil.rmtree(self.scratch, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(self.scratch))  # this process's folder, once no run of it is left

    @property
    def model(self) -> Model:
        if self._model is None:
            self._model = Model(self.cfg, self.catalog, self.rates.result())
        return self._model

    def calibrated(self) -> bool:
        return self.rates.done()

    def map(self, fn, id_blocks: Iterator[np.ndarray]) -> Iterator:
        """fn(model, ids) for every block, in order. The workers start on the first blocks when map is
        called (after the calibration), not when the first block is asked for. Each worker holds one block
        at a time; when the next block to yield is not ready, this process makes a later one itself
        rather than wait (one at a time, after queueing one more for the workers if two are left, so
        that they do not run dry meanwhile): the writer's idle time goes into the simulation too, unless
        `writer_simulates` is off (Sink.writer_simulates)."""
        from collections import deque

        model = self.model
        pending = iter(id_blocks)
        ahead: deque = deque()  # blocks taken from `pending` but not handed out yet
        window: deque = deque()  # the blocks in flight, in order: (the pool's future, None) or (None, block)
        in_pool = here = 0

        def left(k: int) -> bool:
            while len(ahead) < k and (ids := next(pending, None)) is not None:
                ahead.append(ids)
            return len(ahead) >= k

        def to_pool() -> None:
            nonlocal in_pool
            window.append((self.pool.submit(_in_worker, fn, model.rates, ahead.popleft()), None))
            in_pool += 1

        def in_order() -> Iterator:
            nonlocal in_pool, here
            while window:
                future, block = window[0]
                if (
                    future is not None
                    and not future.done()
                    and not here
                    and self.writer_simulates
                    and left(1)
                ):
                    if in_pool <= self.workers and left(2):
                        to_pool()
                    ids = ahead.popleft()
                    window.append((None, _spilled(fn(model, ids), self.scratch, ids)))
                    here += 1
                    continue
                window.popleft()
                if future is None:
                    here -= 1
                else:
                    block, in_pool = future.result(), in_pool - 1
                block = _unspilled(block)
                while in_pool < self.workers and left(1):  # before the caller writes this block
                    to_pool()
                yield block

        while in_pool < self.workers and left(1):
            to_pool()
        return in_order()

    def write_on_worker(self, block_no: int, first_line_id: int) -> None:
        """Nothing to do: every sink writes in this process."""

    def finish_writes(self) -> list[bytes]:
        return []


_WORKER: dict = {}


def _worker_init(cfg: GenerateConfig, catalog: Catalog, scratch: str) -> None:
    _WORKER.update(cfg=cfg, catalog=catalog, model=None, scratch=scratch)


def _worker_ready() -> bool:
    return True


def _worker_calibrate():
    return calibrate(_WORKER["cfg"], _WORKER["catalog"])


def _in_worker(fn, rates, ids: np.ndarray) -> str:
    model = _WORKER["model"]
    if model is None or model.rates != rates:
        model = _WORKER["model"] = Model(_WORKER["cfg"], _WORKER["catalog"], rates)
    return _spilled(fn(model, ids), _WORKER["scratch"], ids)


def _scratch_dir() -> str:
    """A new folder for this run's finished blocks, under one per process in the temporary directory
    (folders of processes that were killed are removed here)."""
    import tempfile

    from erpgen.sinks.base import remove_stale_scratch

    temp = tempfile.gettempdir()
    remove_stale_scratch(temp, "erpgen-blocks-*.partial")
    mine = os.path.join(temp, f"erpgen-blocks-{os.getpid()}.partial")
    try:
        os.makedirs(mine, exist_ok=True)
        return tempfile.mkdtemp(dir=mine)
    except OSError as exc:
        raise TargetError(
            f"cannot make scratch files in {temp}: {exc.strerror}", "set TMPDIR to a writable directory"
        ) from None


def _spilled(block, scratch: str, ids: np.ndarray) -> str:
    """The block pickled into a scratch file named after its first customer: its path."""
    import pickle

    path = os.path.join(scratch, f"{int(ids[0]) if len(ids) else 0}.pickle")
    with open(path, "wb") as f:
        pickle.dump(block, f, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def _unspilled(path: str):
    import pickle

    with open(path, "rb") as f:
        block = pickle.load(f)
    os.unlink(path)
    return block


def _customers_block(cfg: GenerateConfig, ids: np.ndarray) -> Batch:
    return build_customers(cfg, ids, Draws(cfg.seed))


def _facts_block(model: Model, ids: np.ndarray) -> BlockFacts:
    return compact(simulate_block(model, ids, Draws(model.cfg.seed)))


def _fan_out(sinks, table: str, batches, batch_size: int, summary: RunSummary, on_progress) -> None:
    """Write the batches of one table to every sink, in chunks of at most batch_size rows."""
    with contextlib.ExitStack() as stack:
        writers = [stack.enter_context(s.table_writer(table)) for s in sinks]
        count = 0
        for batch in batches:
            for chunk in _chunks(batch, batch_size):
                for w in writers:
                    w.write(chunk)
            count += len(next(iter(batch.values())))  # type: ignore[arg-type]
            del batch, chunk  # not held while the next batch is made (a fact block, simulated here)
            if on_progress:
                on_progress(table, summary.rows.get(table, 0) + count)
    summary.rows[table] = summary.rows.get(table, 0) + count


def _load_masters(
    blocks: _Blocks, sinks, summary, block_size, batch_size, on_progress, between=lambda: None
) -> None:
    """The small tables, then the customers, calling `between()` before each block of customers."""
    cfg = blocks.cfg
    for table, batch in masters(cfg, blocks.catalog).items():
        _fan_out(sinks, table, [batch], batch_size, summary, on_progress)

    def customers() -> Iterator[Batch]:
        # cheap to build and costly to pickle (strings): always made here
        for ids in _blocks(cfg.n_customers, block_size):
            between()
            yield _customers_block(cfg, ids)

    _fan_out(sinks, "customers", customers(), batch_size, summary, on_progress)


def _load(blocks: _Blocks, sinks, summary, block_size, batch_size, on_progress) -> None:
    """One pass, one transaction per sink; the digest of every table is taken on the way."""
    cfg = blocks.cfg
    started = _now()
    # --engine dask: the workers hash the fact lines where they are, and send them here only for the
    # targets that take one writer (SQLite, CSV).
    blocks.lines_here = any(not s.facts_on_workers for s in sinks)
    blocks.writer_simulates = blocks.writer_simulates and any(s.writer_simulates for s in sinks)
    digest = LoadDigests(facts_on_workers=blocks.hashes_facts)
    sinks = [*sinks, digest]

    def id_blocks() -> Iterator[np.ndarray]:
        # Dask's workers hash whole segments of the fact table: its blocks stay cut by count
        if isinstance(blocks, _Blocks):
            return _even_blocks(cfg, blocks.model.rates, block_size)
        return _blocks(cfg.n_customers, block_size)

    fact_blocks: list[Iterator] = []

    def start_facts() -> None:
        # the workers simulate the first fact blocks while this process makes the customers
        if not fact_blocks and blocks.calibrated():
            fact_blocks.append(blocks.map(_facts_block, id_blocks()))

    _load_masters(blocks, sinks, summary, block_size, batch_size, on_progress, between=start_facts)

    # The lifecycle tables are a few rows per customer, written after the fact pass: their compact codes
    # go to a scratch file block by block meanwhile (about 50 bytes a customer: memory stays bounded
    # by the block, not the dataset).
    lifecycle = _Spill()
    lines = 0

    def facts() -> Iterator[Batch]:
        nonlocal lines
        if not fact_blocks:
            fact_blocks.append(blocks.map(_facts_block, id_blocks()))
        made = fact_blocks.pop()
        for k, ids in enumerate(id_blocks()):
            # next(), not zip(): zip keeps its last tuple, and with it this block, until the next block is
            # asked for, which this process may simulate meanwhile (21 MiB more peak RSS at 300k customers)
            f = next(made)
            light = f if f.lines is not None else lifecycle_only(f)
            lifecycle.add((ids, light))
            blocks.write_on_worker(k, lines + 1)
            n_lines = light.lines
            if f.lines is None:
                yield fact_batch(f, lines + 1)
            elif on_progress:
                on_progress("sales_transactions", lines + n_lines)
            lines += n_lines
            del f, light  # the next block may be simulated here: this one's arrays must be free by then

    _fan_out(sinks, "sales_transactions", facts(), batch_size, summary, on_progress)
    summary.rows["sales_transactions"] = lines
    if blocks.hashes_facts:
        digest.add_fact_segments(blocks.finish_writes())
    _fan_out(
        sinks,
        "customer_lifecycle",
        (_lifecycle_batch(i, f) for i, f in lifecycle),
        batch_size,
        summary,
        on_progress,
    )
    _fan_out(
        sinks, "lifecycle_events", (_events_batch(f) for _, f in lifecycle), batch_size, summary, on_progress
    )
    lifecycle.close()
    run = _run_record(
        cfg, started=started, block_size=block_size, next_line_id=summary.rows["sales_transactions"] + 1
    )
    run.update(status=["COMPLETE"], loaded_at=[_now()], row_counts=[_json(summary.rows)],
               content_digest=[_json(digest.digests())])  # fmt: skip
    _fan_out(sinks, "erpgen_runs", [run], batch_size, summary, on_progress)


class _Spill:
    """Objects pickled one after another into an anonymous scratch file, read back in order as often as
    needed; the file goes when closed (or when the process ends)."""

    def __init__(self) -> None:
        import tempfile

        self.file = tempfile.TemporaryFile()

    def add(self, item: object) -> None:
        import pickle

        pickle.dump(item, self.file, protocol=pickle.HIGHEST_PROTOCOL)

    def __iter__(self) -> Iterator:
        import pickle

        self.file.seek(0)
        while True:
            try:
                yield pickle.load(self.file)
            except EOFError:
                return

    def close(self) -> None:
        self.file.close()


def _lifecycle_batch(ids: np.ndarray, f: BlockFacts) -> Batch:
    return {
        "customer_id": ids.astype(np.int64),
        "segment": [SEGMENTS[s] for s in f.segment.tolist()],
        "acquired_on": f.created.astype(np.int64),
        "first_purchase_on": f.first_purchase.astype(np.int64),
        "lost_on": f.lost.astype(np.int64),
    }


def _events_batch(f: BlockFacts) -> Batch:
    cust = f.event_customer.astype(np.int64)
    starts = np.flatnonzero(np.r_[True, cust[1:] != cust[:-1]]) if len(cust) else np.zeros(0, dtype=np.int64)
    first_of = np.repeat(starts, np.diff(np.r_[starts, len(cust)]))
    return {
        "customer_id": cust,
        "event_no": np.arange(len(cust), dtype=np.int64) - first_of + 1,
        "event": [EVENTS[c] for c in f.event_code.tolist()],
        "event_date": f.event_day.astype(np.int64),
    }


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0).isoformat(sep=" ")


def _json(value) -> str:
    import json

    return json.dumps(value, sort_keys=True)


def _run_record(cfg: GenerateConfig, *, started: str, block_size: int, next_line_id: int) -> Batch:
    from erpgen import __version__

    n_blocks = -(-cfg.n_customers // block_size)
    return {
        "run_id": np.array([1], dtype=np.int64),
        "erpgen_version": [__version__],
        "scenario": [cfg.scenario.name],
        "scenario_toml": [cfg.scenario_text],
        "seed": np.array([cfg.seed], dtype=np.int64),
        "parameters": [_json(cfg.public_parameters())],
        "loaded_at": [None],
        "status": ["LOADING"],
        "started_at": [started],
        "row_counts": ["{}"],
        "content_digest": ["{}"],
        "block_size": np.array([block_size], dtype=np.int64),
        "blocks_done": np.array([n_blocks], dtype=np.int64),
        "next_line_id": np.array([next_line_id], dtype=np.int64),
    }


def _load_resumable(blocks: _Blocks, sink, summary, block_size, batch_size, on_progress) -> None:
    """Commit block by block, recording progress in erpgen_runs, so an interrupted load can carry on.

    Keys and indexes are built once, at the end; until then the tables hold a partial load that only
    `--resume` (or `--replace`) touches. The content digest is read back from the database at the end.
    """
    from sqlalchemy import func, select, update

    from erpgen.digest import database_digests
    from erpgen.schema import TABLES, erpgen_runs

    cfg = blocks.cfg
    state = sink.resuming
    if state is None:
        _load_masters(blocks, [sink], summary, block_size, batch_size, on_progress)
        record = _run_record(cfg, started=_now(), block_size=block_size, next_line_id=1)
        record["blocks_done"] = np.array([0], dtype=np.int64)
        _fan_out([sink], "erpgen_runs", [record], batch_size, summary, None)
        sink.checkpoint()
        first_block, next_line = 0, 1
    else:
        if (
            state["parameters"] != _json(cfg.public_parameters())
            or state["scenario_toml"] != cfg.scenario_text
        ):
            raise TargetError(
                f"the interrupted load in {sink.describe()} was started with other parameters: {state['parameters']}",
                "run --resume with the same options, or start again with --replace",
            )
        block_size, first_block, next_line = state["block_size"], state["blocks_done"], state["next_line_id"]
    model = blocks.model
    for k, ids in enumerate(_blocks(cfg.n_customers, block_size)):
        if k < first_block:
            continue
        f = _facts_block(model, ids)
        _fan_out([sink], "sales_transactions", [fact_batch(f, next_line)], batch_size, summary, on_progress)
        _fan_out([sink], "customer_lifecycle", [_lifecycle_batch(ids, f)], batch_size, summary, None)
        _fan_out([sink], "lifecycle_events", [_events_batch(f)], batch_size, summary, None)
        next_line += len(f)
        sink.conn.execute(update(erpgen_runs).values(blocks_done=k + 1, next_line_id=next_line))
        sink.checkpoint()
    if on_progress:
        on_progress("keys and indexes", 0)
    conn = sink.conn
    summary.rows = {t.name: conn.scalar(select(func.count()).select_from(t)) for t in TABLES}
    counts = {k: v for k, v in summary.rows.items() if k != "erpgen_runs"}
    conn.execute(
        update(erpgen_runs).values(
            status="COMPLETE", loaded_at=_now_datetime(), row_counts=_json(counts),
            content_digest=_json(database_digests(conn)),
        )
    )  # fmt: skip
    sink.commit()


def _now_datetime():
    import datetime as dt

    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
