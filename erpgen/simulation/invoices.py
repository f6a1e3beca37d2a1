"""Stage 3, invoices: each purchase day becomes one or more invoices, and each invoice gets its basket.

Several invoices can fall on one day: the (j+1)-th follows the j-th with the customer's
p_invoice_by_nth[j]; a one-time buyer makes one invoice. A basket is the number of lines of each role:
the first invoice of a day keeps the device and refills the purchase-day loop drew; the others draw
theirs, with the same keys.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from erpgen.config import MAX_INVOICES_PER_DAY
from erpgen.rng import Draws, Stream
from erpgen.simulation.draws import (
    INVOICE_HAS_ACCESSORY,
    INVOICE_HAS_REFILL,
    INVOICE_HAS_SPARE_PART,
    INVOICE_N_ACCESSORIES,
    INVOICE_N_REFILLS,
    INVOICES_PER_EVENT,
    line_count,
)
from erpgen.simulation.facts import ONE_TIME
from erpgen.simulation.model import Model
from erpgen.simulation.purchase_days import PurchaseDays
from erpgen.simulation.traits import CustomerTraits, PurchaseHabits


@dataclass(frozen=True)
class Invoices:
    """One row per sales invoice, in (customer, day, number within the day) order."""

    row: np.ndarray  # the customer's row in the block
    customer: np.ndarray  # the customer's id
    day: np.ndarray
    key: np.ndarray  # the invoice key: the a of its draws and of its lines' draws
    seq: np.ndarray  # the invoice's number among its customer's invoices, from 1


@dataclass(frozen=True)
class Baskets:
    """What each invoice holds, by role, one row per invoice."""

    purchase: np.ndarray  # the invoice's row in PurchaseDays
    first_of_day: np.ndarray  # whose device and refill lines the purchase-day loop drew
    has_device: np.ndarray
    n_refills: np.ndarray
    n_accessories: np.ndarray
    has_spare_part: np.ndarray


def invoices_and_baskets(
    model: Model, customers: CustomerTraits, habits: PurchaseHabits, purchases: PurchaseDays, draws: Draws
) -> tuple[Invoices, Baskets]:
    per_day = _invoices_per_day(model, customers, habits, purchases, draws)
    purchase = np.repeat(np.arange(len(purchases.row)), per_day)
    nth = np.arange(len(purchase)) - np.repeat(np.cumsum(per_day) - per_day, per_day)
    row = purchases.row[purchase]
    counts = np.bincount(row, minlength=len(customers.ids))
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    invoices = Invoices(
        row=row,
        customer=customers.ids[row],
        day=purchases.day[purchase],
        key=purchases.event[purchase] * INVOICES_PER_EVENT + nth,
        seq=np.arange(len(row), dtype=np.int64) - starts[row] + 1,
    )
    return invoices, _baskets(model, habits, purchases, invoices, purchase, nth == 0, draws)


def _invoices_per_day(
    model: Model, customers: CustomerTraits, habits: PurchaseHabits, purchases: PurchaseDays, draws: Draws
) -> np.ndarray:
    per_day = np.ones(len(purchases.row), dtype=np.int64)
    going = np.arange(len(purchases.row))  # the purchase days whose j-th invoice was made
    width = model.invoice_by_nth.shape[1]
    for j in range(1, MAX_INVOICES_PER_DAY):
        if not len(going):
            break
        row = purchases.row[going]
        p_next = model.invoice_by_nth[habits.nth_option[row], min(j, width - 1)]
        p = np.where(customers.segment[row] == ONE_TIME, 0.0, p_next)
        more = draws.uniform(Stream.NTH_INVOICE, customers.ids[row], purchases.event[going], j) < p
        going = going[more]
        per_day[going] += 1
    return per_day


def _baskets(
    model: Model,
    habits: PurchaseHabits,
    purchases: PurchaseDays,
    invoices: Invoices,
    purchase: np.ndarray,
    first_of_day: np.ndarray,
    draws: Draws,
) -> Baskets:
    pools = model.pools
    customer, key, row = invoices.customer, invoices.key, invoices.row

    def u(b: int) -> np.ndarray:
        return draws.uniform(Stream.INVOICE, customer, key, b)

    has_device = np.where(first_of_day, purchases.has_device[purchase], False)
    n_refills = purchases.n_refills[purchase]
    later = np.flatnonzero(~first_of_day)
    if len(later):
        n_refills[later] = _refill_counts(model, habits, invoices, later, draws)
    has_accessory = (u(INVOICE_HAS_ACCESSORY) < habits.p_accessory[row]) & (len(pools["ACCESSORY"]) > 0)
    n_accessories_drawn = line_count(draws, model.accessory_count_cdf, customer, key, INVOICE_N_ACCESSORIES)
    n_accessories = np.where(has_accessory, n_accessories_drawn, 0)
    has_spare_part = (u(INVOICE_HAS_SPARE_PART) < habits.p_spare_part[row]) & (len(pools["SPARE_PART"]) > 0)
    # an invoice that drew nothing gets one line of the fallback role
    empty = ~has_device & (n_refills == 0) & (n_accessories == 0) & ~has_spare_part
    fallback = _fallback_role(model)
    if fallback == "REFILL":
        n_refills = np.where(empty, 1, n_refills)
    elif fallback == "ACCESSORY":
        n_accessories = np.where(empty, 1, n_accessories)
    elif fallback == "DEVICE":
        has_device = has_device | empty
    else:
        has_spare_part = has_spare_part | empty
    return Baskets(purchase, first_of_day, has_device, n_refills, n_accessories, has_spare_part)


def _refill_counts(
    model: Model, habits: PurchaseHabits, invoices: Invoices, later: np.ndarray, draws: Draws
) -> np.ndarray:
    """Refill lines on invoices `later`, which are not the first of their day."""
    customer, key, p_refill = (
        invoices.customer[later],
        invoices.key[later],
        model.cfg.scenario.basket.p_refill_invoice,
    )
    u = draws.uniform(Stream.INVOICE, customer, key, INVOICE_HAS_REFILL)
    has_refill = (u < p_refill) & (len(model.pools["REFILL"]) > 0)
    refill_cdf = model.refill_count_cdf[habits.refill_option[invoices.row[later]]]
    return np.where(has_refill, line_count(draws, refill_cdf, customer, key, INVOICE_N_REFILLS), 0)


def _fallback_role(model: Model) -> str:
    """The role an otherwise empty invoice gets: the scenario's, or the first role the catalog has."""
    for role in (model.cfg.scenario.basket.fallback_role, "REFILL", "ACCESSORY", "DEVICE", "SPARE_PART"):
        if len(model.pools[role]):
            return role
    raise ValueError("empty catalog")
