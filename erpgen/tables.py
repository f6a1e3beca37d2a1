"""A simulated block turned into table rows: the column batches (erpgen.sinks.base.Batch) that the sinks
and the digest take, for the fact table, the invoice headers and the two lifecycle tables.

Some columns are not simulated but derived from those that are: a fact line's invoice_id comes from its
customer_id and invoice_seq. They are made here, once per batch, for every target and the digest alike.
"""

from __future__ import annotations

import numpy as np

from erpgen.dates import day_number
from erpgen.schema import EVENTS, RATE_SCALE, SEGMENTS
from erpgen.simulation import BlockFacts, Model
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


def invoices_batch(f: BlockFacts, model: Model) -> Batch:
    """invoices: a header per invoice id of the block's lines, in (customer, invoice_id) order (a
    customer's credit notes, 'CRN-', before its invoices, 'INV-'), its total the sum of its lines.

    A block holds each invoice's lines together (an invoice, or the credit note of one invoice's returns,
    is made on one day by one customer at its home store), so a header is a run of lines: found by where
    the (customer, number, kind) changes, summed with one reduceat."""
    customer, seq, credit = f.customer_id, f.invoice_seq, np.asarray(f.is_credit, dtype=bool)
    if not len(customer):
        starts = np.zeros(0, dtype=np.int64)
    else:
        changes = (customer[1:] != customer[:-1]) | (seq[1:] != seq[:-1]) | (credit[1:] != credit[:-1])
        starts = np.flatnonzero(np.r_[True, changes])
    company = np.add.reduceat(np.asarray(f.revenue_cents, dtype=np.int64), starts) if len(starts) else starts
    order = np.lexsort((seq[starts], ~credit[starts], customer[starts]))
    first, company = starts[order], company[order]
    store = f.store_id[first].astype(np.int64)
    day = f.invoice_date[first].astype(np.int64)
    currency = model.store_currency[store]
    units = model.day_rates[currency, day - day_number(model.cfg.date_from)]
    # units of the company's currency per unit of the document's: the document's amount is company / rate
    document = np.where(
        units == 10**RATE_SCALE, company, np.rint(company * float(10**RATE_SCALE) / units).astype(np.int64)
    )
    codes = np.array(model.cfg.scenario.currencies, dtype="S3")
    return {
        "invoice_id": invoice_ids(customer[first], seq[first], credit[first]),
        "customer_id": customer[first].astype(np.int64),
        "store_id": store,
        "is_credit": credit[first].astype(np.int64),
        "invoice_date": day,
        "invoiced_at": day * SECONDS_PER_DAY + f.invoice_second[first],
        "due_on": day + model.store_payment_days[store],
        "currency_code": codes[currency],
        "total_units": document,  # NUMERIC(14, 2): units of 10^-2, cents
        "total_company_units": company,
    }


def rows_where(b: Batch, keep: np.ndarray) -> Batch:
    """The rows of a batch of numpy columns where `keep` is set."""
    return {name: np.asarray(values)[keep] for name, values in b.items()}


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
