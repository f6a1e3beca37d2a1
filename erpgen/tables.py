"""A simulated block turned into table rows: the column batches (erpgen.sinks.base.Batch) that the
sinks write, for the fact table and the two lifecycle tables."""

from __future__ import annotations

import numpy as np

from erpgen.behaviour import fact_batch  # noqa: F401  (provisional, moves here with the simulation split)
from erpgen.schema import EVENTS, SEGMENTS
from erpgen.simulation import BlockFacts
from erpgen.sinks.base import Batch


def lifecycle_batch(ids: np.ndarray, f: BlockFacts) -> Batch:
    """customer_lifecycle: one row per customer of the block."""
    return {
        "customer_id": ids.astype(np.int64),
        "segment": [SEGMENTS[s] for s in f.segment.tolist()],
        "acquired_on": f.created.astype(np.int64),
        "first_purchase_on": f.first_purchase.astype(np.int64),
        "lost_on": f.lost.astype(np.int64),
    }


def events_batch(f: BlockFacts) -> Batch:
    """lifecycle_events: each customer's events numbered from 1, in the order the simulation made them."""
    cust = f.event_customer.astype(np.int64)
    starts = np.flatnonzero(np.r_[True, cust[1:] != cust[:-1]]) if len(cust) else np.zeros(0, dtype=np.int64)
    first_of = np.repeat(starts, np.diff(np.r_[starts, len(cust)]))
    return {
        "customer_id": cust,
        "event_no": np.arange(len(cust), dtype=np.int64) - first_of + 1,
        "event": [EVENTS[c] for c in f.event_code.tolist()],
        "event_date": f.event_day.astype(np.int64),
    }
