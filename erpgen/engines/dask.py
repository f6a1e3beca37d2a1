"""The Dask engine (--engine dask): blocks made on a Dask cluster, and the tables keyed by customer
(customers, the fact table, the two lifecycle tables) made, hashed and written by the workers themselves
where a target takes parallel writers.

Every block's data depends only on the seed and its customer ids (counter-based draws), so any worker
can make any block, its customers (Faker identities from pools each worker fills once) included, and the
union is the single-process dataset. Line ids are sequential in customer order, so a block's first line
id is known only when the blocks before it have been counted: the client takes the blocks' line counts in
order (a bounded window of blocks in flight), and as each arrives it knows the block's offset and asks
the worker that holds the block to make its four tables' rows there with that offset, hash them in
segments of customers (erpgen.digest) and write them: Parquet part files into the shared datasets, or
COPYs into PostgreSQL's staging tables. Only counts and segment digests (32 bytes per 1,000 customers
and table) come back, so when every target takes parallel writers the client's work and memory do not
grow with the customers. A target that cannot (SQLite, MariaDB, CSV) still gets every row from the
client: the client then takes whole blocks and makes the customers itself, as the local engine does.

dask and distributed are imported lazily: they are an optional dependency (erpgen[dask]).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Iterator

import numpy as np

from erpgen.calibrate import calibrate
from erpgen.catalog import Catalog
from erpgen.config import GenerateConfig
from erpgen.customers import build_customers
from erpgen.digest import WorkerTables, segment_digests
from erpgen.errors import ConfigError, TargetError
from erpgen.rng import Draws
from erpgen.schema import FACT
from erpgen.simulation import Model
from erpgen.simulation.plan import blocks
from erpgen.sinks.base import Batch, ParallelWriter, Sink
from erpgen.tables import HEADER_TABLES, events_batch, fact_batch, header_batches, lifecycle_batch

CONNECT_TIMEOUT = "10s"


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ConfigError("--engine dask needs dask.distributed", "pip install 'erpgen[dask]'") from None
    return distributed


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int) -> Iterator[object]:
    """A client of the cluster at `scheduler`, or of a cluster of `workers` processes of erpgen's own
    (erpgen.engines.dask_cluster)."""
    distributed = _distributed()
    if scheduler is None:
        from erpgen.engines.dask_cluster import cluster_process

        with (
            cluster_process(workers) as address,
            distributed.Client(address, timeout=CONNECT_TIMEOUT) as client,
        ):
            yield client
        return
    try:
        client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise TargetError(
            f"cannot reach the Dask scheduler at {scheduler}: {' '.join(str(exc).split())}",
            "check the address (tcp://host:8786) and that the scheduler is running",
        ) from None
    with client:
        yield client


class DaskBlocks:
    """The BlockMaker of erpgen.engines on a Dask cluster."""

    WINDOW_PER_WORKER = 2  # blocks in flight per worker thread: bounds memory on client and workers

    def __init__(self, client, cfg: GenerateConfig, catalog: Catalog):
        self.client, self.cfg, self.catalog = client, cfg, catalog
        threads = sum(client.nthreads().values())
        if threads == 0:
            raise TargetError("the Dask cluster has no workers", "start some workers, then run again")
        self.window = self.WINDOW_PER_WORKER * threads
        self.rates = client.submit(calibrate, cfg, catalog, pure=False)
        self._shared = None
        self._model: Model | None = None
        self.writers: list[ParallelWriter] = []
        self.rows_here = True  # whether the client needs the blocks' rows (a target with one writer)
        # whether the workers make and hash the tables keyed by customer: where a sink takes their rows
        self.hashes_customer_tables = False
        # block number -> future of its facts and its customer ids (first, end), until written
        self._held: dict[int, tuple[object, tuple[int, int]]] = {}
        self._writes: deque = deque()
        self._written = WorkerTables()

    def calibrated(self) -> bool:
        return self.rates.done()

    @property
    def model(self) -> Model:
        if self._model is None:
            rates = self.rates.result()
            self._model = Model(self.cfg, self.catalog, rates)
            # one copy of the configuration per worker, not one per task
            self._shared = self.client.scatter([(self.cfg, self.catalog, rates)], broadcast=True)[0]
        return self._model

    def cut(self, block_size: int) -> Iterator[np.ndarray]:
        # by count: a block holds whole segments of the digest, which its worker hashes
        return blocks(self.cfg.n_customers, block_size)

    def attach(self, sinks: list[Sink]) -> set[int]:
        """Where a sink takes parallel writers, the workers write its tables keyed by customer; the client
        needs the blocks' rows only if another sink is left for them (SQLite, MariaDB, CSV)."""
        handed = set()
        for k, sink in enumerate(sinks):
            if (writer := sink.parallel_writer()) is not None:
                self.writers.append(writer)
                handed.add(k)
        self.rows_here = len(handed) < len(sinks)
        # with no sink to write for, a worker would only make again the rows the client makes anyway
        self.hashes_customer_tables = bool(handed)
        return handed

    def map(self, fn, id_blocks: Iterator[np.ndarray]) -> Iterator:
        """fn(model, ids) -> BlockFacts for each block on the cluster, in block order: whole if
        `rows_here`, else only its line count (the block stays on its worker)."""
        self.model  # noqa: B018  (calibrated and shared before the first block)
        window: deque = deque()
        for k, ids in enumerate(id_blocks):
            block = self.client.submit(_on_worker, fn, self._shared, ids, pure=False)
            count = None if self.rows_here else self.client.submit(len, block, pure=False)
            window.append((k, (int(ids[0]), int(ids[-1]) + 1), block, count))
            if len(window) >= self.window:
                yield self._take(*window.popleft())
        while window:
            yield self._take(*window.popleft())

    def _take(self, k: int, ids: tuple[int, int], block, count):
        self._held[k] = (block, ids)  # until write_on_worker has had it written
        return (block if count is None else count).result()

    def write_on_worker(self, block_no: int, first_line_id: int) -> None:
        """Have the worker holding block `block_no` make its tables keyed by customer (line ids from
        first_line_id), write them to the targets that take parallel writers, and hash them."""
        block, ids = self._held.pop(block_no)
        if not self.hashes_customer_tables:
            return
        self._writes.append(
            self.client.submit(
                _write_block, block, self._shared, ids, first_line_id, block_no, self.writers, pure=False
            )
        )
        while len(self._writes) > self.window:
            self._written.add(self._writes.popleft().result())

    def finish_writes(self) -> WorkerTables:
        """Wait for every worker write (the first failure is raised here): the rows and segment digests of
        the tables keyed by customer, in order."""
        while self._writes:
            self._written.add(self._writes.popleft().result())
        return self._written


_MODEL: list = []  # (shared, Model): built once per worker process for the run's shared configuration


def _model(shared) -> Model:
    if not _MODEL or _MODEL[0][0] is not shared:
        _MODEL[:] = [(shared, Model(*shared))]
    return _MODEL[0][1]


def _on_worker(fn, shared, ids: np.ndarray):
    return fn(_model(shared), ids)


def _write_block(
    facts, shared, ids: tuple[int, int], first_line_id: int, block_no: int, writers: list[ParallelWriter]
) -> WorkerTables:
    """On the worker holding the block: its rows of each table keyed by customer, one table at a time,
    written and hashed."""
    cfg, rates = shared[0], shared[2]
    customer_ids = np.arange(*ids, dtype=np.int64)
    headers: dict[str, Batch] = {}

    def header(table: str) -> Batch:
        if not headers:
            headers.update(header_batches(facts, _model(shared)))
        return headers.pop(table)

    made = {
        "customers": lambda: build_customers(
            cfg, customer_ids, Draws(cfg.seed), channel_shares=rates.channel_shares
        ),
        FACT.name: lambda: fact_batch(facts, first_line_id),
        **{table: (lambda table=table: header(table)) for table in HEADER_TABLES},
        "customer_lifecycle": lambda: lifecycle_batch(customer_ids, facts),
        "lifecycle_events": lambda: events_batch(facts),
    }
    out = WorkerTables()
    for table, make in made.items():
        batch = make()
        for w in writers:
            w.write(table, batch, block_no)
        out.rows[table] = len(next(iter(batch.values())))  # type: ignore[arg-type]
        out.segments[table] = segment_digests(table, batch)
        del batch
    return out
