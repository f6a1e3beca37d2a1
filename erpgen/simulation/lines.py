"""Stage 4, lines: each invoice's basket as sale lines (device, refills, accessories, spare part), each
with its product and quantity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from erpgen.rng import Draws
from erpgen.schema import ROLES
from erpgen.simulation.draws import MAX_LINE_KEY, line_quantity, pick_product
from erpgen.simulation.invoices import Baskets, Invoices
from erpgen.simulation.model import Model
from erpgen.simulation.purchase_days import PurchaseDays
from erpgen.simulation.traits import PurchaseHabits

_DEVICE, _REFILL, _ACCESSORY, _SPARE_PART = range(4)  # a line's role: an index into ROLES


@dataclass(frozen=True)
class Lines:
    """One row per sale line, in (customer, invoice, line) order."""

    invoice: np.ndarray  # the line's row in Invoices
    customer: np.ndarray  # the customer's id
    row: np.ndarray  # the customer's row in the block
    invoice_key: np.ndarray  # the a of the line's draws
    key: np.ndarray  # the line key: the b of the line's draws
    product: np.ndarray
    quantity: np.ndarray


def sale_lines(
    model: Model,
    habits: PurchaseHabits,
    purchases: PurchaseDays,
    invoices: Invoices,
    baskets: Baskets,
    draws: Draws,
) -> Lines:
    invoice, role, after_device = _layout(baskets)
    # refills are keyed by their refill number + 1 (as in the purchase-day loop); other roles after them
    key = np.select([role == _DEVICE, role == _REFILL], [0, 1 + after_device], 1 + after_device + 8)
    key = np.minimum(key, MAX_LINE_KEY)
    customer, invoice_key, row = invoices.customer[invoice], invoices.key[invoice], invoices.row[invoice]
    product = np.zeros(len(invoice), dtype=np.int64)
    quantity = np.zeros(len(invoice), dtype=np.int64)
    drawn = _reuse_loop_refills(purchases, baskets, invoice, role, after_device, key, product, quantity)
    for code, name in enumerate(ROLES):
        m = (role == code) & drawn
        if m.any():
            pick = pick_product(
                draws, model.pools[name], model.pool_cdf[name], customer[m], invoice_key[m], key[m]
            )
            product[m] = pick
    base = habits.quantity_base
    quantity[drawn] = line_quantity(draws, customer[drawn], invoice_key[drawn], key[drawn], base[row[drawn]])
    # a consumer buys one device at a time; a business as many as its quantity draw says
    quantity = np.where(role == _DEVICE, np.where(base[row] > 1, quantity, 1), quantity)
    return Lines(invoice, customer, row, invoice_key, key, product, quantity)


def _layout(baskets: Baskets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each line's invoice, role and position after the invoice's device line: a device first, then the
    refills, the accessories and the spare part."""
    has_device, n_refills, n_accessories = baskets.has_device, baskets.n_refills, baskets.n_accessories
    n_lines = has_device.astype(np.int64) + n_refills + n_accessories + baskets.has_spare_part
    invoice = np.repeat(np.arange(len(n_lines)), n_lines)
    position = np.arange(len(invoice)) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines)
    device = has_device[invoice]
    refills = n_refills[invoice]
    after_device = position - device
    role = np.select(
        [device & (position == 0), after_device < refills, after_device < refills + n_accessories[invoice]],
        [_DEVICE, _REFILL, _ACCESSORY],
        _SPARE_PART,
    )
    return invoice, role, after_device


def _reuse_loop_refills(
    purchases: PurchaseDays,
    baskets: Baskets,
    invoice: np.ndarray,
    role: np.ndarray,
    after_device: np.ndarray,
    key: np.ndarray,
    product: np.ndarray,
    quantity: np.ndarray,
) -> np.ndarray:
    """Fills in the refill lines the purchase-day loop drew (a day's first invoice): the same keyed draws,
    not made twice. Returns which lines are still to draw."""
    purchase = baskets.purchase[invoice]
    looped = (
        (role == _REFILL)
        & baskets.first_of_day[invoice]
        & (after_device < purchases.n_refills[purchase])
        & (key == 1 + after_device)
    )
    source = purchases.refill_start[purchase[looped]] + after_device[looped]
    product[looped], quantity[looped] = purchases.refill_product[source], purchases.refill_quantity[source]
    return ~looped
