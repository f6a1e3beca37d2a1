"""simulate_block: one block of customers through the stages, in the order the data flows."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from erpgen.rng import Draws
from erpgen.simulation.calendar import Calendar
from erpgen.simulation.documents import return_reasons
from erpgen.simulation.facts import BlockFacts
from erpgen.simulation.invoices import Invoices, invoices_and_baskets
from erpgen.simulation.lifecycle import lifecycle_events
from erpgen.simulation.lines import Lines, sale_lines
from erpgen.simulation.model import Model
from erpgen.simulation.prices import LinePrices, line_prices
from erpgen.simulation.purchase_days import History, purchase_days
from erpgen.simulation.returns import CreditNotes, credit_notes
from erpgen.simulation.times import credit_seconds, invoice_seconds
from erpgen.simulation.traits import (
    CustomerTraits,
    PurchaseHabits,
    buying_rhythm,
    customer_traits,
    purchase_habits,
)


def simulate_block(model: Model, ids: np.ndarray, draws: Draws, lines_from: int | None = None) -> BlockFacts:
    """The facts of customers `ids`. Every draw is keyed by customer, so a customer's facts are the same
    in whatever block it is simulated.

    `lines_from`: the first day whose sale lines (and their credit notes) are made. The purchase days and
    invoices before it are still simulated, as they carry each customer's history and invoice numbers on;
    only the line stages, keyed by invoice and line, skip them. An extension that reads the story so far
    writes nothing older (erpgen.extension)."""
    customers = customer_traits(model, ids, draws)
    habits = purchase_habits(model, customers, draws)
    till = model.till
    ahead = till + model.lookahead
    calendar = Calendar.spanning(int(customers.created.min(initial=till)), ahead + 1)
    history, invoices, lines, pending = _sales(model, customers, habits, calendar, ahead, draws, lines_from)
    prices = line_prices(model, customers, habits, calendar, invoices, lines, draws)
    credits = credit_notes(model, customers, invoices, lines, draws)
    events = lifecycle_events(customers, history)
    seconds = (
        invoice_seconds(model, customers, invoices, draws),
        credit_seconds(model, customers, invoices, lines, credits, draws),
    )
    channel = customers.channel[invoices.row[lines.invoice[credits.line]]]
    reasons = return_reasons(
        model.terms, draws, lines.customer[credits.line], lines.invoice_key[credits.line], channel
    )
    return BlockFacts(
        **_line_columns(customers, invoices, lines, prices, credits, seconds, reasons),
        segment=customers.segment,
        created=customers.created,
        first_purchase=history.first_purchase,
        lost=history.lost,
        event_customer=events.customer,
        event_code=events.code,
        event_day=events.day,
        pending_customer=pending.customer,
        pending_seq=pending.seq,
        pending_day=pending.day,
        pending_second=invoice_seconds(model, customers, pending, draws),
        pending_store=customers.home_store[pending.row],
    )


def _sales(
    model: Model,
    customers: CustomerTraits,
    habits: PurchaseHabits,
    calendar: Calendar,
    ahead: int,
    draws: Draws,
    lines_from: int | None,
) -> tuple[History, Invoices, Lines, Invoices]:
    """Purchase days -> invoices -> lines. The purchase days and the baskets are used up by the lines: they
    are let go when this returns, before the line stages that follow add to the block's memory.

    The purchase days run to `ahead`, model.lookahead days past the end: the invoices of those days
    (pending, without their lines) are the ones whose orders may have been placed by the end."""
    rhythm = buying_rhythm(model, customers, draws)
    purchases, history = purchase_days(model, customers, rhythm, habits, calendar, draws, ahead)
    invoices, baskets = invoices_and_baskets(model, customers, habits, purchases, draws)
    within = invoices.day <= model.till
    pending = _rows(invoices, np.flatnonzero(~within))
    kept = within if lines_from is None else within & (invoices.day >= lines_from)
    if not kept.all():
        at = np.flatnonzero(kept)
        invoices, baskets = _rows(invoices, at), _rows(baskets, at)
    lines = sale_lines(model, habits, purchases, invoices, baskets, draws)
    return history.until(model.till), invoices, lines, pending


def _rows(table, at: np.ndarray):
    """A dataclass of per-row arrays (Invoices, Baskets) at rows `at`."""
    return type(table)(*(getattr(table, f.name)[at] for f in fields(table)))


def _line_columns(
    customers: CustomerTraits,
    invoices: Invoices,
    lines: Lines,
    prices: LinePrices,
    credits: CreditNotes,
    seconds: tuple[np.ndarray, np.ndarray],
    reasons: np.ndarray,
) -> dict[str, np.ndarray]:
    """The sale lines and their credit notes as BlockFacts' line columns; `seconds`: each invoice's and
    each credit-note line's second of the day; `reasons`: each credit-note line's return reason."""
    back, n_sales = credits.line, len(lines.invoice)
    place = _Placement.of(lines.customer, back)

    def copied(sales: np.ndarray) -> np.ndarray:
        return place.column(sales, sales[back])

    return {
        "customer_id": copied(lines.customer),
        "invoice_seq": copied(invoices.seq[lines.invoice]),
        "is_credit": place.column(np.zeros(n_sales, dtype=bool), np.ones(len(back), dtype=bool)),
        "invoice_date": place.column(invoices.day[lines.invoice], credits.day),
        "invoice_second": place.column(seconds[0][lines.invoice], seconds[1]),
        "product_id": copied(lines.product),
        "quantity": place.column(lines.quantity, -credits.quantity),
        "unit_price_cents": copied(prices.unit_price),
        "revenue_cents": place.column(prices.revenue, -credits.quantity * prices.unit_price[back]),
        "store_id": copied(customers.home_store[lines.row]),
        "returned": place.column(np.full(n_sales, -1, dtype=np.int64), place.where_sales_went(back)),
        "return_reason": place.column(np.full(n_sales, -1, dtype=np.int8), reasons),
    }


@dataclass(frozen=True)
class _Placement:
    """Where each sale line and each credit note goes in the block's line columns: each customer's credit
    notes after its sales, so that line numbers never depend on the block."""

    sale_position: np.ndarray | None  # None when there are no credit notes: the sales stay as they are
    credit_position: np.ndarray | None

    @classmethod
    def of(cls, customer: np.ndarray, back: np.ndarray) -> _Placement:
        """Sale lines of `customer`, and credit notes giving back sale lines `back`."""
        if not len(back):
            return cls(None, None)
        both = np.concatenate((customer, customer[back]))
        is_credit = np.concatenate((np.zeros(len(customer), dtype=bool), np.ones(len(back), dtype=bool)))
        order = np.lexsort((np.arange(len(both)), is_credit, both))
        position = np.empty_like(order)
        position[order] = np.arange(len(order))
        return cls(position[: len(customer)], position[len(customer) :])

    def column(self, sales: np.ndarray, credit: np.ndarray) -> np.ndarray:
        if self.sale_position is None:
            return np.concatenate((sales, credit))
        # each value written once where it goes: no concatenated copy to reorder
        out = np.empty(
            len(self.sale_position) + len(self.credit_position), dtype=np.result_type(sales, credit)
        )
        out[self.sale_position] = sales
        out[self.credit_position] = credit
        return out

    def where_sales_went(self, sale: np.ndarray) -> np.ndarray:
        """Where sale lines `sale` went."""
        return sale if self.sale_position is None else self.sale_position[sale]
