"""Stage 8, the order-to-cash chain: what happened around each invoice, from the order to the payment.

The invoice is the fixed point: its day is the simulated purchase day, and the rest is placed around it
by the channel's terms (scenario.Channel), with draws keyed by (customer, invoice number):
- the order comes before the goods leave (order_lead_days); at a shop's counter, at the invoice's moment;
- the goods leave on the invoice's day, or, when the channel invoices on delivery, transit days before;
  they are promised for shipping + the longest transit (more abroad: where the customer pays in another
  currency than the company) and arrive within it, or 1..late_days after it for a late_share of them;
- a cancel_share of all orders is cancelled before shipping: a cancelled order comes before the order
  that was invoiced (the customer ordered again);
- without payment terms the money comes at the invoice (cash or card); with terms, around the due date
  (payment_spread_days), a late_payment_share of invoices later; a credit note is refunded refund_days on.

Where each document stands at the end of the data (OPEN, SHIPPED, INVOICED, PAID, CANCELLED, a delivery
on its way) is `statuses`: what a later end changes is what an extension updates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from erpgen.dates import SECONDS_PER_DAY
from erpgen.rng import Draws, Stream, normal_of
from erpgen.schema import PAYMENT_METHODS, RETURN_REASONS

CANCEL_GAP_DAYS = 7.0  # a cancelled order was placed up to this long before the order that replaced it
_CANCEL_AFTER_DAYS = 2.0  # and cancelled within this long
CARD, CASH, TRANSFER = (PAYMENT_METHODS.index(m) for m in ("CARD", "CASH", "TRANSFER"))
# the b of Stream.ORDER's draws (a = the invoice number)
_LEAD, _TRANSIT, _LATE, _LATE_DAYS, _CANCEL, _CANCEL_GAP, _CANCEL_AFTER, _PAY, _PAY_LATE, _PAY_LATE_DAYS = (
    range(10)
)
_CASH, _REFUND, _SPREAD = 10, 11, 12  # _SPREAD and _SPREAD + 128: a normal's two uniforms

# why goods come back, by weight; a shop's customer takes them home, so nothing arrives late there
_REASON_WEIGHTS = {
    "NO_LONGER_NEEDED": 0.34, "NOT_AS_DESCRIBED": 0.20, "DEFECTIVE": 0.15, "DAMAGED": 0.12,
    "WRONG_ITEM": 0.09, "ARRIVED_LATE": 0.10,
}  # fmt: skip
assert tuple(_REASON_WEIGHTS) == RETURN_REASONS


@dataclass(frozen=True)
class Terms:
    """The channels' order-to-cash terms as arrays indexed by channel (the scenario's order)."""

    lead_lo: np.ndarray
    lead_hi: np.ndarray
    transit_lo: np.ndarray
    transit_hi: np.ndarray
    abroad: np.ndarray
    late_share: np.ndarray
    late_days: np.ndarray
    on_delivery: np.ndarray
    cancel_odds: np.ndarray  # cancelled orders per invoiced one: cancel_share / (1 - cancel_share)
    payment_days: np.ndarray
    spread: np.ndarray
    late_pay_share: np.ndarray
    late_pay_days: np.ndarray
    cash_share: np.ndarray
    refund_lo: np.ndarray
    refund_hi: np.ndarray
    reason_cdf: np.ndarray  # [channel, reason]

    @classmethod
    def of(cls, channels: dict) -> Terms:
        cs = list(channels.values())

        def a(get, dtype=np.float64) -> np.ndarray:
            return np.array([get(c) for c in cs], dtype=dtype)

        weights = np.array(
            [[w if (r != "ARRIVED_LATE" or c.transit_days[1] > 0) else 0.0 for r, w in _REASON_WEIGHTS.items()]
             for c in cs]
        )  # fmt: skip
        return cls(
            lead_lo=a(lambda c: c.order_lead_days[0]),
            lead_hi=a(lambda c: c.order_lead_days[1]),
            transit_lo=a(lambda c: c.transit_days[0], np.int64),
            transit_hi=a(lambda c: c.transit_days[1], np.int64),
            abroad=a(lambda c: c.abroad_days, np.int64),
            late_share=a(lambda c: c.late_share),
            late_days=a(lambda c: c.late_days, np.int64),
            on_delivery=a(lambda c: c.invoice_on == "DELIVERY", bool),
            cancel_odds=a(lambda c: min(1.0, c.cancel_share / max(1e-9, 1.0 - c.cancel_share))),
            payment_days=a(lambda c: c.payment_days, np.int64),
            spread=a(lambda c: c.payment_spread_days),
            late_pay_share=a(lambda c: c.late_payment_share),
            late_pay_days=a(lambda c: c.late_payment_days, np.int64),
            cash_share=a(lambda c: c.cash_share),
            refund_lo=a(lambda c: c.refund_days[0], np.int64),
            refund_hi=a(lambda c: c.refund_days[1], np.int64),
            reason_cdf=np.cumsum(weights, axis=1) / weights.sum(axis=1, keepdims=True),
        )

    def lookahead(self) -> int:
        """How many days after an order its invoice may come at most: the simulation looks that far past
        the end of the data for the orders placed by then and invoiced later."""
        late = np.where(self.late_share > 0, self.late_days, 0)
        delivery = np.where(self.on_delivery, self.transit_hi + self.abroad + late, 0)
        return int(math.ceil(float(np.max(self.lead_hi + delivery, initial=0.0)) + CANCEL_GAP_DAYS)) + 1


@dataclass(frozen=True)
class Chain:
    """The documents around sale invoices, one row per invoice (all dates day numbers, moments seconds)."""

    ordered_at: np.ndarray
    shipped_on: np.ndarray
    promised_on: np.ndarray
    delivered_on: np.ndarray
    paid_on: np.ndarray
    method: np.ndarray  # an index into schema.PAYMENT_METHODS
    cancelled: np.ndarray  # a cancelled order came before this one
    cancelled_ordered_at: np.ndarray  # its moment (where `cancelled`)
    cancelled_on: np.ndarray  # its day


def sale_chain(
    terms: Terms,
    draws: Draws,
    customer: np.ndarray,
    seq: np.ndarray,
    channel: np.ndarray,
    abroad: np.ndarray,
    day: np.ndarray,
    second: np.ndarray,
    created: np.ndarray,
) -> Chain:
    """The order, delivery and payment of sale invoices (customer, number seq) made on `day` at `second`
    in `channel`; `abroad`: the customer pays in another currency than the company's. Nothing comes
    before the day the customer was `created` (its first order is placed on that day at the earliest)."""
    day = np.asarray(day, dtype=np.int64)
    floor = np.asarray(created, dtype=np.int64) * SECONDS_PER_DAY

    def u(b: int) -> np.ndarray:
        return draws.uniform(Stream.ORDER, customer, seq, b)

    far = np.where(abroad, terms.abroad[channel], 0)
    lo, hi = terms.transit_lo[channel] + far, terms.transit_hi[channel] + far
    transit = lo + np.minimum((u(_TRANSIT) * (hi - lo + 1)).astype(np.int64), hi - lo)
    late = u(_LATE) < terms.late_share[channel]
    extra = 1 + (u(_LATE_DAYS) * np.maximum(terms.late_days[channel], 1)).astype(np.int64)
    on_the_way = np.where(late, hi + extra, transit)  # shipping to delivery
    on_delivery = terms.on_delivery[channel]
    shipped = np.maximum(np.where(on_delivery, day - on_the_way, day), created)
    lead = terms.lead_lo[channel] + u(_LEAD) * (terms.lead_hi[channel] - terms.lead_lo[channel])
    invoiced_at = day * SECONDS_PER_DAY + second
    shipped_at = invoiced_at - np.where(on_delivery, on_the_way, 0) * SECONDS_PER_DAY
    ordered_at = np.maximum(shipped_at - np.rint(lead * SECONDS_PER_DAY).astype(np.int64), floor)
    cancelled = u(_CANCEL) < terms.cancel_odds[channel]
    cancelled_ordered_at = np.maximum(
        ordered_at
        - np.rint((0.2 + u(_CANCEL_GAP) * (CANCEL_GAP_DAYS - 0.2)) * SECONDS_PER_DAY).astype(np.int64),
        floor,
    )
    cancelled_on = (cancelled_ordered_at + np.rint(u(_CANCEL_AFTER) * _CANCEL_AFTER_DAYS * SECONDS_PER_DAY)
                    .astype(np.int64)) // SECONDS_PER_DAY  # fmt: skip
    terms_days = terms.payment_days[channel]
    # cut at 4 sd, so that every invoice is paid within PAYMENT_DAYS_MAX
    z = np.clip(normal_of(u(_SPREAD), u(_SPREAD + 128)), -4.0, 4.0)
    spread = np.rint(z * terms.spread[channel]).astype(np.int64)
    pay_late = np.where(
        u(_PAY_LATE) < terms.late_pay_share[channel],
        1 + (u(_PAY_LATE_DAYS) * np.maximum(terms.late_pay_days[channel], 1)).astype(np.int64),
        0,
    )
    paid = np.where(terms_days > 0, np.maximum(day, day + terms_days + spread + pay_late), day)
    method = payment_methods(terms, draws, customer, seq, channel)
    return Chain(
        ordered_at=ordered_at,
        shipped_on=shipped,
        promised_on=shipped + hi,
        delivered_on=np.maximum(shipped, np.where(on_delivery, day, day + on_the_way)),
        paid_on=paid,
        method=method,
        cancelled=cancelled,
        cancelled_ordered_at=cancelled_ordered_at,
        cancelled_on=cancelled_on,
    )


def payment_methods(terms: Terms, draws: Draws, customer, seq, channel) -> np.ndarray:
    """How sale invoices (customer, number seq) are paid, and so their credit notes refunded: an index
    into schema.PAYMENT_METHODS (by transfer with payment terms; else cash or card)."""
    cash = draws.uniform(Stream.ORDER, customer, seq, _CASH) < terms.cash_share[channel]
    return np.where(terms.payment_days[channel] > 0, TRANSFER, np.where(cash, CASH, CARD))


def refund_days(terms: Terms, draws: Draws, customer, seq, channel, day) -> np.ndarray:
    """The day each credit note (customer, number seq: its invoice's) made on `day` is paid back."""
    lo, hi = terms.refund_lo[channel], terms.refund_hi[channel]
    u = draws.uniform(Stream.ORDER, customer, seq, _REFUND)
    return np.asarray(day, dtype=np.int64) + lo + np.minimum((u * (hi - lo + 1)).astype(np.int64), hi - lo)


def return_reasons(terms: Terms, draws: Draws, customer, invoice_key, channel) -> np.ndarray:
    """Why the goods of credit notes (customer, the sale invoice's key) came back: an index into
    schema.RETURN_REASONS, one reason for all the lines of a credit note."""
    u = draws.uniform(Stream.RETURN_REASON, customer, invoice_key)
    cdf = terms.reason_cdf[channel]
    return np.minimum((u[:, None] > cdf).sum(axis=1), len(RETURN_REASONS) - 1).astype(np.int8)
