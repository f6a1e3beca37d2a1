"""A simulated block turned into table rows: the column batches (erpgen.sinks.base.Batch) that the sinks
and the digest take, for the fact table and the two lifecycle tables.

Some columns are not simulated but derived from those that are: a fact line's invoice_id comes from its
customer_id and invoice_seq. They are made here, once per batch, for every target and the digest alike.
"""

from __future__ import annotations

import numpy as np

from erpgen.schema import EVENTS, SEGMENTS
from erpgen.simulation import BlockFacts
from erpgen.simulation.times import SECONDS_PER_DAY
from erpgen.sinks.base import Batch

INVOICE_ID_WIDTH = 19  # 'INV-' + 8 digits + '-' + 6 digits


def batch_invoice_ids(b: Batch) -> np.ndarray:
    """invoice_ids of a batch of fact lines, made once and kept in the batch for the other sinks and the
    digest (the key `invoice_id`)."""
    ids = b.get("invoice_id")
    if ids is None:
        ids = b["invoice_id"] = invoice_ids(b["customer_id"], b["invoice_seq"], b["is_credit"])
    return ids  # type: ignore[return-value]


def invoice_ids(
    customer_id: np.ndarray, invoice_seq: np.ndarray, is_credit: np.ndarray | None = None
) -> np.ndarray:
    """'INV-<customer_id:08d>-<seq:06d>' (credit notes: 'CRN-...') as a fixed-width bytes array, written
    digit by digit into a byte matrix rather than formatted number by number."""
    chars = np.empty((len(customer_id), INVOICE_ID_WIDTH), dtype=np.uint8)
    chars[:, :4] = np.frombuffer(b"INV-", dtype=np.uint8)
    if is_credit is not None:
        chars[np.asarray(is_credit, dtype=bool), :3] = np.frombuffer(b"CRN", dtype=np.uint8)
    chars[:, 12] = ord("-")
    for number, first, width in ((customer_id, 4, 8), (invoice_seq, 13, 6)):
        number = np.asarray(number, dtype=np.int64)
        if len(number) and (number.min() < 0 or number.max() >= 10**width):
            raise ValueError(f"an invoice number part does not fit in {width} digits")
        chars[:, first : first + width] = digits(number, width)
    return chars.view(f"S{INVOICE_ID_WIDTH}").ravel()


def digits(values: np.ndarray, width: int) -> np.ndarray:
    """Non-negative integers as `width` ASCII digits each, zero-padded on the left: a (n, width) matrix."""
    out = np.empty((len(values), width), dtype=np.uint8)
    rest = values
    for position in range(width - 1, -1, -1):
        rest, digit = np.divmod(rest, 10)
        out[:, position] = digit + ord("0")
    return out


def fact_batch(f: BlockFacts, first_line_id: int) -> dict[str, np.ndarray]:
    """The block's lines as a sales_transactions batch, line ids from first_line_id."""
    n = len(f)
    return {
        "line_id": np.arange(first_line_id, first_line_id + n, dtype=np.int64),
        "customer_id": f.customer_id,
        "invoice_seq": f.invoice_seq,
        "is_credit": f.is_credit,
        "invoice_date": f.invoice_date,
        "invoiced_at": f.invoice_date.astype(np.int64) * SECONDS_PER_DAY + f.invoice_second,
        "product_id": f.product_id,
        "quantity": f.quantity,
        "unit_price_cents": f.unit_price_cents,
        "revenue_cents": f.revenue_cents,
        "store_id": f.store_id,
        "returned_line_id": np.where(f.returned >= 0, f.returned.astype(np.int64) + first_line_id, 0),
    }


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
