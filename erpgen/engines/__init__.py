"""Engines: who makes the fact blocks, and where.

A block is a run of consecutive customer ids; what it holds depends only on the seed and those ids, so
any process can make any block and the data never depends on the engine. The loader (erpgen.load) is
written against the BlockMaker protocol below only:
- erpgen.engines.local: a pool of forked processes on this machine (and the writing process itself,
  while it would otherwise wait);
- erpgen.engines.dask: a Dask cluster, whose workers can also write the fact table to the targets that
  take parallel writers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np

from erpgen.catalog import Catalog
from erpgen.config import GenerateConfig, RunOptions
from erpgen.sinks.base import Sink


class BlockMaker(Protocol):
    cfg: GenerateConfig
    catalog: Catalog
    # whether the engine hashes the fact table itself (finish_writes returns its segment digests)
    hashes_facts: bool

    @property
    def model(self): ...  # erpgen's Model once calibrated (waits for the rates)

    def calibrated(self) -> bool:
        """Whether the rates are ready (model would not wait)."""
        ...

    def cut(self, block_size: int) -> Iterator[np.ndarray]:
        """The fact pass's blocks of customer ids, in order (the engine decides how they are cut)."""
        ...

    def attach(self, sinks: list[Sink]) -> set[int]:
        """After the sinks have begun: hand the fact table to the workers where a sink takes parallel
        writers; the indexes (into sinks) of the sinks whose fact table the workers write."""
        ...

    def map(self, fn: Callable, id_blocks: Iterator[np.ndarray]) -> Iterator:
        """fn(model, ids) for every block, in block order."""
        ...

    def write_on_worker(self, block_no: int, first_line_id: int) -> None:
        """Have block `block_no`'s lines (ids from first_line_id) written where it was made."""
        ...

    def finish_writes(self) -> list[bytes]:
        """Wait for the workers' writes: the fact table's segment digests, in order (if hashes_facts)."""
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
