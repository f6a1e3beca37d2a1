"""The local engine's block scheduling: order kept, and the writer simulating while it would wait."""

from __future__ import annotations

import os
import time

from erpgen.config import make_config
from erpgen.pipeline import _Blocks, _blocks, catalog_for

MAIN = os.getpid()


def _where(model, ids) -> tuple[int, int]:
    """A block 'made' slowly in a worker and at once here: which process made it, and its first id."""
    if os.getpid() != MAIN:
        time.sleep(0.2)
    return int(ids[0]), os.getpid()


def test_blocks_come_back_in_order_and_the_writer_makes_some():
    cfg = make_config(n_customers=12, seed=1)
    with _Blocks(cfg, catalog_for(cfg), workers=1) as blocks:
        made = list(blocks.map(_where, _blocks(12, 1)))
    assert [first for first, _ in made] == list(range(1, 13))
    makers = [pid for _, pid in made]
    assert MAIN in makers, "the writer never simulated while it waited"
    # one block at a time here, and the worker kept fed meanwhile: it makes most of them
    assert len(made) - makers.count(MAIN) >= len(made) // 2
