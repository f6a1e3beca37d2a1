"""Stage 6, returns: credit notes for part of a sale line, after a lag, never more than was bought."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from erpgen.rng import Draws, Stream, geometric_below_of
from erpgen.simulation.invoices import Invoices
from erpgen.simulation.lines import Lines
from erpgen.simulation.model import Model
from erpgen.simulation.traits import CustomerTraits

_RETURN_LAG = 127  # the b of an invoice's return lag, past every line key (and + 128 of each)
# no sale comes back later than this many days: the return lag's law is the scenario's, cut there. A shop
# takes nothing back after a year, and a bound lets `erpgen extend` know a lost customer's story has ended
# (erpgen.extension) instead of simulating it again.
RETURN_WINDOW = 365


@dataclass(frozen=True)
class CreditNotes:
    """One row per credit-note line, in the order of the sale lines they give back."""

    line: np.ndarray  # the sale line's row in Lines
    day: np.ndarray
    quantity: np.ndarray  # units given back (positive)


def credit_notes(
    model: Model, customers: CustomerTraits, invoices: Invoices, lines: Lines, draws: Draws
) -> CreditNotes:
    channels = list(model.cfg.scenario.channels.values())
    rate = np.array([c.return_rate for c in channels])[customers.channel[lines.row]]
    line = np.flatnonzero(draws.uniform(Stream.RETURN, lines.customer, lines.invoice_key, lines.key) < rate)
    # an invoice's returns come back together, after a lag drawn per invoice
    invoice = lines.invoice[line]
    lag_mean = np.array([c.return_lag_days for c in channels])[customers.channel[lines.row[line]]]
    p_lag = 1.0 / (1.0 + lag_mean)
    u_lag = draws.uniform(Stream.RETURN, lines.customer[line], lines.invoice_key[line], _RETURN_LAG)
    lag = 1 + geometric_below_of(u_lag, p_lag, RETURN_WINDOW)
    day = invoices.day[invoice] + lag
    within = day <= model.till
    line, day = line[within], day[within]
    # consumers send a line back whole; a business returns part of a bulk line
    bought = lines.quantity[line]
    u_part = draws.uniform(
        Stream.RETURN, lines.customer[line], lines.invoice_key[line], lines.key[line] + 128
    )
    partial = 1 + (u_part * bought).astype(np.int64)
    return CreditNotes(
        line, day, np.where(customers.is_b2b[lines.row[line]], np.minimum(partial, bought), bought)
    )
