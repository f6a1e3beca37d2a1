"""The customer lifecycle simulation, vectorised over a block of customers.

Each customer has a home country and channel, a segment and its own rates:
  ONE_TIME    buys once and decides there and then never to come back;
  LOYAL       buys refills when the last ones run out: the gap is the grams bought divided by the
              customer's consumption per day, so bigger refills last longer;
  OCCASIONAL  buys at a personal rate, more in the scenario's peak months;
  B2B         a company reordering on a steady cycle, in bulk, at a standing discount.
Every repeat customer's frequency drifts up or down over the years, may pause in dormant spells and come
back, and leaves for good at its lost-decision date. Several invoices can fall on one day (the original's
p_invoice_by_nth), and baskets keep the original's device / refill / accessory / spare-part logic.
Sales may come back as credit notes that reference the line they return.

The simulation jumps from event to event (purchase to purchase) for all customers of a block at once;
every draw is keyed by (customer, event counter), so a customer's history never depends on its block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from erpgen.catalog import Catalog
from erpgen.config import MAX_INVOICES_PER_DAY, GenerateConfig
from erpgen.customers import channel_index, country_index, created_day
from erpgen.dates import EPOCH, day_number
from erpgen.rng import Draws, Stream, geometric_of, normal_of
from erpgen.stores import store_table

ONE_TIME, LOYAL, OCCASIONAL, B2B = range(4)  # indexes into schema.SEGMENTS
ACQUIRED, FIRST_PURCHASE, DORMANT, REACTIVATED, LOST = range(5)

# b-values of the KNOBS stream
_K_NTH, _K_DEVICE, _K_REFILL, _K_ACC, _K_SPARE, _K_SEGMENT, _K_RATE, _K_TREND, _K_CONS, _K_PERIOD = range(10)
_K_QTY, _K_DISCOUNT, _K_STORE, _K_LOST, _K_FIRST = range(10, 15)
# b-values of the INVOICE stream (a = invoice key)
_I_HAS_REFILL, _I_N_REFILL, _I_ACC, _I_N_ACC, _I_SPARE, _I_DEVICE, _I_NTH = range(7)
# lines per invoice are keyed b = line number (< 128); refills start at 1, after the device line
_MAX_LINES = 60  # keyed draws use b, b + 64 and b + 192
_INVOICES_PER_EVENT = 64  # invoice key = event counter * 64 + invoice number within the day
_WEEKDAYS_AT_ONCE = 3
# the event loop's draws per customer and iteration, in one call: (stream, b), as separate calls would
# key them (a normal takes b and b + 128)
_LOOP_DRAWS = (
    *((Stream.BUY_GAP, b) for b in (0, 1, 129, 2)),  # the gap, its noise, the month's thinning
    *((Stream.DORMANCY, b) for b in (0, 1, 129)),  # whether a dormant spell starts, its length
    *((Stream.WEEKDAY, j) for j in range(_WEEKDAYS_AT_ONCE)),  # the first weekdays tried
)
# a refill line's product (_pick) and quantity (_quantity), at b = its line number
_REFILL_DRAWS = (
    (Stream.LINE, 0),
    (Stream.QUANTITY, 0),
    (Stream.QUANTITY, 64),
    (Stream.QUANTITY, 192),
)


def _padded(rows: tuple[tuple[float, ...], ...]) -> np.ndarray:
    """Ragged schedules -> matrix, each row padded with its last value (which holds from then on)."""
    width = max(len(r) for r in rows)
    return np.array([list(r) + [r[-1]] * (width - len(r)) for r in rows], dtype=np.float64)


@dataclass(frozen=True)
class Rates:
    """The internal rates that targets are calibrated into (erpgen.calibrate)."""

    p_one_time: float  # share of consumer customers in the ONE_TIME segment
    rate_scale: float = 1.0  # multiplies every repeat customer's purchase frequency
    loss_scale: float = 1.0  # multiplies the daily hazard of the lost decision


@dataclass(frozen=True)
class Model:
    """Everything a block needs that does not depend on the block: tables built once per run."""

    cfg: GenerateConfig
    catalog: Catalog
    rates: Rates

    def __post_init__(self) -> None:
        s, b = self.cfg.scenario, self.cfg.scenario.basket
        object.__setattr__(self, "nth", _padded(b.p_invoice_by_nth))
        object.__setattr__(self, "device", _padded(b.p_device_by_nth))
        w = _padded(b.refill_count_weights)
        object.__setattr__(self, "refill_cdf", np.cumsum(w, axis=1) / w.sum(axis=1, keepdims=True))
        aw = np.asarray(b.accessory_count_weights, dtype=np.float64)
        object.__setattr__(self, "acc_cdf", np.cumsum(aw) / aw.sum())
        object.__setattr__(self, "p_acc", np.asarray(b.p_accessory_invoice, dtype=np.float64))
        object.__setattr__(self, "p_spare", np.asarray(b.p_spare_part_invoice, dtype=np.float64))
        channels = list(s.channels.values())
        object.__setattr__(self, "weekday", np.array([c.weekday_weights for c in channels], dtype=np.float64))
        object.__setattr__(self, "month", np.asarray(s.seasonality.month_weights, dtype=np.float64))
        object.__setattr__(self, "stores", store_table(self.cfg))
        pools = {role: self.catalog.ids(role) for role in ("DEVICE", "REFILL", "ACCESSORY", "SPARE_PART")}
        object.__setattr__(self, "pools", pools)
        object.__setattr__(self, "pool_cdf", {r: _popularity_cdf(len(ids)) for r, ids in pools.items()})
        object.__setattr__(self, "prices", self.catalog.price_cents_by_id())
        object.__setattr__(self, "gramm", self.catalog.gramm_by_id())


def _popularity_cdf(n: int) -> np.ndarray:
    """A few products sell far more than the rest (Zipf-like, exponent 0.8), as in real catalogs."""
    if n == 0:
        return np.zeros(0)
    w = 1.0 / np.arange(1, n + 1) ** 0.8
    return np.cumsum(w) / w.sum()


@dataclass
class BlockFacts:
    """One block's output, in (customer, invoice, line) order; credit notes after the sales.

    Dates are days since 1970-01-01. `returned` is the block-local index of the line a return line
    gives back (-1 for sales).
    """

    customer_id: np.ndarray
    invoice_seq: np.ndarray
    is_credit: np.ndarray
    invoice_date: np.ndarray
    product_id: np.ndarray
    quantity: np.ndarray
    unit_price_cents: np.ndarray
    revenue_cents: np.ndarray
    store_id: np.ndarray
    returned: np.ndarray
    # per customer of the block
    segment: np.ndarray
    created: np.ndarray
    first_purchase: np.ndarray  # -1: never bought
    lost: np.ndarray  # -1: not lost within the range
    # lifecycle events, sorted by (customer, day, event)
    event_customer: np.ndarray
    event_code: np.ndarray
    event_day: np.ndarray
    # a block without its lines (what the lifecycle tables need) keeps their count here
    lines: int | None = None

    def __len__(self) -> int:
        return len(self.customer_id)


class _Calendar:
    """Month (0-11) and year of days first..last (days since 1970-01-01) from lookup tables: numpy's
    datetime64 conversions cost far more per element, and the event loop asks every iteration."""

    def __init__(self, first: int, last: int):
        days = EPOCH + np.arange(first, last + 1).astype("timedelta64[D]")
        self.first = first
        self._month = (days.astype("datetime64[M]").astype(np.int64) % 12).astype(np.int64)
        self._year = days.astype("datetime64[Y]").astype(np.int64) + 1970

    def month(self, day: np.ndarray) -> np.ndarray:
        return self._month[day - self.first]

    def year(self, day: np.ndarray) -> np.ndarray:
        return self._year[day - self.first]


def _pick(draws: Draws, pool: np.ndarray, cdf: np.ndarray, cust, a, b) -> np.ndarray:
    return _pick_of(draws.uniform(Stream.LINE, cust, a, b), pool, cdf)


def _pick_of(u: np.ndarray, pool: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    return pool[np.minimum(np.searchsorted(cdf, u, side="right"), len(pool) - 1)]


def _count(draws: Draws, cdf: np.ndarray, cust, a, b) -> np.ndarray:
    """1 + the number of cdf steps a uniform passes: counts drawn from weights (cdf per row or shared)."""
    return _count_of(draws.uniform(Stream.INVOICE, cust, a, b), cdf)


def _count_of(u: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    if cdf.ndim == 1:
        return 1 + np.searchsorted(cdf, u, side="right").clip(max=len(cdf) - 1)
    return 1 + (u[:, None] > cdf).sum(axis=1).clip(max=cdf.shape[1] - 1)


def _quantity(draws: Draws, cust, a, b, base: np.ndarray) -> np.ndarray:
    """Units on a line: mostly 1 for consumers (sometimes 2 or 3); around `base` for B2B."""
    return _quantity_of(draws.uniforms(Stream.QUANTITY, cust, a, b, (0, 64, 192)), base)


def _quantity_of(u: np.ndarray, base: np.ndarray) -> np.ndarray:
    """_quantity from its three uniforms (QUANTITY at b, b + 64, b + 192: a uniform and a normal)."""
    consumer = 1 + (u[:, 0] > 0.85) + (u[:, 0] > 0.97)
    bulk = np.maximum(1, np.round(base * np.exp(0.3 * normal_of(u[:, 1], u[:, 2]))))
    return np.where(base > 1, bulk, consumer).astype(np.int64)


def simulate_block(model: Model, ids: np.ndarray, draws: Draws) -> BlockFacts:
    cfg, s = model.cfg, model.cfg.scenario
    lc = s.lifecycle
    ids = ids.astype(np.int64)
    n = len(ids)
    till = day_number(cfg.date_till)
    created = created_day(cfg, ids, draws)
    country = country_index(cfg, ids, draws)
    channel = channel_index(cfg, ids, draws)
    channel_names = list(s.channels)
    channels = list(s.channels.values())
    is_b2b = np.array([c == "B2B" for c in channel_names])[channel]

    def knob(b: int) -> np.ndarray:
        return draws.uniform(Stream.KNOBS, ids, 0, b)

    def option(b: int, size: int) -> np.ndarray:
        return draws.integers(Stream.KNOBS, size, ids, 0, b)

    # Segment: B2B by channel; consumers one-time, loyal (needs refills to consume) or occasional.
    u_seg = knob(_K_SEGMENT)
    repeat_loyal = model.rates.p_one_time + (1 - model.rates.p_one_time) * lc.loyal_share
    segment = np.where(
        u_seg < model.rates.p_one_time, ONE_TIME, np.where(u_seg < repeat_loyal, LOYAL, OCCASIONAL)
    )
    if not len(model.pools["REFILL"]):
        segment = np.where(segment == LOYAL, OCCASIONAL, segment)
    segment = np.where(is_b2b, B2B, segment)

    # Personal rates: lognormal spread around the scenario's medians, scaled by the calibration.
    scale = model.rates.rate_scale
    occ_rate = (
        scale
        * lc.occasional_orders_per_year
        / 365.25
        * np.exp(lc.rate_sigma * draws.normal(Stream.KNOBS, ids, 0, _K_RATE))
    )
    trend = lc.trend_sigma * draws.normal(Stream.KNOBS, ids, 0, _K_TREND)
    consumption = (
        scale
        * lc.consumption_g_per_day
        * np.exp(lc.consumption_sigma * draws.normal(Stream.KNOBS, ids, 0, _K_CONS))
    )
    period = lc.b2b_period_days / scale * (0.7 + 0.6 * knob(_K_PERIOD))
    qty_base = np.array([c.quantity_median for c in channels])[channel] * np.exp(
        0.5 * draws.normal(Stream.KNOBS, ids, 0, _K_QTY)
    )
    disc_lo = np.array([c.discount_min for c in channels])[channel]
    disc_hi = np.array([c.discount_max for c in channels])[channel]
    standing_discount = disc_lo + (disc_hi - disc_lo) * knob(_K_DISCOUNT)
    first_store, n_stores = model.stores[country, channel, 0], model.stores[country, channel, 1]
    home_store = first_store + draws.integers(Stream.KNOBS, n_stores, ids, 0, _K_STORE)
    nth_opt = option(_K_NTH, len(model.nth))
    dev_opt = option(_K_DEVICE, len(model.device))
    ref_opt = option(_K_REFILL, len(model.refill_cdf))
    p_acc = model.p_acc[option(_K_ACC, len(model.p_acc))]
    p_spare = model.p_spare[option(_K_SPARE, len(model.p_spare))]

    # The lost decision: a daily hazard from the yearly loss, counted from the first purchase.
    hazard = -math.log(max(1e-12, 1.0 - lc.yearly_loss)) / 365.25 * model.rates.loss_scale
    hazard = np.where(segment == B2B, hazard * lc.b2b_loss_factor, hazard)
    lost_after = draws.geometric_failures(np.minimum(hazard, 1.0), Stream.KNOBS, ids, 0, _K_LOST)
    first_delay = draws.geometric_failures(
        np.full(n, 1.0 / (1.0 + lc.first_purchase_delay_days)), Stream.KNOBS, ids, 0, _K_FIRST
    )

    weekday_max = model.weekday.max(axis=1)
    month_max = model.month.max()
    dormant_mu = math.log(max(1.0, lc.dormant_median_days))
    refill_pool, refill_cdf = model.pools["REFILL"], model.pool_cdf["REFILL"]
    device_pool = model.pools["DEVICE"]
    dev_width = model.device.shape[1]

    calendar = _Calendar(int(created.min(initial=till)), till + 1)
    # -- event loop: one purchase day (or one rejected candidate) per customer per iteration ------
    rows = np.arange(n)
    cur = created.copy()
    counter = 0
    first = np.full(n, -1, dtype=np.int64)
    lost_day = np.full(n, np.iinfo(np.int64).max // 4, dtype=np.int64)
    owned = np.zeros(n, dtype=np.int64)
    grams_last = np.zeros(n, dtype=np.float64)
    dormant_since = np.full(n, -1, dtype=np.int64)
    ev_rows, ev_days, ev_keys, ev_device, ev_refills = [], [], [], [], []
    ev_ref_product, ev_ref_quantity = [], []  # the refill lines' products and units, in event order
    life_rows, life_codes, life_days = [], [], []
    while len(rows):
        k = counter
        idr = ids[rows]
        seg = segment[rows]
        started = first[rows] >= 0
        years = np.where(started, (cur[rows] - first[rows]) / 365.25, 0.0)
        drift = np.exp(trend[rows] * years)
        # the iteration's draws in one call (_LOOP_DRAWS: the same numbers as one call each)
        u = draws.columns(idr, k, 0, _LOOP_DRAWS)
        ub, ud, uw = u[:, :4], u[:, 4:7], u[:, 7:]
        # candidate gap, by segment
        occ_gap = 1 + geometric_of(ub[:, 0], np.minimum(occ_rate[rows] * drift, 1.0))
        noise = np.exp(0.2 * normal_of(ub[:, 1], ub[:, 2]))
        loyal_gap = np.where(
            grams_last[rows] > 0,
            np.ceil(grams_last[rows] / (consumption[rows] * drift) * noise),
            occ_gap,
        )
        b2b_gap = np.maximum(1, np.round(period[rows] / drift * noise))
        gap = np.where(seg == LOYAL, loyal_gap, np.where(seg == B2B, b2b_gap, occ_gap)).astype(np.int64)
        gap = np.where(started, gap, first_delay[rows])
        # a dormant spell stretches the gap; it began when the purchase was due
        goes_dormant = started & (ud[:, 0] < lc.p_dormant) & (dormant_since[rows] < 0)
        dormant_since[rows] = np.where(goes_dormant, cur[rows] + gap, dormant_since[rows])
        cand = cur[rows] + gap
        if goes_dormant.any():
            z = normal_of(ud[goes_dormant, 1], ud[goes_dormant, 2])
            cand[goes_dormant] += np.maximum(30, np.round(np.exp(dormant_mu + 0.5 * z))).astype(np.int64)
        # occasional buying follows the months: thin candidates by the month's weight
        month = calendar.month(np.minimum(cand, till + 1))  # a day after the range never buys anyway
        keep = (seg != OCCASIONAL) | ~started | (ub[:, 3] * month_max < model.month[month])
        # and every channel has its weekdays: move forward to a day the customer's channel trades
        ch = channel[rows]
        # each customer stops at its first accepted day (draw j on the j-th day tried), whatever the others
        # do: three days at once first, then one at a time for the few still moving
        ahead = np.arange(_WEEKDAYS_AT_ONCE)
        weekday = (cand[:, None] + ahead + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
        ok = uw * weekday_max[ch][:, None] < model.weekday[ch[:, None], weekday]
        tried = np.where(ok.any(axis=1), ok.argmax(axis=1), _WEEKDAYS_AT_ONCE)
        cand += tried
        moving = np.flatnonzero(tried == _WEEKDAYS_AT_ONCE)
        for j in range(_WEEKDAYS_AT_ONCE, 14) if len(moving) else ():
            wd = (cand[moving] + 3) % 7
            c = ch[moving]
            ok = draws.uniform(Stream.WEEKDAY, idr[moving], k, j) * weekday_max[c] < model.weekday[c, wd]
            moving = moving[~ok]
            if not len(moving):
                break
            cand[moving] += 1
        # the first purchase fixes the lost-decision date (one-time buyers decide the same day)
        newly = ~started
        first_here = np.where(newly, cand, first[rows])
        lost_here = first_here + 1 + np.where(seg == ONE_TIME, 0, lost_after[rows])
        end = np.minimum(lost_here, till + 1)
        buys = keep & (cand < end)
        stop = cand >= end
        # record the purchase: the first invoice's device and refills (they drive the next gap)
        r = rows[buys]
        if len(r):
            key = counter * _INVOICES_PER_EVENT
            o = owned[r]
            p_dev = model.device[dev_opt[r], np.minimum(o, dev_width - 1)]
            ui = draws.uniforms(Stream.INVOICE, ids[r], key, 0, (_I_DEVICE, _I_HAS_REFILL, _I_N_REFILL))
            device = (ui[:, 0] < p_dev) & (len(device_pool) > 0)
            has_ref = (ui[:, 1] < s.basket.p_refill_invoice) & (len(refill_pool) > 0)
            n_ref = np.where(has_ref, _count_of(ui[:, 2], model.refill_cdf[ref_opt[r]]), 0)
            # every refill line of these invoices at once (keyed by its line number, from 1)
            of = np.repeat(np.arange(len(r)), n_ref)
            line = 1 + np.arange(len(of)) - np.repeat(np.cumsum(n_ref) - n_ref, n_ref)
            u = draws.columns(ids[r][of], key, line, _REFILL_DRAWS)
            prod = _pick_of(u[:, 0], refill_pool, refill_cdf)
            qty = _quantity_of(u[:, 1:], qty_base[r][of])
            grams = np.bincount(of, weights=model.gramm[prod] * qty, minlength=len(r))
            owned[r] += device
            grams_last[r] = grams
            ev_rows.append(r)
            ev_days.append(cand[buys])
            ev_keys.append(np.full(len(r), counter, dtype=np.int64))
            ev_device.append(device)
            ev_refills.append(n_ref)
            ev_ref_product.append(prod)
            ev_ref_quantity.append(qty)
            became = newly[buys]
            back = dormant_since[r] >= 0
            for code, mask, days in (
                (FIRST_PURCHASE, became, cand[buys]),
                (DORMANT, back, dormant_since[r]),
                (REACTIVATED, back, cand[buys]),
            ):
                if mask.any():
                    life_rows.append(r[mask])
                    life_codes.append(np.full(int(mask.sum()), code))
                    life_days.append(days[mask])
            dormant_since[r] = -1
        bought_first = rows[buys & newly]
        first[bought_first] = cand[buys & newly]
        lost_day[bought_first] = lost_here[buys & newly]
        cur[rows] = cand
        # customers that stop: a dormancy that had begun before the end is recorded without return
        done = rows[stop]
        ds = dormant_since[done]
        dorm = (ds >= 0) & (ds < np.minimum(lost_day[done], till + 1))
        if dorm.any():
            life_rows.append(done[dorm])
            life_codes.append(np.full(int(dorm.sum()), DORMANT))
            life_days.append(ds[dorm])
        rows = rows[~stop]
        counter += 1

    if ev_rows:
        e_row, e_day, e_key = np.concatenate(ev_rows), np.concatenate(ev_days), np.concatenate(ev_keys)
        e_dev, e_ref = np.concatenate(ev_device), np.concatenate(ev_refills)
        ref_product, ref_quantity = np.concatenate(ev_ref_product), np.concatenate(ev_ref_quantity)
    else:
        e_row = e_day = e_key = e_ref = ref_product = ref_quantity = np.zeros(0, dtype=np.int64)
        e_dev = np.zeros(0, dtype=bool)
    order = np.lexsort((e_key, e_row))
    e_ref_start = (np.cumsum(e_ref) - e_ref)[order]  # where each event's refill lines are in ref_*
    e_row, e_day, e_key, e_dev, e_ref = e_row[order], e_day[order], e_key[order], e_dev[order], e_ref[order]

    # -- several invoices on one day: the (j+1)-th follows the j-th with p_invoice_by_nth[j]; a one-time
    # buyer makes one invoice
    per_day = np.ones(len(e_row), dtype=np.int64)
    going = np.arange(len(e_row))
    width = model.nth.shape[1]
    for j in range(1, MAX_INVOICES_PER_DAY):
        if not len(going):
            break
        p = np.where(
            segment[e_row[going]] == ONE_TIME, 0.0, model.nth[nth_opt[e_row[going]], min(j, width - 1)]
        )
        more = draws.uniform(Stream.NTH_INVOICE, ids[e_row[going]], e_key[going], j) < p
        going = going[more]
        per_day[going] += 1
    inv_event = np.repeat(np.arange(len(e_row)), per_day)
    inv_j = np.arange(len(inv_event)) - np.repeat(np.cumsum(per_day) - per_day, per_day)
    inv_row = e_row[inv_event]
    inv_day = e_day[inv_event]
    inv_key = e_key[inv_event] * _INVOICES_PER_EVENT + inv_j
    n_inv = len(inv_row)
    counts = np.bincount(inv_row, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    inv_seq = np.arange(n_inv, dtype=np.int64) - starts[inv_row] + 1
    inv_cust = ids[inv_row]

    def inv_u(b: int) -> np.ndarray:
        return draws.uniform(Stream.INVOICE, inv_cust, inv_key, b)

    # -- baskets: the first invoice of a day keeps the loop's device and refills; others draw theirs --
    first_of_day = inv_j == 0
    has_device = np.where(first_of_day, e_dev[inv_event], False)
    has_ref = (inv_u(_I_HAS_REFILL) < s.basket.p_refill_invoice) & (len(refill_pool) > 0)
    n_ref_other = np.where(
        has_ref, _count(draws, model.refill_cdf[ref_opt[inv_row]], inv_cust, inv_key, _I_N_REFILL), 0
    )
    n_refill = np.where(first_of_day, e_ref[inv_event], n_ref_other)
    has_acc = (inv_u(_I_ACC) < p_acc[inv_row]) & (len(model.pools["ACCESSORY"]) > 0)
    n_acc = np.where(has_acc, _count(draws, model.acc_cdf, inv_cust, inv_key, _I_N_ACC), 0)
    has_spare = (inv_u(_I_SPARE) < p_spare[inv_row]) & (len(model.pools["SPARE_PART"]) > 0)
    empty = ~has_device & (n_refill == 0) & (n_acc == 0) & ~has_spare
    fallback = _fallback_role(model, s.basket.fallback_role)
    if fallback == "REFILL":
        n_refill = np.where(empty, 1, n_refill)
    elif fallback == "ACCESSORY":
        n_acc = np.where(empty, 1, n_acc)
    elif fallback == "DEVICE":
        has_device = has_device | empty
    else:
        has_spare = has_spare | empty

    # -- lines: device, refills (keyed 1..), accessories, spare part ---------------------------------
    n_lines = has_device.astype(np.int64) + n_refill + n_acc + has_spare
    line_inv = np.repeat(np.arange(n_inv), n_lines)
    line_pos = np.arange(len(line_inv)) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines)
    dev_l = has_device[line_inv]
    ref_l = n_refill[line_inv]
    after_dev = line_pos - dev_l
    role = np.select(
        [dev_l & (line_pos == 0), after_dev < ref_l, after_dev < ref_l + n_acc[line_inv]],
        [0, 1, 2],
        3,
    )
    # refills are keyed by their refill number + 1 (as in the loop); other roles after them
    key_b = np.select([role == 0, role == 1], [0, 1 + after_dev], 1 + after_dev + 8)
    key_b = np.minimum(key_b, _MAX_LINES)
    l_cust, l_key = inv_cust[line_inv], inv_key[line_inv]
    l_row = inv_row[line_inv]
    # the refill lines the event loop drew (the first invoice of a day) keep its products and units: the
    # same keyed draws, not made twice
    l_event = inv_event[line_inv]
    looped = (role == 1) & first_of_day[line_inv] & (after_dev < e_ref[l_event]) & (key_b == 1 + after_dev)
    drawn = ~looped
    product = np.zeros(len(line_inv), dtype=np.int64)
    quantity = np.zeros(len(line_inv), dtype=np.int64)
    src = e_ref_start[l_event[looped]] + after_dev[looped]
    product[looped], quantity[looped] = ref_product[src], ref_quantity[src]
    for code, name in enumerate(("DEVICE", "REFILL", "ACCESSORY", "SPARE_PART")):
        m = (role == code) & drawn
        if m.any():
            product[m] = _pick(draws, model.pools[name], model.pool_cdf[name], l_cust[m], l_key[m], key_b[m])
    quantity[drawn] = _quantity(draws, l_cust[drawn], l_key[drawn], key_b[drawn], qty_base[l_row[drawn]])
    quantity = np.where(role == 0, np.where(qty_base[l_row] > 1, quantity, 1), quantity)
    # Every stage below holds a few arrays of one value per line: those of the stages done are let go
    # as soon as they are used up, so that they do not add up to the block's peak memory.
    del line_pos, dev_l, ref_l, after_dev, role, l_event, looped, drawn, src, first_of_day, inv_event, inv_j
    del e_row, e_day, e_key, e_dev, e_ref, e_ref_start, ref_product, ref_quantity, per_day, going
    del has_device, has_ref, n_ref_other, n_refill, has_acc, n_acc, has_spare, empty, n_lines

    # -- prices: list price x yearly increases x (standing discount or a promotion) -----------------
    l_day = inv_day[line_inv]
    year = calendar.year(l_day)
    index = (1.0 + s.seasonality.price_increase_per_year) ** (year - cfg.date_from.year)
    l_month = calendar.month(l_day)
    promo_p = s.seasonality.promo_share * np.where(l_month == 10, 2.5, 1.0)
    u_promo = draws.uniform(Stream.PRICE, l_cust, l_key, key_b)
    promo = (u_promo < promo_p) & ~is_b2b[l_row]
    lo, hi = s.seasonality.promo_discount_min, s.seasonality.promo_discount_max
    promo_discount = lo + (hi - lo) * draws.uniform(Stream.PRICE, l_cust, l_key, key_b + 128)
    discount = np.where(promo, promo_discount, standing_discount[l_row])
    unit_price = np.maximum(1, np.round(model.prices[product] * index * (1.0 - discount))).astype(np.int64)
    revenue = quantity * unit_price
    del year, index, l_month, promo_p, u_promo, promo, promo_discount, discount

    # -- returns: credit notes for part of a line, after a lag, never more than was bought ----------
    store = home_store[inv_row]
    l_channel = channel[l_row]
    rate = np.array([c.return_rate for c in channels])[l_channel]
    returned = draws.uniform(Stream.RETURN, l_cust, l_key, key_b) < rate
    lag_mean = np.array([c.return_lag_days for c in channels])[channel[inv_row]]
    inv_lag = 1 + draws.geometric_failures(1.0 / (1.0 + lag_mean), Stream.RETURN, inv_cust, inv_key, 127)
    ret_day = (inv_day + inv_lag)[line_inv]
    returned &= ret_day <= till
    ret_idx = np.flatnonzero(returned)
    # consumers send a line back whole; a business returns part of a bulk line
    partial = 1 + (
        draws.uniform(Stream.RETURN, l_cust[ret_idx], l_key[ret_idx], key_b[ret_idx] + 128)
        * quantity[ret_idx]
    ).astype(np.int64)
    ret_qty = np.where(is_b2b[l_row[ret_idx]], np.minimum(partial, quantity[ret_idx]), quantity[ret_idx])
    del l_key, key_b, l_row, l_channel, rate, returned, partial

    # each line column, its credit notes after the sales; a column's sales are let go once it is built
    n_sales = len(line_inv)
    sales = {
        "customer_id": l_cust, "invoice_seq": inv_seq[line_inv], "invoice_date": l_day,
        "product_id": product, "quantity": quantity, "unit_price_cents": unit_price,
        "revenue_cents": revenue, "store_id": store[line_inv],
    }  # fmt: skip
    credits = {
        "invoice_date": ret_day[ret_idx], "quantity": -ret_qty, "revenue_cents": -ret_qty * unit_price[ret_idx]
    }  # fmt: skip
    del l_cust, l_day, product, quantity, unit_price, revenue, line_inv, ret_day
    lines = {}
    for name in list(sales):
        column = sales.pop(name)
        lines[name] = np.concatenate([column, credits.pop(name) if name in credits else column[ret_idx]])
        del column
    facts = BlockFacts(
        **lines,
        is_credit=np.concatenate([np.zeros(n_sales, dtype=bool), np.ones(len(ret_idx), dtype=bool)]),
        returned=np.concatenate([np.full(n_sales, -1, dtype=np.int64), ret_idx]),
        segment=segment,
        created=created,
        first_purchase=first,
        lost=np.where((first >= 0) & (lost_day <= till), lost_day, -1),
        event_customer=np.zeros(0, dtype=np.int64),
        event_code=np.zeros(0, dtype=np.int64),
        event_day=np.zeros(0, dtype=np.int64),
    )
    del lines  # the sort below replaces each column: the unsorted ones must not stay alive here
    # Each customer's credit notes follow its sales, so line numbers never depend on the block.
    if len(ret_idx):
        position = np.arange(len(facts.customer_id))
        order = np.lexsort((position, facts.is_credit, facts.customer_id))
        new_index = np.empty_like(order)
        new_index[order] = np.arange(len(order))
        for name in ("customer_id", "invoice_seq", "is_credit", "invoice_date", "product_id", "quantity",
                     "unit_price_cents", "revenue_cents", "store_id", "returned"):  # fmt: skip
            setattr(facts, name, getattr(facts, name)[order])
        facts.returned = np.where(facts.returned >= 0, new_index[np.maximum(facts.returned, 0)], -1)
    _lifecycle_events(facts, ids, life_rows, life_codes, life_days)
    return facts


def _fallback_role(model: Model, wanted: str) -> str:
    """The role an otherwise empty invoice gets: the scenario's, or the first role the catalog has."""
    for role in (wanted, "REFILL", "ACCESSORY", "DEVICE", "SPARE_PART"):
        if len(model.pools[role]):
            return role
    raise ValueError("empty catalog")


def _lifecycle_events(facts: BlockFacts, ids, life_rows, life_codes, life_days) -> None:
    n = len(ids)
    rows = [np.arange(n)]
    codes = [np.full(n, ACQUIRED)]
    days = [facts.created]
    lost = facts.lost >= 0
    rows.append(np.flatnonzero(lost))
    codes.append(np.full(int(lost.sum()), LOST))
    days.append(facts.lost[lost])
    r = np.concatenate(rows + life_rows)
    c = np.concatenate(codes + life_codes)
    d = np.concatenate(days + life_days)
    order = np.lexsort((c, d, r))
    facts.event_customer, facts.event_code, facts.event_day = ids[r[order]], c[order], d[order]


# line columns that fit in 32 bits: customer ids (up to config.MAX_CUSTOMERS), invoice numbers, days,
# product and store ids, and `returned` (an index within the block); quantities and money stay 64-bit,
# as the sinks compute with them
_NARROW = ("customer_id", "invoice_seq", "invoice_date", "product_id", "store_id", "returned")


def compact(f: BlockFacts) -> BlockFacts:
    """The block with its narrowable line columns as int32: a third less memory for every block a
    process holds and for every block sent from a worker (the values are the same)."""
    for name in _NARROW:
        setattr(f, name, getattr(f, name).astype(np.int32))
    return f


def lifecycle_only(f: BlockFacts) -> BlockFacts:
    """The block without its lines: what the lifecycle tables need, in the narrowest integer types."""
    empty = np.zeros(0, dtype=np.int8)
    return BlockFacts(
        *(empty,) * 10,
        segment=f.segment.astype(np.int8),
        created=f.created.astype(np.int32),
        first_purchase=f.first_purchase.astype(np.int32),
        lost=f.lost.astype(np.int32),
        event_customer=f.event_customer.astype(np.int32),
        event_code=f.event_code.astype(np.int8),
        event_day=f.event_day.astype(np.int32),
        lines=len(f),
    )
