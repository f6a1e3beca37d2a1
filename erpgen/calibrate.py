"""Business targets -> internal rates, by simulating a pilot sample and adjusting; and what it could not reach.

The scenario states targets in business terms: the share of buyers who buy once, the yearly retention
of active customers and the orders per active customer per year. Each depends mainly on one internal
rate, its knob (the one-time segment share, the lost-decision hazard, the purchase frequency scale), but
not in closed form: censoring at the end of the range, dormancy and seasonality all bend it, and the
knobs pull on each other's figures. So erpgen simulates a fixed pilot of customers (seeded from the run's
seed, independent of --n-customers) and moves each rate toward its target for a few rounds. It is
deterministic and takes well under a second.

Targets can ask for what no setting of the knobs gives (99 % one-time buyers and 95 % retention at once).
The pilot then measures the figures the final rates give, and a figure further from its target than
`erpgen validate` allows, plus the pilot's own sampling error, is a Shortfall: it names the knob that
fights it, and the run refuses to load unless told to accept it (erpgen.pipeline). A figure the range is
too short to show (one-time buyers on a range of days: nobody has had time to come back) is not a
shortfall: over a longer range the same rates meet it, which the pilot checks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from erpgen.catalog import Catalog
from erpgen.config import GenerateConfig
from erpgen.dates import EPOCH
from erpgen.rng import Draws
from erpgen.scenario import parse
from erpgen.simulation import Model, Rates, simulate_block

PILOT_CUSTOMERS = 2500
ROUNDS = 6
# How far each knob may go: the clip of every round, and the ends the attribution of a shortfall tries.
KNOB_RANGE = {"p_one_time": (0.0, 0.95), "rate_scale": (0.05, 20.0), "loss_scale": (0.0, 50.0)}
NOISE_Z = 2.0  # pilot standard errors added to validate's tolerance before a figure counts as missed
LONG_RANGE_DAYS = 4 * 365  # a range this long shows every figure: shorter ones are tried at this length
ATTRIBUTION_CUSTOMERS = PILOT_CUSTOMERS // 5  # what-ifs only rank the knobs: a smaller pilot does


@dataclass(frozen=True)
class Metrics:
    one_time_share: float
    yearly_retention: float
    orders_per_active_year: float
    # what each figure was measured on, for its sampling error
    buyers: int = 0
    retention_base: int = 0  # active customer-years before the last year (0: retention not measurable)
    orders_relative_se: float = 0.0
    order_share: tuple[float, ...] = ()  # of orders (invoices), per channel in the scenario's order
    orders: int = 0
    customers: int = 0  # of the sample measured (buyers or not)


@dataclass(frozen=True)
class Figure:
    """One calibrated figure: its name in `erpgen validate`, where its target lives, and its knob."""

    name: str
    metric: str  # the Metrics field
    target: str  # the Targets fields of its target and tolerance
    tolerance: str
    relative: bool  # tolerance relative to the target (else absolute)
    knob: str  # the Rates field that moves it most


FIGURES = (
    Figure("one-time buyers (share of buyers)", "one_time_share", "one_time_share", "one_time_tolerance",
           False, "p_one_time"),
    Figure("yearly retention of active customers", "yearly_retention", "yearly_retention",
           "retention_tolerance", False, "loss_scale"),
    Figure("orders per active customer per year", "orders_per_active_year",
           "orders_per_active_customer_per_year", "orders_tolerance", True, "rate_scale"),
)  # fmt: skip
_FIGURE_OF = {f.knob: f for f in FIGURES}


@dataclass(frozen=True)
class Shortfall:
    """A target the calibration could not reach: what it reached, and why."""

    figure: str
    target: float
    reached: float
    knob_at_limit: str | None  # "its knob <knob> is at its limit <value>", if it is
    fought_by: str | None  # the other knob whose move brings the figure closest to its target, and its figure

    def why(self) -> str:
        reasons = [self.knob_at_limit, self.fought_by and f"{self.fought_by} fights it"]
        return "; ".join(r for r in reasons if r)

    def describe(self) -> str:
        why = self.why()
        return f"{self.figure}: target {self.target:g}, reached {self.reached:.3g}" + (
            f" ({why})" if why else ""
        )

    def as_record(self) -> dict[str, object]:
        return {"target": self.target, "reached": round(self.reached, 4), "why": self.why()}


def measure(facts, channel_of_store: np.ndarray | None = None) -> Metrics:
    """The calibrated figures, computed exactly as `erpgen validate` computes them in SQL; the share of
    orders per channel when given each store's channel (index)."""
    sales = ~facts.is_credit
    cust, seq, day = facts.customer_id[sales], facts.invoice_seq[sales], facts.invoice_date[sales]
    inv, first_line = np.unique(cust * 10_000_000 + seq, return_index=True)
    inv_cust = inv // 10_000_000
    per_customer = np.bincount(inv_cust)
    buyers = per_customer > 0
    one_time = float((per_customer == 1).sum() / max(1, buyers.sum()))
    # calendar years, not years since 1970: those are negative before 1970 and would break the packing
    year = (EPOCH + day.astype("timedelta64[D]")).astype("datetime64[Y]").astype(np.int64) + 1970
    active = np.unique(cust * 10_000 + year)
    a_cust, a_year = active // 10_000, active % 10_000
    active_set = set(active.tolist())
    last_year = a_year.max(initial=0)
    base = a_year < last_year
    kept = sum(
        (c * 10_000 + y + 1) in active_set for c, y in zip(a_cust[base].tolist(), a_year[base].tolist())
    )
    retention = kept / max(1, int(base.sum()))
    orders = inv.size / max(1, active.size)
    # orders of each active customer-year, for the figure's sampling error
    _, per_active = np.unique(inv_cust * 10_000 + year[first_line], return_counts=True)
    spread = float(per_active.std()) if per_active.size else 0.0
    relative_se = spread / math.sqrt(max(1, per_active.size)) / orders if orders else 0.0
    order_share: tuple[float, ...] = ()
    if channel_of_store is not None:
        n_channels = int(channel_of_store.max(initial=0)) + 1
        per_channel = np.bincount(channel_of_store[facts.store_id[sales][first_line]], minlength=n_channels)
        order_share = tuple(float(x) for x in per_channel / max(1, inv.size))
    return Metrics(
        one_time, float(retention), float(orders), int(buyers.sum()), int(base.sum()), relative_se,
        order_share, int(inv.size),
    )  # fmt: skip


def _channel_of_store(stores: np.ndarray) -> np.ndarray:
    """Each store id's channel (index into the scenario's channels), from Model.stores."""
    first, count = stores[..., 0], stores[..., 1]
    out = np.zeros(int((first + count).max()) + 1, dtype=np.intp)
    for (country, channel), start in np.ndenumerate(first):
        out[start : start + count[country, channel]] = channel
    return out


class _Pilot:
    """The pilot sample of a run: simulate it under some rates (and, for what-ifs, another range)."""

    def __init__(self, cfg: GenerateConfig, catalog: Catalog):
        self.cfg, self.catalog, self.draws = cfg, catalog, Draws(cfg.seed)

    def measure(
        self, rates: Rates, *, customers: int = PILOT_CUSTOMERS, till: dt.date | None = None
    ) -> Metrics:
        scenario = dataclasses.replace(self.cfg.scenario, n_customers=customers)
        if till is not None:
            scenario = dataclasses.replace(scenario, date_till=till)
        pilot = dataclasses.replace(self.cfg, scenario=scenario)
        ids = np.arange(1, customers + 1, dtype=np.int64)
        model = Model(pilot, self.catalog, rates)
        m = measure(simulate_block(model, ids, self.draws), _channel_of_store(model.stores))
        return dataclasses.replace(m, customers=customers)


def calibrate(cfg: GenerateConfig, catalog: Catalog) -> Rates:
    """The rates that meet the scenario's targets on the pilot, with the targets they cannot meet
    (Rates.shortfalls, empty when every target is met)."""
    pilot = _Pilot(cfg, catalog)
    rates, measured = _fit(pilot)
    return dataclasses.replace(rates, shortfalls=shortfalls(pilot, rates, measured))


def _fit(pilot: _Pilot, till: dt.date | None = None) -> tuple[Rates, Metrics]:
    """The rounds of calibration on the pilot (over its own range, or up to `till`): the rates, and the
    figures they give."""
    t = pilot.cfg.scenario.targets
    order_target = _order_target(pilot.cfg)
    mix = tuple(c.share for c in pilot.cfg.scenario.channels.values()) if order_target else ()
    rates = Rates(p_one_time=t.one_time_share * 0.8, channel_shares=mix)
    per_customer = _orders_per_customer(pilot.cfg)
    for _ in range(ROUNDS):
        m = pilot.measure(rates, till=till)
        if per_customer is None:
            orders_close = (
                abs(m.orders_per_active_year / t.orders_per_active_customer_per_year - 1)
                < t.orders_tolerance / 4
            )
        else:
            orders_close = (
                abs(m.orders / max(1, m.customers) / per_customer - 1) < t.total_orders_tolerance / 4
            )
        close = (
            abs(m.one_time_share - t.one_time_share) < t.one_time_tolerance / 4
            and abs(m.yearly_retention - t.yearly_retention) < t.retention_tolerance / 4
            and orders_close
            and all(abs(s - o) < t.order_share_tolerance / 4 for s, o in zip(m.order_share, order_target))
        )
        if close:  # well inside every tolerance: more rounds would only chase the pilot's noise
            return rates, m
        p_one_time = rates.p_one_time + (t.one_time_share - m.one_time_share)
        if per_customer is None:
            ratio = t.orders_per_active_customer_per_year / max(m.orders_per_active_year, 1e-6)
        else:  # the repeat orders scale with the rate; each buyer's first order does not
            ratio = max(per_customer * m.customers - m.buyers, 1.0) / max(m.orders - m.buyers, 1.0)
        rate_scale = rates.rate_scale * ratio
        churn_ratio = (1.0 - t.yearly_retention) / max(1.0 - m.yearly_retention, 1e-3)
        loss_scale = rates.loss_scale * churn_ratio**1.5
        rates = Rates(
            p_one_time=_clip("p_one_time", p_one_time),
            rate_scale=_clip("rate_scale", rate_scale),
            loss_scale=_clip("loss_scale", loss_scale),
            channel_shares=_next_mix(rates.channel_shares, m.order_share, order_target),
        )
    return rates, pilot.measure(rates, till=till)  # the last round moved the rates: what they give


def _orders_per_customer(cfg: GenerateConfig) -> float | None:
    """The orders per customer a count of orders (the Odoo report's) asks for, which then sets how often
    customers buy, when the scenario holds the count tighter than the orders per active customer-year.
    None (those set it) otherwise, without a count, or for a run over other days than the scenario's,
    where the count says nothing."""
    t = cfg.scenario.targets
    if t.total_orders <= 0 or t.total_orders_tolerance >= t.orders_tolerance or not cfg.scenario_text:
        return None
    own = parse(cfg.scenario_text)  # the scenario as written, before the flags
    if (own.date_from, own.date_till) != (cfg.date_from, cfg.date_till):
        return None
    return t.total_orders / own.n_customers


def _order_target(cfg: GenerateConfig) -> tuple[float, ...]:
    """targets.order_share in the scenario's channel order; empty when the scenario has none."""
    shares = cfg.scenario.targets.order_share
    return tuple(shares[c] for c in cfg.scenario.channels) if shares else ()


def _next_mix(
    mix: tuple[float, ...], measured: tuple[float, ...], target: tuple[float, ...]
) -> tuple[float, ...]:
    """The customers' channel mix for the next round: a channel's orders per customer hardly depend on how
    many customers it has, so its share of customers scales with target / measured share of orders."""
    if not target:
        return mix
    moved = np.array([s * (o / m if m > 0 else 1.0) for s, m, o in zip(mix, measured, target)])
    return tuple(float(x) for x in moved / max(moved.sum(), 1e-12))


def _clip(knob: str, value: float) -> float:
    lo, hi = KNOB_RANGE[knob]
    return float(np.clip(value, lo, hi))


def _miss(figure: Figure, m: Metrics, targets) -> float | None:
    """How far the figure is from its target beyond what validate allows and the pilot can tell apart
    (in the tolerance's units); None when the pilot cannot measure it at all."""
    target, tolerance = getattr(targets, figure.target), getattr(targets, figure.tolerance)
    value = getattr(m, figure.metric)
    if figure.metric == "yearly_retention":
        if m.retention_base == 0:  # the range lies within one calendar year
            return None
        se = math.sqrt(value * (1 - value) / m.retention_base)
    elif figure.metric == "one_time_share":
        if m.buyers == 0:
            return None
        se = math.sqrt(value * (1 - value) / m.buyers)
    else:
        se = m.orders_relative_se
    gap = value / target - 1 if figure.relative else value - target
    return math.copysign(max(0.0, abs(gap) - tolerance - NOISE_Z * se), gap)


def shortfalls(pilot: _Pilot, rates: Rates, m: Metrics) -> tuple[Shortfall, ...]:
    """The figures the rates leave out of reach on the pilot, each with the knob that fights it."""
    cfg, t = pilot.cfg, pilot.cfg.scenario.targets
    missed = [f for f in FIGURES if _miss(f, m, t)]
    channels = [k for k in range(len(_order_target(cfg))) if _order_miss(cfg, m, k)]
    if not missed and not channels:
        return ()
    if cfg.n_days < LONG_RANGE_DAYS:
        # A short range may be all that holds a figure back (nobody has had time to come back), and it
        # drives the calibration to extremes: a figure is out of reach only if rates calibrated over a long
        # range miss it too.
        _, long = _fit(pilot, till=cfg.date_from + dt.timedelta(days=LONG_RANGE_DAYS - 1))
        missed = [f for f in missed if _miss(f, long, t)]
        channels = [k for k in channels if _order_miss(cfg, long, k)]
    return tuple(_explain(pilot, rates, f, m) for f in missed) + tuple(
        _explain_order(cfg, rates, k, m) for k in channels
    )


def _order_miss(cfg: GenerateConfig, m: Metrics, k: int) -> float | None:
    """_miss for the share of orders of the k-th channel."""
    if not m.orders or not m.order_share:
        return None
    target, value = _order_target(cfg)[k], m.order_share[k]
    se = math.sqrt(value * (1 - value) / m.orders)
    gap = value - target
    return math.copysign(max(0.0, abs(gap) - cfg.scenario.targets.order_share_tolerance - NOISE_Z * se), gap)


def _explain_order(cfg: GenerateConfig, rates: Rates, k: int, m: Metrics) -> Shortfall:
    channel = list(cfg.scenario.channels)[k]
    share = rates.channel_shares[k] if rates.channel_shares else 0.0
    # the mix is the only knob that moves orders between channels: if it did not get there, it is at an end
    at_limit = f"its knob channel_shares gives {channel} {share:.1%} of customers"
    return Shortfall(
        f"orders {channel} (share of orders)", _order_target(cfg)[k], m.order_share[k], at_limit, None
    )


def _explain(pilot: _Pilot, rates: Rates, figure: Figure, m: Metrics) -> Shortfall:
    t = pilot.cfg.scenario.targets
    own = getattr(rates, figure.knob)
    at_limit = f"its knob {figure.knob} is at its limit {own:g}" if own in KNOB_RANGE[figure.knob] else None
    # what-ifs: each other knob at either end of its range; the one that brings the figure closest wins
    gap = abs(_miss(figure, m, t) or 0.0)
    best, fought_by = gap, None
    for knob in KNOB_RANGE:
        if knob == figure.knob:
            continue
        for end in KNOB_RANGE[knob]:
            what_if = pilot.measure(
                dataclasses.replace(rates, **{knob: end}), customers=ATTRIBUTION_CUSTOMERS
            )
            miss = _miss(figure, what_if, t)
            if miss is not None and abs(miss) < best:
                best, fought_by = abs(miss), f"{knob}, set for {_FIGURE_OF[knob].name},"
    reached = getattr(m, figure.metric)
    return Shortfall(figure.name, getattr(t, figure.target), reached, at_limit, fought_by)
