"""Stage 8, times of day: the second of its day at which each invoice and each credit note is made.

The hour comes from the customer's channel's day (scenario.HOURS, or the channel's hour_weights), the
second within it is uniform. A customer's invoices of one day keep the order of their numbers; a credit
note (an invoice's returns come back together) is drawn with the returned invoice's keys.
"""

from __future__ import annotations

import numpy as np

from erpgen.dates import SECONDS_PER_DAY  # noqa: F401 (where the stages and tables take it from)
from erpgen.rng import Draws, Stream
from erpgen.simulation.invoices import Invoices
from erpgen.simulation.lines import Lines
from erpgen.simulation.model import Model
from erpgen.simulation.returns import CreditNotes
from erpgen.simulation.traits import CustomerTraits

# b-values of the TIME stream (a = the invoice key): a sale invoice's hour and second, then its credit note's
_SALE, _CREDIT = (0, 1), (2, 3)


def invoice_seconds(model: Model, customers: CustomerTraits, invoices: Invoices, draws: Draws) -> np.ndarray:
    """The second of the day of each invoice (0..86399), in the order of the invoices."""
    second = _seconds(model, customers.channel[invoices.row], invoices.customer, invoices.key, _SALE, draws)
    # the invoices of one customer's day are consecutive: sorting the seconds within each such run puts
    # them in the order of the invoices' numbers
    if len(second) > 1:
        new_run = np.r_[
            True, (invoices.row[1:] != invoices.row[:-1]) | (invoices.day[1:] != invoices.day[:-1])
        ]
        if not new_run.all():
            second = second[np.lexsort((second, np.cumsum(new_run)))]
    return second


def credit_seconds(
    model: Model,
    customers: CustomerTraits,
    invoices: Invoices,
    lines: Lines,
    credits: CreditNotes,
    draws: Draws,
) -> np.ndarray:
    """The second of the day of each credit-note line: the same for all the lines given back from one
    invoice, as they come back together."""
    invoice = lines.invoice[credits.line]
    return _seconds(
        model, customers.channel[invoices.row[invoice]], invoices.customer[invoice], invoices.key[invoice],
        _CREDIT, draws,
    )  # fmt: skip


def _seconds(
    model: Model, channel: np.ndarray, customer: np.ndarray, key: np.ndarray, b: tuple[int, int], draws: Draws
) -> np.ndarray:
    u = draws.uniforms(Stream.TIME, customer, key, 0, b)
    hour = np.empty(len(customer), dtype=np.int64)
    for c, cdf in enumerate(model.hour_cdf):
        mine = channel == c
        hour[mine] = np.searchsorted(cdf, u[mine, 0], side="right")
    np.minimum(hour, 23, out=hour)
    return (hour * 3600 + (u[:, 1] * 3600).astype(np.int64)).astype(np.int32)
