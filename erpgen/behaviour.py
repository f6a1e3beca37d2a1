"""The customer lifecycle simulation, vectorised over a block of customers.

The model is the original generator's day-by-day one. Each customer draws one option from every knob
list. From its creation day on, each day it is first lost with p_close (no invoice on the loss day, none
after), otherwise it buys with the daily probability of its current customer-year, and once it has bought
a k-th invoice follows on the same day with p_buy * p_invoice_by_nth[k-1]. Each invoice may carry a
device (probability by devices already owned), refills (count from weights), an accessory and a spare part.

Rather than looping over 1.6 billion customer-days, the simulation jumps from event to event: a daily
Bernoulli process is exactly a sequence of geometric gaps, and because it is memoryless a gap that runs
past the end of a customer-year is restarted at the boundary with the next year's probability. Every
draw is keyed by (customer, event counter), so the result does not depend on the block a customer is in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from erpgen.catalog import Catalog
from erpgen.config import MAX_INVOICES_PER_DAY, Behaviour, GenerateConfig
from erpgen.customers import EPOCH, created_day
from erpgen.rng import Draws, Stream

# b-values of the KNOBS and INVOICE streams
_K_SCHED, _K_CLOSE, _K_NTH, _K_DEVICE, _K_REFILL, _K_ACC, _K_SPARE = range(7)
_I_DEVICE, _I_HAS_REFILL, _I_N_REFILL, _I_ACC, _I_SPARE, _I_STORE = range(6)
FIRST_STORE_ID = 101  # the original numbered its stores 101, 102, ...


def _padded(rows: tuple[tuple[float, ...], ...]) -> np.ndarray:
    """Ragged schedules -> matrix, each row padded with its last value (which holds from then on)."""
    width = max(len(r) for r in rows)
    return np.array([list(r) + [r[-1]] * (width - len(r)) for r in rows], dtype=np.float64)


@dataclass(frozen=True)
class BehaviourTables:
    buy: np.ndarray  # (options, years)
    close: np.ndarray
    nth: np.ndarray  # (options, k)
    device: np.ndarray  # (options, owned)
    refill_cdf: np.ndarray  # (options, count) cumulative, normalised
    p_refill_invoice: float
    accessory: np.ndarray
    spare: np.ndarray

    @classmethod
    def from_behaviour(cls, b: Behaviour) -> BehaviourTables:
        weights = _padded(b.refill_count_weights)
        return cls(
            buy=_padded(b.p_buy_by_year),
            close=np.array(b.p_close_day, dtype=np.float64),
            nth=_padded(b.p_invoice_by_nth),
            device=_padded(b.p_device_by_nth),
            refill_cdf=np.cumsum(weights, axis=1) / weights.sum(axis=1, keepdims=True),
            p_refill_invoice=b.p_refill_invoice,
            accessory=np.array(b.p_accessory_invoice, dtype=np.float64),
            spare=np.array(b.p_spare_part_invoice, dtype=np.float64),
        )


@dataclass
class BlockFacts:
    """Invoice lines of one block, in (customer, invoice, line) order. Dates are days since 1970-01-01."""

    customer_id: np.ndarray
    invoice_seq: np.ndarray
    invoice_date: np.ndarray
    product_id: np.ndarray
    quantity: np.ndarray
    revenue_cents: np.ndarray
    store_id: np.ndarray

    def __len__(self) -> int:
        return len(self.customer_id)


def _year_boundaries(created: np.ndarray, n_years: int) -> np.ndarray:
    """Day numbers at which customer-years 2..n_years start: the created month's start + 12k months."""
    months = (EPOCH + created.astype("timedelta64[D]")).astype("datetime64[M]")
    k = np.arange(1, n_years, dtype=np.int64)
    starts = months[:, None] + (12 * k)[None, :].astype("timedelta64[M]")
    return (starts.astype("datetime64[D]") - EPOCH).astype(np.int64)


def _buy_days(draws, ids, created, active_end, p_year, bounds):
    """Days on which each customer makes at least one invoice.

    Returns (row index into the block, day, event counter, daily probability) for every buy-day.
    """
    n_years = p_year.shape[1]
    rows = np.arange(len(ids))
    cur = created - 1
    seg = np.zeros(len(ids), dtype=np.int64)
    out_rows, out_days, out_ctr, out_p = [], [], [], []
    counter = 0
    far = np.iinfo(np.int64).max // 4
    while len(rows):
        p = p_year[rows, seg]
        gap = 1 + draws.geometric_failures(p, Stream.BUY_GAP, ids[rows], counter)
        cand = cur + gap
        has_next = seg < n_years - 1
        seg_end = np.where(has_next, bounds[rows, np.minimum(seg, n_years - 2)], far)
        crosses = cand >= seg_end
        hit = ~crosses & (cand < active_end[rows])
        if hit.any():
            out_rows.append(rows[hit])
            out_days.append(cand[hit])
            out_ctr.append(np.full(int(hit.sum()), counter, dtype=np.int64))
            out_p.append(p[hit])
        # Crossing a year boundary: restart there with the next year's probability (memoryless).
        cur = np.where(crosses, seg_end - 1, cand)
        seg = seg + crosses
        alive = np.where(crosses, seg_end < active_end[rows], hit)
        rows, cur, seg = rows[alive], cur[alive], seg[alive]
        counter += 1
    if not out_rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, np.zeros(0)
    return (
        np.concatenate(out_rows),
        np.concatenate(out_days),
        np.concatenate(out_ctr),
        np.concatenate(out_p),
    )


def simulate_block(
    cfg: GenerateConfig, catalog: Catalog, tables: BehaviourTables, ids: np.ndarray, draws: Draws
) -> BlockFacts:
    ids = ids.astype(np.int64)
    n = len(ids)
    created = created_day(cfg, ids, draws)
    till = int((np.datetime64(cfg.date_till, "D") - EPOCH).astype(np.int64))

    def knob(b: int, size: int) -> np.ndarray:
        return draws.integers(Stream.KNOBS, size, ids, 0, b)

    sched = knob(_K_SCHED, len(tables.buy))
    close = tables.close[knob(_K_CLOSE, len(tables.close))]
    nth = knob(_K_NTH, len(tables.nth))
    dev_opt = knob(_K_DEVICE, len(tables.device))
    ref_opt = knob(_K_REFILL, len(tables.refill_cdf))
    p_acc = tables.accessory[knob(_K_ACC, len(tables.accessory))]
    p_spare = tables.spare[knob(_K_SPARE, len(tables.spare))]

    # Lost decision: the first day whose daily draw says "lost"; nothing is sold from that day on.
    lost_offset = draws.geometric_failures(close, Stream.LOST, ids)
    active_end = np.minimum(created + lost_offset, till + 1)

    n_years = tables.buy.shape[1]
    bounds = _year_boundaries(created, n_years) if n_years > 1 else np.zeros((n, 1), dtype=np.int64)
    p_first = tables.buy[sched] * tables.nth[nth, 0][:, None]
    rows, days, ctr, p_first_day = _buy_days(draws, ids, created, active_end, p_first, bounds)

    # Further invoices on a buy-day: the k-th follows with p_buy * p_invoice_by_nth[k-1].
    p_buy_day = p_first_day / np.where(tables.nth[nth[rows], 0] > 0, tables.nth[nth[rows], 0], 1.0)
    per_day = np.ones(len(rows), dtype=np.int64)
    going = np.arange(len(rows))
    width = tables.nth.shape[1]
    for k in range(1, MAX_INVOICES_PER_DAY):
        if not len(going):
            break
        p = p_buy_day[going] * tables.nth[nth[rows[going]], min(k, width - 1)]
        more = draws.uniform(Stream.NTH_INVOICE, ids[rows[going]], ctr[going], k) < p
        going = going[more]
        per_day[going] += 1

    # Invoices in (customer, day) order; invoice_seq counts each customer's invoices from 1.
    order = np.lexsort((days, rows))
    rows, days, per_day = rows[order], days[order], per_day[order]
    inv_row = np.repeat(rows, per_day)
    inv_day = np.repeat(days, per_day)
    n_inv = len(inv_row)
    counts = np.bincount(inv_row, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    inv_seq = np.arange(n_inv, dtype=np.int64) - starts[inv_row] + 1
    inv_cust = ids[inv_row]

    def inv_u(b: int) -> np.ndarray:
        return draws.uniform(Stream.INVOICE, inv_cust, inv_seq, b)

    device_ids, refill_ids = catalog.ids("DEVICE"), catalog.ids("REFILL")
    accessory_ids, spare_ids = catalog.ids("ACCESSORY"), catalog.ids("SPARE_PART")

    # Refills, accessory and spare part: independent per invoice.
    cdf = tables.refill_cdf[ref_opt[inv_row]]
    n_refill = 1 + (inv_u(_I_N_REFILL)[:, None] > cdf).sum(axis=1)
    has_refill = (inv_u(_I_HAS_REFILL) < tables.p_refill_invoice) & (len(refill_ids) > 0)
    n_refill = np.where(has_refill, np.minimum(n_refill, cdf.shape[1]), 0)
    has_acc = (inv_u(_I_ACC) < p_acc[inv_row]) & (len(accessory_ids) > 0)
    has_spare = (inv_u(_I_SPARE) < p_spare[inv_row]) & (len(spare_ids) > 0)

    # Devices depend on how many the customer owns: walk each customer's invoices in order.
    u_dev = inv_u(_I_DEVICE)
    # An invoice with nothing else gets a device when the catalog has no refills (the original's fallback).
    forced_device = (len(refill_ids) == 0) & (len(device_ids) > 0) & ~has_acc & ~has_spare
    has_device = np.zeros(n_inv, dtype=bool)
    if len(device_ids):
        owned = np.zeros(n, dtype=np.int64)
        by_count = np.argsort(-counts, kind="stable")
        sorted_counts = counts[by_count]
        dev_width = tables.device.shape[1]
        for j in range(int(counts.max(initial=0))):
            cs = by_count[: np.searchsorted(-sorted_counts, -j, side="left")]
            pos = starts[cs] + j
            p = tables.device[dev_opt[cs], np.minimum(owned[cs], dev_width - 1)]
            hit = (u_dev[pos] < p) | forced_device[pos]
            has_device[pos] = hit
            owned[cs] += hit

    # Every invoice has at least one line: fall back to a refill, then a device, accessory, spare part.
    empty = ~has_device & (n_refill == 0) & ~has_acc & ~has_spare
    if len(refill_ids):
        n_refill = np.where(empty, 1, n_refill)
    elif not len(device_ids):
        if len(accessory_ids):
            has_acc |= empty
        else:
            has_spare |= empty

    store = FIRST_STORE_ID + draws.integers(Stream.INVOICE, cfg.n_stores, inv_cust, inv_seq, _I_STORE)

    # Lines: device first, then refills, accessory, spare part (the original's order).
    n_lines = has_device.astype(np.int64) + n_refill + has_acc + has_spare
    line_inv = np.repeat(np.arange(n_inv), n_lines)
    line_starts = np.concatenate(([0], np.cumsum(n_lines)[:-1]))
    line_no = np.arange(len(line_inv), dtype=np.int64) - line_starts[line_inv]
    # category of each line from its position within the invoice
    pos_after_dev = line_no - has_device[line_inv]
    is_dev = has_device[line_inv] & (line_no == 0)
    is_ref = ~is_dev & (pos_after_dev < n_refill[line_inv])
    is_acc = ~is_dev & ~is_ref & has_acc[line_inv] & (pos_after_dev == n_refill[line_inv])
    is_spare = ~is_dev & ~is_ref & ~is_acc

    line_cust = inv_cust[line_inv]
    line_seq = inv_seq[line_inv]
    pick = draws.uniform(Stream.LINE, line_cust, line_seq, line_no)
    product = np.zeros(len(line_inv), dtype=np.int64)
    for mask, pool in (
        (is_dev, device_ids),
        (is_ref, refill_ids),
        (is_acc, accessory_ids),
        (is_spare, spare_ids),
    ):
        if len(pool) and mask.any():
            product[mask] = pool[np.minimum((pick[mask] * len(pool)).astype(np.int64), len(pool) - 1)]

    quantity = np.ones(len(line_inv), dtype=np.int64)
    prices = catalog.price_cents_by_id()
    return BlockFacts(
        customer_id=line_cust,
        invoice_seq=line_seq,
        invoice_date=inv_day[line_inv],
        product_id=product,
        quantity=quantity,
        revenue_cents=quantity * prices[product],
        store_id=store[line_inv],
    )
