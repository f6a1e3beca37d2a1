"""Engines: who makes the fact blocks, and where.

A block is a run of consecutive customer ids; what it holds depends only on the seed and those ids, so
any process can make any block and the data never depends on the engine. The loader (erpgen.load) is
written against the BlockMaker protocol below only:
- erpgen.engines.local: a pool of forked processes on this machine (and the writing process itself,
  while it would otherwise wait);
- erpgen.engines.dask: a Dask cluster, whose workers also make, hash and (to the targets that take
  parallel writers) write the tables keyed by customer (schema.CUSTOMER_TABLES) where the block is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np

from erpgen.catalog import Catalog
from erpgen.config import GenerateConfig, RunOptions
from erpgen.digest import WorkerTables
from erpgen.sinks.base import Sink


class BlockMaker(Protocol):
    cfg: GenerateConfig
    catalog: Catalog
    # whether the engine makes and hashes the tables keyed by customer itself, block by block where the
    # block is (finish_writes returns their rows and segment digests); settled by attach()
    hashes_customer_tables: bool

    @property
    def model(self): ...  # erpgen's Model once calibrated (waits for the rates)

    def calibrated(self) -> bool:
        """Whether the rates are ready (model would not wait)."""
        ...

    def cut(self, block_size: int) -> Iterator[np.ndarray]:
        """The fact pass's blocks of customer ids, in order (the engine decides how they are cut)."""
        ...

    def attach(self, sinks: list[Sink]) -> set[int]:
        """After the sinks have begun: hand the tables keyed by customer to the workers where a sink takes
        parallel writers; the indexes (into sinks) of the sinks whose tables keyed by customer the workers
        write (the loader gives those sinks none of them)."""
        ...

    def map(self, fn: Callable, id_blocks: Iterator[np.ndarray]) -> Iterator:
        """fn(model, ids) for every block, in block order; or only the block's line count (an int), when
        every sink has been handed to the workers and the block stays where it was made."""
        ...

    def write_on_worker(self, block_no: int, first_line_id: int) -> None:
        """Have block `block_no`'s tables keyed by customer (line ids from first_line_id) made, hashed and
        written where the block was made."""
        ...

    def finish_writes(self) -> WorkerTables:
        """Wait for the workers' writes: what they made (empty unless hashes_customer_tables)."""
        ...


@contextlib.contextmanager
def block_maker(cfg: GenerateConfig, catalog: Catalog, options: RunOptions) -> Iterator[BlockMaker]:
    """The engine the options ask for, started (its workers exist before any sink connects)."""
    if options.engine == "dask":
        from erpgen.engines.dask import DaskBlocks, dask_client

        with dask_client(options.scheduler, options.workers) as client:
            yield DaskBlocks(client, cfg, catalog)
        return
    from erpgen.engines.local import LocalBlocks

    with LocalBlocks(cfg, catalog, options.workers) as blocks:
        yield blocks
