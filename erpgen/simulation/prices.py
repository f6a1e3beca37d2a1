"""Stage 5, prices: list price x yearly increases x (the customer's standing discount, or a promotion)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from erpgen.rng import Draws, Stream
from erpgen.simulation.calendar import Calendar
from erpgen.simulation.invoices import Invoices
from erpgen.simulation.lines import Lines
from erpgen.simulation.model import Model
from erpgen.simulation.traits import CustomerTraits, PurchaseHabits

_NOVEMBER = 10  # months are 0-11
_NOVEMBER_PROMOTIONS = 2.5  # November has this many times the promotions of other months


@dataclass(frozen=True)
class LinePrices:
    """One row per sale line."""

    unit_price: np.ndarray  # in cents, what was charged
    revenue: np.ndarray  # quantity x unit_price


def line_prices(
    model: Model,
    customers: CustomerTraits,
    habits: PurchaseHabits,
    calendar: Calendar,
    invoices: Invoices,
    lines: Lines,
    draws: Draws,
) -> LinePrices:
    season = model.cfg.scenario.seasonality
    day = invoices.day[lines.invoice]
    index = (1.0 + season.price_increase_per_year) ** (calendar.year(day) - model.cfg.date_from.year)
    p_promo = season.promo_share * np.where(calendar.month(day) == _NOVEMBER, _NOVEMBER_PROMOTIONS, 1.0)
    # businesses pay their standing discount and take no promotions
    promo = (draws.uniform(Stream.PRICE, lines.customer, lines.invoice_key, lines.key) < p_promo) & ~(
        customers.is_b2b[lines.row]
    )
    lo, hi = season.promo_discount_min, season.promo_discount_max
    promo_discount = lo + (hi - lo) * draws.uniform(
        Stream.PRICE, lines.customer, lines.invoice_key, lines.key + 128
    )
    discount = np.where(promo, promo_discount, habits.standing_discount[lines.row])
    unit_price = np.maximum(1, np.round(model.prices[lines.product] * index * (1.0 - discount))).astype(
        np.int64
    )
    return LinePrices(unit_price, lines.quantity * unit_price)
