"""A simulated block turned into table rows: the column batches (erpgen.sinks.base.Batch) that the sinks
and the digest take, for the fact table, the invoice headers, the order-to-cash documents (orders,
deliveries, payments: erpgen.simulation.documents places them) and the two lifecycle tables.

Some columns are not simulated but derived from those that are: a fact line's invoice_id and order_id
come from its customer_id and invoice_seq. They are made here, once per batch, for every target and the
digest alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from erpgen.dates import NO_DAY, SECONDS_PER_DAY, day_number
from erpgen.rng import Draws
from erpgen.schema import (
    EVENTS,
    ORDER_STATUSES,
    PAYMENT_METHODS,
    RATE_SCALE,
    RETURN_REASONS,
    SEGMENTS,
)
from erpgen.simulation import BlockFacts, Model
from erpgen.simulation.documents import Chain, payment_methods, refund_days, sale_chain
from erpgen.simulation.facts import ACQUIRED
from erpgen.sinks.base import Batch

_OPEN, _CANCELLED, _SHIPPED, _INVOICED, _PAID = range(len(ORDER_STATUSES))
# codes as fixed-width bytes, as ids are: every bulk path writes them without a value-by-value step
_STATUS_TEXT = np.array([s.encode() for s in ORDER_STATUSES])
_METHOD_TEXT = np.array([m.encode() for m in PAYMENT_METHODS])
# a fact line's return_reason by its code + 1: b'' (NULL) for a sale's -1
REASON_TEXT = np.array([b"", *(r.encode() for r in RETURN_REASONS)])
INVOICE_ID_WIDTH = 19  # 'INV-' + 8 digits + '-' + 6 digits
ORDER_ID_WIDTH = 19  # 'SO-' + 8 digits + '-' + 7 digits


def batch_invoice_ids(b: Batch) -> np.ndarray:
    """invoice_ids of a batch of fact lines, made once and kept in the batch for the other sinks and the
    digest (the key `invoice_id`)."""
    ids = b.get("invoice_id")
    if ids is None:
        ids = b["invoice_id"] = invoice_ids(b["customer_id"], b["invoice_seq"], b["is_credit"])
    return ids  # type: ignore[return-value]


def batch_order_ids(b: Batch) -> np.ndarray:
    """order_ids of a batch of fact lines (a credit-note line's is its sale's), kept in the batch as
    batch_invoice_ids keeps the invoice ids."""
    ids = b.get("order_id")
    if ids is None:
        ids = b["order_id"] = order_ids(b["customer_id"], 2 * np.asarray(b["invoice_seq"], dtype=np.int64))
    return ids  # type: ignore[return-value]


def batch_return_reasons(b: Batch) -> np.ndarray:
    """The return_reason of a batch of fact lines as fixed-width bytes, b'' on a sale (NULL)."""
    reasons = b.get("return_reason")
    if reasons is None:
        reasons = b["return_reason"] = REASON_TEXT[np.asarray(b["return_reason_code"], dtype=np.int64) + 1]
    return reasons  # type: ignore[return-value]


def invoice_ids(
    customer_id: np.ndarray,
    invoice_seq: np.ndarray,
    is_credit: np.ndarray | None = None,
    kinds=(b"INV", b"CRN"),
) -> np.ndarray:
    """'INV-<customer_id:08d>-<seq:06d>' (credit notes: 'CRN-...') as a fixed-width bytes array, written
    digit by digit into a byte matrix rather than formatted number by number. `kinds`: the two prefixes
    (payments: 'PAY' and 'RFD', a refund)."""
    return _numbered(kinds, customer_id, invoice_seq, is_credit, 6)


def order_ids(customer_id: np.ndarray, number: np.ndarray) -> np.ndarray:
    """'SO-<customer_id:08d>-<number:07d>': a customer's orders are numbered 2s for the order of its
    invoice s, and 2s - 1 for a cancelled order before it (erpgen.simulation.documents)."""
    return _numbered((b"SO",), customer_id, number, None, 7)


def _numbered(kinds, customer_id, number, second_kind, width: int) -> np.ndarray:
    prefix = len(kinds[0]) + 1
    total = prefix + 8 + 1 + width
    chars = np.empty((len(customer_id), total), dtype=np.uint8)
    chars[:, : prefix - 1] = np.frombuffer(kinds[0], dtype=np.uint8)
    chars[:, prefix - 1] = ord("-")
    if second_kind is not None:
        chars[np.asarray(second_kind, dtype=bool), : prefix - 1] = np.frombuffer(kinds[1], dtype=np.uint8)
    chars[:, prefix + 8] = ord("-")
    for part, first, w in ((customer_id, prefix, 8), (number, prefix + 9, width)):
        part = np.asarray(part, dtype=np.int64)
        if len(part) and (part.min() < 0 or part.max() >= 10**w):
            raise ValueError(f"a document number part does not fit in {w} digits")
        chars[:, first : first + w] = digits(part, w)
    return chars.view(f"S{total}").ravel()


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
        "return_reason_code": f.return_reason,  # -1 on sales: NULL
    }


def invoices_batch(f: BlockFacts, model: Model, since: int | None = None) -> Batch:
    """invoices: a header per invoice id of the block's lines (those dated `since` on, if given), in
    (customer, invoice_id) order (a customer's credit notes, 'CRN-', before its invoices, 'INV-'), its
    total the sum of its lines.

    A block holds each invoice's lines together (an invoice, or the credit note of one invoice's returns,
    is made on one day by one customer at its home store), so a header is a run of lines: found by where
    the (customer, number, kind) changes, summed with one reduceat. Lines of a day keep whole invoices."""
    lines = slice(None) if since is None else np.flatnonzero(f.invoice_date >= since)
    customer, seq = f.customer_id[lines], f.invoice_seq[lines]
    credit = np.asarray(f.is_credit[lines], dtype=bool)
    if not len(customer):
        starts = np.zeros(0, dtype=np.int64)
    else:
        changes = (customer[1:] != customer[:-1]) | (seq[1:] != seq[:-1]) | (credit[1:] != credit[:-1])
        starts = np.flatnonzero(np.r_[True, changes])
    revenue = np.asarray(f.revenue_cents[lines], dtype=np.int64)
    company = np.add.reduceat(revenue, starts) if len(starts) else starts
    order = np.lexsort((seq[starts], ~credit[starts], customer[starts]))
    first, company = starts[order], company[order]
    at = first if since is None else lines[first]  # in the block's lines
    store = f.store_id[at].astype(np.int64)
    day = f.invoice_date[at].astype(np.int64)
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
        "invoiced_at": day * SECONDS_PER_DAY + f.invoice_second[at],
        "due_on": day + model.store_payment_days[store],
        "currency_code": codes[currency],
        "total_units": document,  # NUMERIC(14, 2): units of 10^-2, cents
        "total_company_units": company,
        "order_id": order_ids(customer[first], 2 * seq[first].astype(np.int64)),
        "invoice_seq": seq[first].astype(np.int64),  # not a column: what DocumentChains keys draws by
    }


@dataclass(frozen=True)
class DocumentChains:
    """What a block's documents are, whatever the end they are seen from (DocumentChains.at): the chain of
    each sale invoice and pending invoice (the headers' sales first), and each credit note's refund."""

    headers: Batch
    customer: np.ndarray
    seq: np.ndarray
    store: np.ndarray
    invoiced_at: np.ndarray
    currency: np.ndarray  # the document currency's code
    chain: Chain
    n_sales: int  # the first n_sales rows are the headers' sales, the others pending
    refund_on: np.ndarray  # per credit note of the headers
    refund_method: np.ndarray

    @classmethod
    def of(cls, f: BlockFacts, model: Model, headers: Batch) -> DocumentChains:
        """From the block's invoice headers (invoices_batch) and its pending invoices."""
        credit = np.asarray(headers["is_credit"], dtype=bool)
        sale = ~credit

        def sales_then_pending(column: str, pending: np.ndarray) -> np.ndarray:
            return np.concatenate((np.asarray(headers[column])[sale], pending)).astype(np.int64)

        customer = sales_then_pending("customer_id", f.pending_customer)
        seq = sales_then_pending("invoice_seq", f.pending_seq)
        store = sales_then_pending("store_id", f.pending_store)
        invoiced_at = sales_then_pending(
            "invoiced_at", f.pending_day.astype(np.int64) * SECONDS_PER_DAY + f.pending_second
        )
        draws = Draws(model.cfg.seed)
        created_of = _created_of(f)
        chain = sale_chain(
            model.terms, draws, customer, seq, model.store_channel[store], model.store_abroad[store],
            invoiced_at // SECONDS_PER_DAY, invoiced_at % SECONDS_PER_DAY, created_of(customer),
        )  # fmt: skip
        c_customer = np.asarray(headers["customer_id"])[credit].astype(np.int64)
        c_seq = np.asarray(headers["invoice_seq"])[credit].astype(np.int64)
        c_channel = model.store_channel[np.asarray(headers["store_id"])[credit].astype(np.int64)]
        return cls(
            headers=headers,
            customer=customer,
            seq=seq,
            store=store,
            invoiced_at=invoiced_at,
            currency=np.array(model.cfg.scenario.currencies, dtype="S3")[model.store_currency[store]],
            chain=chain,
            n_sales=int(sale.sum()),
            refund_on=refund_days(
                model.terms, draws, c_customer, c_seq, c_channel, np.asarray(headers["invoice_date"])[credit]
            ),
            refund_method=payment_methods(model.terms, draws, c_customer, c_seq, c_channel),
        )

    def at(self, till: int, till_moment: int) -> dict[str, Batch]:
        """sales_orders, deliveries and payments as they stand at the end of the data (day `till`, up to
        the moment `till_moment`). Rows in (customer, id) order, as the headers."""
        customer, seq, store, chain = self.customer, self.seq, self.store, self.chain
        invoiced = self.invoiced_at <= till_moment  # the pending ones are not, nor a live day's later ones
        # the orders placed by the end: each invoice's, and a cancelled one before it
        placed = chain.ordered_at <= till_moment
        status = np.where(
            invoiced,
            np.where(chain.paid_on <= till, _PAID, _INVOICED),
            np.where(chain.shipped_on <= till, _SHIPPED, _OPEN),
        )
        gone = chain.cancelled & (chain.cancelled_ordered_at <= till_moment)
        cancelled_by_end = chain.cancelled_on <= till
        ordered_at = np.concatenate((chain.ordered_at[placed], chain.cancelled_ordered_at[gone]))
        order_rows = {
            "customer_id": np.concatenate((customer[placed], customer[gone])),
            "number": np.concatenate((2 * seq[placed], 2 * seq[gone] - 1)),
            "store_id": np.concatenate((store[placed], store[gone])),
            "order_date": ordered_at // SECONDS_PER_DAY,
            "ordered_at": ordered_at,
            "currency_code": np.concatenate((self.currency[placed], self.currency[gone])),
            "status_code": np.concatenate(
                (status[placed], np.where(cancelled_by_end[gone], _CANCELLED, _OPEN))
            ),
            "cancelled_on": np.concatenate(
                (
                    np.full(int(placed.sum()), NO_DAY, dtype=np.int64),
                    np.where(cancelled_by_end[gone], chain.cancelled_on[gone], NO_DAY),
                )
            ),
        }
        order = np.lexsort((order_rows["number"], order_rows["customer_id"]))
        order_rows = {name: v[order] for name, v in order_rows.items()}
        number, status_code = order_rows.pop("number"), order_rows.pop("status_code")
        orders = {
            "order_id": order_ids(order_rows["customer_id"], number),
            **order_rows,
            "status": _STATUS_TEXT[status_code],
        }
        shipped = np.flatnonzero(placed & (chain.shipped_on <= till))
        shipped = shipped[np.lexsort((seq[shipped], customer[shipped]))]
        deliveries = {
            "order_id": order_ids(customer[shipped], 2 * seq[shipped]),
            "customer_id": customer[shipped],
            "shipped_on": chain.shipped_on[shipped],
            "promised_on": chain.promised_on[shipped],
            "delivered_on": np.where(
                chain.delivered_on[shipped] <= till, chain.delivered_on[shipped], NO_DAY
            ),
        }
        return {
            "sales_orders": orders,
            "deliveries": deliveries,
            "payments": self._payments(till, till_moment),
        }

    def _payments(self, till: int, till_moment: int) -> Batch:
        """Each invoice's payment made by the end, each credit note's refund."""
        h, n = self.headers, self.n_sales
        credit = np.asarray(h["is_credit"], dtype=bool)
        paid = (self.invoiced_at[:n] <= till_moment) & (self.chain.paid_on[:n] <= till)
        # refunded by the end, of a credit note made by then (a live day's later ones are not)
        refunded = (self.refund_on <= till) & (np.asarray(h["invoiced_at"])[credit] <= till_moment)
        kind = np.concatenate(
            (np.zeros(int(paid.sum()), dtype=bool), np.ones(int(refunded.sum()), dtype=bool))
        )
        customer = np.concatenate((self.customer[:n][paid], np.asarray(h["customer_id"])[credit][refunded]))
        seq = np.concatenate((self.seq[:n][paid], np.asarray(h["invoice_seq"])[credit][refunded]))
        order = np.lexsort((seq, kind, customer))

        def both(sales: np.ndarray, credits: np.ndarray) -> np.ndarray:
            return np.concatenate((sales[:n][paid], credits[refunded]))[order]

        ids, total, codes = (np.asarray(h[c]) for c in ("invoice_id", "total_units", "currency_code"))
        return {
            "payment_id": invoice_ids(customer[order], seq[order], kind[order], kinds=(b"PAY", b"RFD")),
            "invoice_id": np.concatenate((ids[~credit][paid], ids[credit][refunded]))[order],
            "customer_id": customer[order],
            "paid_on": both(self.chain.paid_on, self.refund_on),
            "method": _METHOD_TEXT[both(self.chain.method, self.refund_method)],
            "currency_code": both(self.currency, codes[credit]),
            "amount_units": np.concatenate((total[~credit][paid], total[credit][refunded]))[order],
        }


def _created_of(f: BlockFacts):
    """customer id -> the day it was created, for the block's customers (its ACQUIRED events, one each, in
    customer order)."""
    acquired = f.event_code == ACQUIRED
    ids, days = f.event_customer[acquired].astype(np.int64), f.event_day[acquired].astype(np.int64)
    return lambda customer: days[np.searchsorted(ids, customer)]


# what header_batches makes, parents first (the order they are written in)
HEADER_TABLES = ("sales_orders", "invoices", "deliveries", "payments")


def header_batches(f: BlockFacts, model: Model, till_moment: int | None = None) -> dict[str, Batch]:
    """The block's invoice headers and its order-to-cash documents, as they stand at the end of the model's
    last day (or at `till_moment`, within it)."""
    headers = invoices_batch(f, model)
    till = model.till
    moment = (till + 1) * SECONDS_PER_DAY - 1 if till_moment is None else till_moment
    documents = DocumentChains.of(f, model, headers).at(till, moment)
    return {table: headers if table == "invoices" else documents[table] for table in HEADER_TABLES}


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
