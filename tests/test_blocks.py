"""The local engine's block scheduling: order kept, and the writer simulating while it would wait."""

from __future__ import annotations

import os
import time

from erpgen.config import make_config
from erpgen.engines.local import LocalBlocks
from erpgen.masters import catalog_for
from erpgen.simulation.plan import blocks as count_blocks

MAIN = os.getpid()


def _where(model, ids) -> tuple[int, int]:
    """A block 'made' slowly in a worker and at once here: which process made it, and its first id."""
    if os.getpid() != MAIN:
        time.sleep(0.2)
    return int(ids[0]), os.getpid()


def test_blocks_come_back_in_order_and_the_writer_makes_some():
    cfg = make_config(n_customers=12, seed=1)
    with LocalBlocks(cfg, catalog_for(cfg), workers=1) as blocks:
        made = list(blocks.map(_where, count_blocks(12, 1)))
    assert [first for first, _ in made] == list(range(1, 13))
    makers = [pid for _, pid in made]
    assert MAIN in makers, "the writer never simulated while it waited"
    # one block at a time here, and the worker kept fed meanwhile: it makes most of them
    assert len(made) - makers.count(MAIN) >= len(made) // 2


def test_the_writer_leaves_the_simulation_to_the_workers_when_told():
    # PostgreSQL's writer: the server does the heavy part, a block simulated here would only add memory
    cfg = make_config(n_customers=6, seed=1)
    with LocalBlocks(cfg, catalog_for(cfg), workers=1) as blocks:
        blocks.writer_simulates = False  # what attach() sets when every sink offloads its writing
        made = list(blocks.map(_where, count_blocks(6, 1)))
    assert [first for first, _ in made] == list(range(1, 7))
    assert MAIN not in [pid for _, pid in made], "the writer simulated although told not to"


def _started(model, ids, marker):
    """A block that leaves a file behind as soon as a worker starts on it."""
    open(marker, "w").close()
    return int(ids[0])


def test_the_workers_start_on_the_first_blocks_when_map_is_called(tmp_path):
    import functools

    marker = tmp_path / "started"
    cfg = make_config(n_customers=3, seed=1)
    with LocalBlocks(cfg, catalog_for(cfg), workers=1) as blocks:
        made = blocks.map(functools.partial(_started, marker=str(marker)), count_blocks(3, 1))
        deadline = time.monotonic() + 10
        while not marker.exists() and time.monotonic() < deadline:  # nothing asked for a block yet
            time.sleep(0.01)
        assert marker.exists(), "no worker started before the first block was asked for"
        assert list(made) == [1, 2, 3]


def test_even_blocks_cover_every_customer_once_in_order():
    import datetime as dt

    import numpy as np

    from erpgen.simulation import Rates
    from erpgen.simulation.plan import even_blocks

    rates = Rates(p_one_time=0.2, loss_scale=1.3)
    for n, first_year, size in (
        (50_000, 2015, 25_000),
        (300_000, 2011, 25_000),
        (7, 2025, 25_000),
        (1000, 2024, 1),
    ):
        cfg = make_config(n_customers=n, date_from=dt.date(first_year, 1, 1), date_till=dt.date(2025, 12, 31))
        blocks = list(even_blocks(cfg, rates, size))
        assert np.array_equal(np.concatenate(blocks), np.arange(1, n + 1))
        assert all(1 <= len(b) <= 2 * size for b in blocks)
    # older customers buy longer: the first blocks of a long history are the smaller ones
    cfg = make_config(n_customers=300_000, date_from=dt.date(2011, 1, 1), date_till=dt.date(2025, 12, 31))
    sizes = [len(b) for b in even_blocks(cfg, rates, 25_000)]
    assert sizes[0] < 25_000 < sizes[-2]


def test_finished_blocks_wait_in_scratch_files_that_are_gone_afterwards():
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    # a folder left by a killed run: its process is gone
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = Path(tempfile.gettempdir(), f"erpgen-blocks-{int(dead.stdout)}.partial")
    (stale / "run").mkdir(parents=True, exist_ok=True)
    (stale / "run" / "1.pickle").write_bytes(b"left behind")
    cfg = make_config(n_customers=6, seed=1)
    with LocalBlocks(cfg, catalog_for(cfg), workers=1) as blocks:
        assert not stale.exists()
        scratch = Path(blocks.scratch)
        made = blocks.map(_where, count_blocks(6, 1))
        assert next(made)[0] == 1
        time.sleep(0.5)  # the worker finishes the next block meanwhile: it waits on disk
        assert list(scratch.glob("*.pickle")), "no finished block waited in a scratch file"
        assert [first for first, _ in made] == [2, 3, 4, 5, 6]
        assert not list(scratch.glob("*.pickle"))  # each read back once, then deleted
    assert not scratch.exists() and not scratch.parent.exists()


class _OneAtATime:
    """Fact blocks made in this process, in order, like the writer's own: before making each one it
    notes whether the block before is still referenced anywhere (it should be gone by then)."""

    hashes_customer_tables = False

    def __init__(self, cfg):
        from erpgen.simulation import Model, Rates

        self.cfg, self.catalog = cfg, catalog_for(cfg)
        self.model = Model(cfg, self.catalog, Rates(p_one_time=0.3))
        self.still_held: list[int] = []  # the first customers of blocks made while the previous one lived
        self.made = 0

    def calibrated(self) -> bool:
        return True

    def cut(self, block_size):
        return count_blocks(self.cfg.n_customers, block_size)

    def attach(self, sinks):
        return set()

    def map(self, fn, id_blocks):
        import weakref

        previous = None
        for ids in id_blocks:
            if previous is not None and previous() is not None:
                self.still_held.append(int(ids[0]))
            block = fn(self.model, ids)
            previous = weakref.ref(block)
            self.made += 1
            yield block
            del block

    def write_on_worker(self, block_no: int, first_line_id: int) -> None:
        pass

    def finish_writes(self):
        from erpgen.digest import WorkerTables

        return WorkerTables()


def test_the_writer_lets_go_of_a_written_block_before_the_next_is_made(tmp_path):
    """The writer may simulate the next block itself: the one it has just written must be free by then,
    or its memory adds to the simulation's (zip's cached tuple once kept it: 21 MiB more at 300k)."""
    from erpgen.config import make_options
    from erpgen.load import load
    from erpgen.sinks import csv_sink

    cfg = make_config(n_customers=40, seed=1)
    blocks, sink = _OneAtATime(cfg), csv_sink(tmp_path)
    sink.begin()
    load(
        blocks,
        [sink],
        make_options(cfg, no_database=True, csv_dir=str(tmp_path), block_size=10, batch_size=1000),
    )
    sink.commit()
    assert blocks.made == 4
    assert blocks.still_held == [], f"blocks made while the one before was still held: {blocks.still_held}"
    assert (tmp_path / "sales_transactions.csv").stat().st_size > 0
