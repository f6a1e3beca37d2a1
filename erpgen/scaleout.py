"""--engine dask: blocks made on a Dask cluster, the fact table written by the workers themselves.

Every block's data depends only on the seed and its customer ids (counter-based draws), so any worker
can make any block and the union is the single-process dataset. Line ids are sequential in customer
order, so a block's first line id is known only when the blocks before it have been counted: the client
takes the blocks in order (a bounded window of them in flight), and as each arrives it knows the block's
offset and asks the worker that holds the block to write it there with that offset: a Parquet part file
per year into the shared dataset, or a binary COPY into PostgreSQL's staging table. The client also
keeps what the whole run needs in one place: the content digest, the lifecycle tables (a few codes per
customer) and every target that cannot take parallel writers (SQLite, CSV).

dask and distributed are imported lazily: they are an optional dependency (erpgen[dask]).
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Iterator
from typing import Protocol

import numpy as np

from erpgen.calibrate import calibrate
from erpgen.catalog import Catalog
from erpgen.config import GenerateConfig
from erpgen.digest import fact_segment_digests
from erpgen.errors import ConfigError, TargetError
from erpgen.simulation import Model, lifecycle_only
from erpgen.sinks.base import Batch
from erpgen.tables import fact_batch

CONNECT_TIMEOUT = "10s"


class WorkerFactWriter(Protocol):
    """Picklable: runs on a worker and writes one block's fact lines to a target that takes parallel
    writers. `block_no` names the block (for file names); its lines already carry their final ids."""

    def write(self, batch: Batch, block_no: int) -> None: ...


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ConfigError("--engine dask needs dask.distributed", "pip install 'erpgen[dask]'") from None
    return distributed


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int) -> Iterator[object]:
    """A client of the cluster at `scheduler`, or of a LocalCluster of `workers` processes."""
    distributed = _distributed()
    if scheduler is None:
        with (
            distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,  # the simulation is numpy on one core per block
                processes=True,
                dashboard_address=None,
                silence_logs=logging.CRITICAL,  # workers log errors of their own shutdown
            ) as cluster,
            distributed.Client(cluster) as client,
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
    """The dask counterpart of pipeline._Blocks: `model` and `map` in block order, plus `write_on_worker`
    for the targets that the workers write themselves."""

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
        self.writers: list[WorkerFactWriter] = []
        self.lines_here = True  # whether the client needs the fact lines (targets with one writer)
        self.writer_simulates = False  # the client never simulates here, whatever the targets
        self.hashes_facts = True  # the workers compute the fact table's segment digests
        self._held: dict[int, object] = {}  # block number -> future of its facts, until written
        self._writes: deque = deque()
        self._segments: list[bytes] = []

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

    def map(self, fn, id_blocks: Iterator[np.ndarray]) -> Iterator:
        """fn(model, ids) -> BlockFacts for each block on the cluster, in block order: whole, or without
        its lines (BlockFacts.lines holds their count) unless `lines_here`."""
        self.model  # noqa: B018  (calibrated and shared before the first block)
        window: deque = deque()
        for k, ids in enumerate(id_blocks):
            block = self.client.submit(_on_worker, fn, self._shared, ids, pure=False)
            light = None if self.lines_here else self.client.submit(lifecycle_only, block, pure=False)
            window.append((k, block, light))
            if len(window) >= self.window:
                yield self._take(*window.popleft())
        while window:
            yield self._take(*window.popleft())

    def _take(self, k: int, block, light):
        self._held[k] = block  # until write_on_worker has had it written
        return (block if light is None else light).result()

    def write_on_worker(self, block_no: int, first_line_id: int) -> None:
        """Have the worker holding block `block_no` write its lines (ids from first_line_id) to the
        targets that take parallel writers, and hash them."""
        block = self._held.pop(block_no)
        self._writes.append(
            self.client.submit(_write_facts, block, first_line_id, block_no, self.writers, pure=False)
        )
        while len(self._writes) > self.window:
            self._segments += self._writes.popleft().result()

    def finish_writes(self) -> list[bytes]:
        """Wait for every worker write (the first failure is raised here): the fact table's segment
        digests, in order."""
        while self._writes:
            self._segments += self._writes.popleft().result()
        return self._segments


_MODEL: list = []  # (shared, Model): built once per worker process for the run's shared configuration


def _on_worker(fn, shared, ids: np.ndarray):
    if not _MODEL or _MODEL[0][0] is not shared:
        _MODEL[:] = [(shared, Model(*shared))]
    return fn(_MODEL[0][1], ids)


def _write_facts(facts, first_line_id: int, block_no: int, writers: list[WorkerFactWriter]) -> list[bytes]:
    batch = fact_batch(facts, first_line_id)
    for w in writers:
        w.write(batch, block_no)
    return fact_segment_digests(batch)
