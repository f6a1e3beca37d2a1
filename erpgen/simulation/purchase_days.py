"""Stage 2, purchase days: the clock of the simulation.

The loop jumps from event to event (purchase to purchase) for all customers of the block at once: each
iteration gives every customer still active one candidate day, which it either buys on or rejects (an
occasional buyer's off-season month), or where its history ends (the lost decision, or the end of the
range). A customer's draws are keyed by its own event counter, so its history never depends on its block.

Each customer has its own rhythm: LOYAL customers buy refills when the last ones run out (the grams bought
divided by their consumption per day, so bigger refills last longer); OCCASIONAL ones buy at a personal
rate, more in the scenario's peak months; B2B ones reorder on a steady cycle. A repeat customer's
frequency drifts over the years, and it may pause in dormant spells and come back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from erpgen.dates import NO_DAY, known
from erpgen.rng import Draws, Stream, geometric_of, normal_of
from erpgen.simulation.calendar import Calendar
from erpgen.simulation.draws import (
    INVOICE_HAS_DEVICE,
    INVOICE_HAS_REFILL,
    INVOICE_N_REFILLS,
    INVOICES_PER_EVENT,
    REFILL_LINE_DRAWS,
    count_of,
    product_of,
    quantity_of,
)
from erpgen.simulation.facts import B2B, DORMANT, FIRST_PURCHASE, LOYAL, OCCASIONAL, ONE_TIME, REACTIVATED
from erpgen.simulation.model import Model
from erpgen.simulation.traits import BuyingRhythm, CustomerTraits, PurchaseHabits

# a candidate day moves forward to a day the customer's channel trades: this many days are tried with the
# iteration's batched draws, the few customers still moving then go on one day at a time, up to the last
_WEEKDAYS_AT_ONCE = 3
_MAX_WEEKDAYS_TRIED = 14
# each iteration's draws per customer, in one call: (stream, b), as separate calls would key them (a
# normal takes b and b + 128)
_STEP_DRAWS = (
    *((Stream.BUY_GAP, b) for b in (0, 1, 129, 2)),  # the gap, its noise, the month's thinning
    *((Stream.DORMANCY, b) for b in (0, 1, 129)),  # whether a dormant spell starts, its length
    *((Stream.WEEKDAY, j) for j in range(_WEEKDAYS_AT_ONCE)),  # the first weekdays tried
)


@dataclass(frozen=True)
class PurchaseDays:
    """One row per purchase day, in (customer, day) order, with the first invoice of the day's device and
    refill lines: the loop draws those itself, as the grams a loyal customer buys set its next gap."""

    row: np.ndarray  # the customer's row in the block
    day: np.ndarray
    event: np.ndarray  # the customer's event counter: the key of that day's draws
    has_device: np.ndarray
    n_refills: np.ndarray
    refill_start: np.ndarray  # where the day's refill lines start in refill_product and refill_quantity
    refill_product: np.ndarray
    refill_quantity: np.ndarray


@dataclass(frozen=True)
class History:
    """What happened to each customer besides its purchases."""

    first_purchase: np.ndarray  # per customer: day, NO_DAY if it never bought
    lost: np.ndarray  # per customer: day of the lost decision, NO_DAY if not within the range
    # FIRST_PURCHASE, DORMANT and REACTIVATED events, in no particular order
    event_row: np.ndarray
    event_code: np.ndarray
    event_day: np.ndarray

    def until(self, till: int) -> History:
        """The history as it stood at the end of day `till`: a later horizon only carries a customer's
        history on (tests/test_extend_model.py), so this is the history simulated up to `till`."""
        kept = self.event_day <= till
        return History(
            np.where(self.first_purchase <= till, self.first_purchase, NO_DAY),
            np.where(self.lost <= till, self.lost, NO_DAY),
            self.event_row[kept],
            self.event_code[kept],
            self.event_day[kept],
        )


@dataclass(frozen=True)
class _Clock:
    """What the loop reads and never changes."""

    model: Model
    customers: CustomerTraits
    rhythm: BuyingRhythm
    habits: PurchaseHabits
    calendar: Calendar
    draws: Draws
    till: int  # the range's last day
    weekday_max: np.ndarray  # per channel: its busiest weekday's weight, to thin the others against
    month_max: float  # the busiest month's weight, to thin the others against
    dormant_mu: float  # log of the median dormant spell


@dataclass
class _Progress:
    """Where each customer stands while the loop runs, one value per customer, and what it recorded."""

    day: np.ndarray  # its last candidate day (at first its creation): the next gap counts from here
    first: np.ndarray  # its first purchase, NO_DAY before
    lost_day: np.ndarray  # its lost decision, set at the first purchase
    owned: np.ndarray  # devices bought
    grams_last: np.ndarray  # refill grams bought on its last purchase day
    dormant_since: np.ndarray  # the day a dormant spell began, NO_DAY if none is under way
    # one tuple of arrays per iteration, concatenated once at the end
    purchases: list[tuple[np.ndarray, ...]] = field(default_factory=list)
    events: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)

    @classmethod
    def start(cls, created: np.ndarray) -> _Progress:
        n = len(created)
        never = np.full(n, np.iinfo(np.int64).max // 4, dtype=np.int64)
        unset = np.full(n, NO_DAY, dtype=np.int64)
        return cls(created.copy(), unset, never, np.zeros(n, dtype=np.int64), np.zeros(n), unset.copy())

    def record_events(self, rows: np.ndarray, code: int, days: np.ndarray) -> None:
        self.events.append((rows, np.full(len(rows), code), days))


def purchase_days(
    model: Model,
    customers: CustomerTraits,
    rhythm: BuyingRhythm,
    habits: PurchaseHabits,
    calendar: Calendar,
    draws: Draws,
    till: int,
) -> tuple[PurchaseDays, History]:
    """Every customer's purchase days up to `till` (which may be past model.till: History.until cuts the
    history back to it) and what happened to it besides."""
    lc = model.cfg.scenario.lifecycle
    clock = _Clock(
        model, customers, rhythm, habits, calendar, draws,
        till=till,
        weekday_max=model.weekday_weights.max(axis=1),
        month_max=model.month_weights.max(),
        dormant_mu=math.log(max(1.0, lc.dormant_median_days)),
    )  # fmt: skip
    progress = _Progress.start(customers.created)
    rows = np.arange(len(customers.ids))
    event = 0
    while len(rows):
        rows = _step(clock, progress, rows, event)
        event += 1
    return _purchase_days(progress), _history(clock, progress)


def _step(clock: _Clock, progress: _Progress, rows: np.ndarray, event: int) -> np.ndarray:
    """One candidate day for each customer of `rows`; the customers whose history goes on."""
    seg, first = clock.customers.segment[rows], progress.first[rows]
    started = known(first)
    u = clock.draws.columns(clock.customers.ids[rows], event, 0, _STEP_DRAWS)
    day = _due_day(clock, progress, rows, started, u_gap=u[:, :3], u_dormancy=u[:, 4:7])
    # occasional buying follows the months: thin candidates by the month's weight
    month = clock.calendar.month(np.minimum(day, clock.till + 1))  # a day after the range never buys anyway
    keep = (seg != OCCASIONAL) | ~started | (u[:, 3] * clock.month_max < clock.model.month_weights[month])
    _to_trading_day(clock, rows, day, event, u_weekday=u[:, 7:])
    # the first purchase fixes the lost-decision date (one-time buyers decide the same day)
    newly = ~started
    first_here = np.where(newly, day, first)
    lost_here = first_here + 1 + np.where(seg == ONE_TIME, 0, clock.rhythm.lost_after[rows])
    end = np.minimum(lost_here, clock.till + 1)
    buys = keep & (day < end)
    stop = day >= end
    if buys.any():
        _record_purchases(clock, progress, rows[buys], day[buys], newly[buys], event)
    bought_first = rows[buys & newly]
    progress.first[bought_first] = day[buys & newly]
    progress.lost_day[bought_first] = lost_here[buys & newly]
    progress.day[rows] = day
    # customers that stop: a dormancy that had begun before the end is recorded without return
    done = rows[stop]
    since = progress.dormant_since[done]
    dormant = known(since) & (since < np.minimum(progress.lost_day[done], clock.till + 1))
    if dormant.any():
        progress.record_events(done[dormant], DORMANT, since[dormant])
    return rows[~stop]


def _due_day(
    clock: _Clock,
    progress: _Progress,
    rows: np.ndarray,
    started: np.ndarray,
    u_gap: np.ndarray,
    u_dormancy: np.ndarray,
) -> np.ndarray:
    """The day each customer's next purchase is due, from its segment's gap; a dormant spell that starts
    now stretches it (the spell begins on the day the purchase was due)."""
    rhythm, lc = clock.rhythm, clock.model.cfg.scenario.lifecycle
    seg, day, grams_last = clock.customers.segment[rows], progress.day[rows], progress.grams_last[rows]
    years = np.where(started, (day - progress.first[rows]) / 365.25, 0.0)
    drift = np.exp(rhythm.trend[rows] * years)
    occasional_gap = 1 + geometric_of(u_gap[:, 0], np.minimum(rhythm.occasional_rate[rows] * drift, 1.0))
    noise = np.exp(0.2 * normal_of(u_gap[:, 1], u_gap[:, 2]))
    loyal_gap = np.where(
        grams_last > 0, np.ceil(grams_last / (rhythm.consumption[rows] * drift) * noise), occasional_gap
    )
    b2b_gap = np.maximum(1, np.round(rhythm.b2b_period[rows] / drift * noise))
    gap = np.where(seg == LOYAL, loyal_gap, np.where(seg == B2B, b2b_gap, occasional_gap))
    # A gap that ends past the range ends the history all the same: capped at the range's end, a steep
    # drift over decades or a tiny consumption cannot overflow the day numbers (fmin: NaN counts as past)
    gap = np.fmin(gap, clock.till + 1 - day).astype(np.int64)
    gap = np.where(started, gap, rhythm.first_delay[rows])
    dormant_since = progress.dormant_since[rows]
    goes_dormant = started & (u_dormancy[:, 0] < lc.p_dormant) & ~known(dormant_since)
    progress.dormant_since[rows] = np.where(goes_dormant, day + gap, dormant_since)
    due = day + gap
    if goes_dormant.any():
        z = normal_of(u_dormancy[goes_dormant, 1], u_dormancy[goes_dormant, 2])
        due[goes_dormant] += np.maximum(30, np.round(np.exp(clock.dormant_mu + 0.5 * z))).astype(np.int64)
    return due


def _to_trading_day(
    clock: _Clock, rows: np.ndarray, day: np.ndarray, event: int, u_weekday: np.ndarray
) -> None:
    """Moves each day forward, in place, to a day the customer's channel trades: the j-th day tried is
    accepted with its weekday's weight (draw j), whatever the other customers do. The first few days at
    once, then one at a time for the few still moving."""
    weights, channel = clock.model.weekday_weights, clock.customers.channel[rows]
    ahead = np.arange(_WEEKDAYS_AT_ONCE)
    weekday = (day[:, None] + ahead + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    ok = u_weekday * clock.weekday_max[channel][:, None] < weights[channel[:, None], weekday]
    tried = np.where(ok.any(axis=1), ok.argmax(axis=1), _WEEKDAYS_AT_ONCE)
    day += tried
    moving = np.flatnonzero(tried == _WEEKDAYS_AT_ONCE)
    for j in range(_WEEKDAYS_AT_ONCE, _MAX_WEEKDAYS_TRIED) if len(moving) else ():
        c = channel[moving]
        u_day = clock.draws.uniform(Stream.WEEKDAY, clock.customers.ids[rows[moving]], event, j)
        ok = u_day * clock.weekday_max[c] < weights[c, (day[moving] + 3) % 7]
        moving = moving[~ok]
        if not len(moving):
            break
        day[moving] += 1


def _record_purchases(
    clock: _Clock, progress: _Progress, rows: np.ndarray, day: np.ndarray, newly: np.ndarray, event: int
) -> None:
    """Customers `rows` buy on `day`: the day's first invoice's device and refill lines (they drive the next
    gap) and the lifecycle events the purchase ends or starts."""
    model, habits, draws = clock.model, clock.habits, clock.draws
    p_refill, refill_pool = model.cfg.scenario.basket.p_refill_invoice, model.pools["REFILL"]
    ids, key = clock.customers.ids[rows], event * INVOICES_PER_EVENT
    owned = np.minimum(progress.owned[rows], model.device_by_nth.shape[1] - 1)
    p_device = model.device_by_nth[habits.device_option[rows], owned]
    u = draws.uniforms(
        Stream.INVOICE, ids, key, 0, (INVOICE_HAS_DEVICE, INVOICE_HAS_REFILL, INVOICE_N_REFILLS)
    )
    has_device = (u[:, 0] < p_device) & (len(model.pools["DEVICE"]) > 0)
    has_refill = (u[:, 1] < p_refill) & (len(refill_pool) > 0)
    n_refills = np.where(has_refill, count_of(u[:, 2], model.refill_count_cdf[habits.refill_option[rows]]), 0)
    # every refill line of these invoices at once (keyed by its line number, from 1)
    of = np.repeat(np.arange(len(rows)), n_refills)
    line = 1 + np.arange(len(of)) - np.repeat(np.cumsum(n_refills) - n_refills, n_refills)
    u = draws.columns(ids[of], key, line, REFILL_LINE_DRAWS)
    product = product_of(u[:, 0], refill_pool, model.pool_cdf["REFILL"])
    quantity = quantity_of(u[:, 1:], habits.quantity_base[rows][of])
    progress.owned[rows] += has_device
    progress.grams_last[rows] = np.bincount(of, weights=model.gramm[product] * quantity, minlength=len(rows))
    events = np.full(len(rows), event, dtype=np.int64)
    progress.purchases.append((rows, day, events, has_device, n_refills, product, quantity))
    back = known(progress.dormant_since[rows])
    for code, mask, days in (
        (FIRST_PURCHASE, newly, day),
        (DORMANT, back, progress.dormant_since[rows]),
        (REACTIVATED, back, day),
    ):
        if mask.any():
            progress.record_events(rows[mask], code, days[mask])
    progress.dormant_since[rows] = NO_DAY


def _purchase_days(progress: _Progress) -> PurchaseDays:
    """The recorded purchases in (customer, event) order."""
    if progress.purchases:
        row, day, event, has_device, n_refills, product, quantity = map(
            np.concatenate, zip(*progress.purchases)
        )
    else:
        row = day = event = n_refills = product = quantity = np.zeros(0, dtype=np.int64)
        has_device = np.zeros(0, dtype=bool)
    order = np.lexsort((event, row))
    refill_start = (np.cumsum(n_refills) - n_refills)[order]
    return PurchaseDays(
        row[order],
        day[order],
        event[order],
        has_device[order],
        n_refills[order],
        refill_start,
        product,
        quantity,
    )


def _history(clock: _Clock, progress: _Progress) -> History:
    first, lost_day = progress.first, progress.lost_day
    lost = np.where(known(first) & (lost_day <= clock.till), lost_day, NO_DAY)
    if progress.events:
        row, code, day = map(np.concatenate, zip(*progress.events))
    else:
        row = code = day = np.zeros(0, dtype=np.int64)
    return History(first, lost, row, code, day)
