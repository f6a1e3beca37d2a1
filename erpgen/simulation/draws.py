"""How the stages key their draws (erpgen.rng), and the draws that more than one stage makes.

Every draw is keyed by (stream, customer, a, b). The purchase-day loop keys by a = the customer's event
counter; an invoice by a = its invoice key; a line by a = its invoice key and b = its line key. Where
two stages draw the same thing (the first invoice of a day, its refill lines), they use the same keys,
so the numbers agree whichever stage draws them.
"""

from __future__ import annotations

import numpy as np

from erpgen.rng import Draws, Stream, normal_of

# b-values of the INVOICE stream (a = invoice key)
INVOICE_HAS_REFILL, INVOICE_N_REFILLS, INVOICE_HAS_ACCESSORY, INVOICE_N_ACCESSORIES = range(4)
INVOICE_HAS_SPARE_PART, INVOICE_HAS_DEVICE = 4, 5
# invoice key = event counter * INVOICES_PER_EVENT + the invoice's number within its day
INVOICES_PER_EVENT = 64
# a line's key b: 0 for a device, 1.. for refills (their number + 1), then accessories and the spare
# part; capped, as a line's draws use b, b + 64 and b + 192 and b has 8 bits
MAX_LINE_KEY = 60
# a refill line's product (pick_product) and quantity (line_quantity), at b = its line key, in one call
REFILL_LINE_DRAWS = (
    (Stream.LINE, 0),
    (Stream.QUANTITY, 0),
    (Stream.QUANTITY, 64),
    (Stream.QUANTITY, 192),
)


def pick_product(draws: Draws, pool: np.ndarray, cdf: np.ndarray, cust, a, b) -> np.ndarray:
    return product_of(draws.uniform(Stream.LINE, cust, a, b), pool, cdf)


def product_of(u: np.ndarray, pool: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    """The product of the pool a uniform picks, by the pool's popularity cdf."""
    return pool[np.minimum(np.searchsorted(cdf, u, side="right"), len(pool) - 1)]


def line_count(draws: Draws, cdf: np.ndarray, cust, a, b) -> np.ndarray:
    """1 + the number of cdf steps a uniform passes: counts drawn from weights (cdf per row or shared)."""
    return count_of(draws.uniform(Stream.INVOICE, cust, a, b), cdf)


def count_of(u: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    if cdf.ndim == 1:
        return 1 + np.searchsorted(cdf, u, side="right").clip(max=len(cdf) - 1)
    return 1 + (u[:, None] > cdf).sum(axis=1).clip(max=cdf.shape[1] - 1)


def line_quantity(draws: Draws, cust, a, b, base: np.ndarray) -> np.ndarray:
    """Units on a line: mostly 1 for consumers (sometimes 2 or 3); around `base` for B2B."""
    return quantity_of(draws.uniforms(Stream.QUANTITY, cust, a, b, (0, 64, 192)), base)


def quantity_of(u: np.ndarray, base: np.ndarray) -> np.ndarray:
    """line_quantity from its three uniforms (QUANTITY at b, b + 64, b + 192: a uniform and a normal)."""
    consumer = 1 + (u[:, 0] > 0.85) + (u[:, 0] > 0.97)
    bulk = np.maximum(1, np.round(base * np.exp(0.3 * normal_of(u[:, 1], u[:, 2]))))
    return np.where(base > 1, bulk, consumer).astype(np.int64)
