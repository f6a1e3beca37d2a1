"""A block's output (BlockFacts), the codes it carries, and the narrower forms a run keeps it in."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ONE_TIME, LOYAL, OCCASIONAL, B2B = range(4)  # segments: indexes into schema.SEGMENTS
ACQUIRED, FIRST_PURCHASE, DORMANT, REACTIVATED, LOST = range(5)  # lifecycle events: schema.EVENTS


@dataclass
class BlockFacts:
    """One block's output, in (customer, invoice, line) order; each customer's credit notes after its sales.

    Dates are days since 1970-01-01. `returned` is the block-local index of the line a return line
    gives back (-1 for sales).
    """

    customer_id: np.ndarray
    invoice_seq: np.ndarray
    is_credit: np.ndarray
    invoice_date: np.ndarray
    invoice_second: np.ndarray  # the second of the day it was made (0..86399)
    product_id: np.ndarray
    quantity: np.ndarray
    unit_price_cents: np.ndarray
    revenue_cents: np.ndarray
    store_id: np.ndarray
    returned: np.ndarray
    return_reason: np.ndarray  # a credit-note line's: an index into schema.RETURN_REASONS (-1 on sales)
    # per customer of the block
    segment: np.ndarray
    created: np.ndarray
    first_purchase: np.ndarray  # dates.NO_DAY: never bought
    lost: np.ndarray  # dates.NO_DAY: not lost within the range
    # lifecycle events, sorted by (customer, day, event)
    event_customer: np.ndarray
    event_code: np.ndarray
    event_day: np.ndarray
    # the sale invoices of the days after the end that the simulation looked ahead to (Model.lookahead),
    # without their lines: their orders may have been placed by the end (erpgen.simulation.documents)
    pending_customer: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    pending_seq: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    pending_day: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    pending_second: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    pending_store: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # a block without its lines (what the lifecycle tables need) keeps their count here
    lines: int | None = None

    def __len__(self) -> int:
        return len(self.customer_id)


# line columns that fit in 32 bits: customer ids (up to config.MAX_CUSTOMERS), invoice numbers, days, seconds,
# product and store ids, and `returned` (an index within the block); quantities and money stay 64-bit,
# as the sinks compute with them
_NARROW = (
    "customer_id",
    "invoice_seq",
    "invoice_date",
    "invoice_second",
    "product_id",
    "store_id",
    "returned",
)


def compact(f: BlockFacts) -> BlockFacts:
    """The block with its narrowable line columns as int32: a third less memory for every block a
    process holds and for every block sent from a worker (the values are the same)."""
    for name in _NARROW:
        setattr(f, name, getattr(f, name).astype(np.int32))
    return f


def lifecycle_only(f: BlockFacts) -> BlockFacts:
    """The block without its lines: what the lifecycle tables need, in the narrowest integer types."""
    empty = np.zeros(0, dtype=np.int8)
    return BlockFacts(
        *(empty,) * 12,
        segment=f.segment.astype(np.int8),
        created=f.created.astype(np.int32),
        first_purchase=f.first_purchase.astype(np.int32),
        lost=f.lost.astype(np.int32),
        event_customer=f.event_customer.astype(np.int32),
        event_code=f.event_code.astype(np.int8),
        event_day=f.event_day.astype(np.int32),
        lines=len(f),
    )
