"""The local engine: fact blocks made by a pool of forked processes, and by the writing process itself
while it would otherwise wait, handed out in order.

At most one block per worker, one queued for them and one made here are in flight, which bounds memory
whatever the dataset size; a finished block waits for its turn in a scratch file, not in memory, so the
writing process holds only the block being written and the one it may be simulating. The pool also
calibrates the rates (erpgen.calibrate), and starts on the first fact blocks, while the writing process
loads the customers; `model` waits for the rates.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import shutil
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed

import numpy as np

from erpgen import scratch
from erpgen.calibrate import calibrate
from erpgen.catalog import Catalog
from erpgen.config import GenerateConfig
from erpgen.digest import WorkerTables
from erpgen.simulation import Model, Rates
from erpgen.simulation.plan import even_blocks
from erpgen.sinks.base import Sink


class LocalBlocks:
    """The BlockMaker of erpgen.engines on this machine's processes."""

    hashes_customer_tables = False  # the loader hashes every row itself

    def __init__(
        self, cfg: GenerateConfig, catalog: Catalog, workers: int, *, rates: Rates | None = None, horizon=None
    ):
        """rates: a run's calibrated rates when known (erpgen extend); horizon: Model.horizon."""
        self.cfg, self.catalog, self.workers = cfg, catalog, workers
        self.known_rates, self.horizon = rates, horizon
        self.pool: ProcessPoolExecutor | None = None
        self._model: Model | None = None
        # Whether the writing process simulates blocks too while it waits. Not where every target hands
        # the heavy part of the writing to another process (a database server): the writer then only
        # encodes, and a block it simulated would add its memory to the writer's for no gain in speed.
        self.writer_simulates = True

    def __enter__(self) -> LocalBlocks:
        self.scratch = scratch.run_directory("erpgen-blocks")
        # Forked before any sink opens a connection, so no child inherits a database socket.
        self.pool = ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("fork"), initializer=_worker_init,
            initargs=(self.cfg, self.catalog, self.scratch, self.horizon),
        )  # fmt: skip
        if self.known_rates is None:
            self.rates = self.pool.submit(_worker_calibrate)
        else:
            self.rates = Future()
            self.rates.set_result(self.known_rates)
        for f in [self.pool.submit(_worker_ready) for _ in range(self.workers - 1)]:
            f.result()  # start every worker now, before connections exist
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
        shutil.rmtree(self.scratch, ignore_errors=True)
        scratch.remove_if_empty(os.path.dirname(self.scratch))

    @property
    def model(self) -> Model:
        if self._model is None:
            self._model = Model(self.cfg, self.catalog, self.rates.result(), horizon=self.horizon)
        return self._model

    def calibrated(self) -> bool:
        return self.rates.done()

    def cut(self, block_size: int) -> Iterator[np.ndarray]:
        return even_blocks(self.cfg, self.model.rates, block_size)

    def attach(self, sinks: list[Sink]) -> set[int]:
        self.writer_simulates = not all(s.offloads_writing for s in sinks)
        return set()  # every sink writes in this process

    def map(self, fn: Callable, id_blocks: Iterator[np.ndarray]) -> Iterator:
        """fn(model, ids) for every block, in order. The workers start on the first blocks when map is
        called (after the calibration), not when the first block is asked for. Each worker holds one block
        at a time; when the next block to yield is not ready, this process makes a later one itself
        rather than wait (one at a time, after queueing one more for the workers if two are left, so
        that they do not run dry meanwhile), unless `writer_simulates` is off."""
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

    def as_done(self, fn: Callable, id_blocks: Iterator[np.ndarray]) -> Iterator[tuple[np.ndarray, object]]:
        """fn(model, ids) for every block, each with its ids as soon as it is made, in whatever order (an
        extension numbers its lines itself): no block waits for an earlier one, and this process makes the
        next block itself whenever none is done (unless `writer_simulates` is off), rather than wait."""
        model = self.model
        pending = iter(id_blocks)
        in_pool: dict[Future, np.ndarray] = {}

        def to_pool(held: int) -> None:
            while len(in_pool) < held and (ids := next(pending, None)) is not None:
                in_pool[self.pool.submit(_in_worker, fn, model.rates, ids)] = ids

        def as_they_come() -> Iterator[tuple[np.ndarray, object]]:
            while in_pool:
                done = [future for future in in_pool if future.done()]
                if not done and self.writer_simulates:
                    # one more queued for the workers first: they do not run dry meanwhile
                    to_pool(self.workers + 1)
                    if (ids := next(pending, None)) is not None:
                        yield ids, fn(model, ids)
                        continue
                if not done:
                    done = [next(as_completed(in_pool))]
                for future in done:
                    ids = in_pool.pop(future)
                    block = _unspilled(future.result())
                    to_pool(self.workers)  # before the caller writes this block
                    yield ids, block

        to_pool(self.workers)  # the workers start now, not when the first block is asked for
        return as_they_come()

    def write_on_worker(self, block_no: int, first_line_id: int) -> None:
        """Nothing to do: every sink writes in this process."""

    def finish_writes(self) -> WorkerTables:
        return WorkerTables()


_WORKER: dict = {}


def _worker_init(cfg: GenerateConfig, catalog: Catalog, scratch_dir: str, horizon=None) -> None:
    _die_with_parent()
    _leave_signals_to_parent()
    _WORKER.update(cfg=cfg, catalog=catalog, model=None, scratch=scratch_dir, horizon=horizon)


def _die_with_parent() -> None:
    """A worker outlives a writing process killed with SIGKILL (nothing runs to shut the pool down), and
    would wait for work forever: on Linux, ask the kernel to end it when its parent goes."""
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    PR_SET_PDEATHSIG = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent went before the request was in place
        os._exit(0)


def _leave_signals_to_parent() -> None:
    """Ctrl-C at a terminal, and `timeout` or a service manager stopping erpgen, signal the whole process
    group: the writing process unwinds the run and shuts the pool down, while a worker would only die
    mid-block and print its traceback."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _worker_ready() -> bool:
    return True


def _worker_calibrate():
    return calibrate(_WORKER["cfg"], _WORKER["catalog"])


def _in_worker(fn, rates, ids: np.ndarray) -> str:
    model = _WORKER["model"]
    if model is None or model.rates != rates:
        model = _WORKER["model"] = Model(
            _WORKER["cfg"], _WORKER["catalog"], rates, horizon=_WORKER["horizon"]
        )
    return _spilled(fn(model, ids), _WORKER["scratch"], ids)


def _spilled(block, scratch_dir: str, ids: np.ndarray) -> str:
    """The block pickled into a scratch file named after its first customer: its path."""
    path = os.path.join(scratch_dir, f"{int(ids[0]) if len(ids) else 0}.pickle")
    with open(path, "wb") as f:
        pickle.dump(block, f, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def _unspilled(path: str):
    with open(path, "rb") as f:
        block = pickle.load(f)
    os.unlink(path)
    return block
