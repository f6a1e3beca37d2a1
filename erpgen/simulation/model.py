"""What every block of a run shares: the calibrated rates and the tables built once from the scenario and
the catalog, so that a block only draws and looks up."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, fields

import numpy as np

from erpgen.catalog import Catalog
from erpgen.config import GenerateConfig
from erpgen.dates import day_number
from erpgen.exchange_rates import rate_units
from erpgen.rng import Draws
from erpgen.scenario import Lifecycle, hours_of
from erpgen.schema import ROLES
from erpgen.simulation.documents import Terms
from erpgen.stores import store_table


@dataclass(frozen=True)
class Rates:
    """The internal rates that targets are calibrated into (erpgen.calibrate)."""

    p_one_time: float  # share of consumer customers in the ONE_TIME segment
    rate_scale: float = 1.0  # multiplies every repeat customer's purchase frequency
    loss_scale: float = 1.0  # multiplies the daily hazard of the lost decision
    # the customers' channel mix (in the scenario's channel order) that meets targets.order_share; empty:
    # the scenario's channel shares
    channel_shares: tuple[float, ...] = ()
    # the targets these rates leave out of reach (erpgen.calibrate.Shortfall): they travel with the rates
    # from wherever the calibration ran, and change no draw
    shortfalls: tuple = field(default=(), compare=False, repr=False)

    @classmethod
    def of_record(cls, knobs: dict) -> Rates:
        """The rates a run record holds (runlog writes them as JSON, where tuples are lists)."""
        knobs = {k: v for k, v in knobs.items() if k != "shortfalls"}
        return cls(**knobs | {"channel_shares": tuple(knobs.get("channel_shares", ()))})

    def daily_loss_hazard(self, lifecycle: Lifecycle) -> float:
        """A consumer's daily chance of deciding to leave, from the scenario's yearly loss.

        The simulation draws each customer's lost decision from it and the block planner
        (plan.even_blocks) expects each customer's buying days from it: one formula for both."""
        return -math.log(max(1e-12, 1.0 - lifecycle.yearly_loss)) / 365.25 * self.loss_scale


def _derived():
    """A table Model builds from cfg and catalog: not an argument, and left out of == and hash."""
    return field(init=False, repr=False, compare=False)


@dataclass(frozen=True)
class Model:
    """Everything a block needs that does not depend on the block."""

    cfg: GenerateConfig
    catalog: Catalog
    rates: Rates
    # the last day simulated, when not cfg.date_till: `erpgen extend` moves only the horizon, so that the
    # model (its calibration, the acquisition curve, the price index) stays the original run's
    horizon: dt.date | None = None
    # the scenario's basket options as matrices, one row per option a customer may draw; ragged rows are
    # padded with their last value, which holds from then on
    invoice_by_nth: np.ndarray = _derived()  # [option, j]: p that a day's (j+1)-th invoice follows
    device_by_nth: np.ndarray = _derived()  # [option, devices owned]: p that an invoice holds a device
    refill_count_cdf: np.ndarray = _derived()  # [option, count - 1]: refill lines on an invoice
    accessory_count_cdf: np.ndarray = _derived()  # [count - 1]: accessory lines on an invoice
    p_accessory_invoice: np.ndarray = _derived()  # [option]
    p_spare_part_invoice: np.ndarray = _derived()  # [option]
    weekday_weights: np.ndarray = _derived()  # [channel, weekday (0 = Monday)]
    hour_cdf: np.ndarray = _derived()  # [channel, hour]: cdf of the hour of the day an invoice is made in
    month_weights: np.ndarray = _derived()  # [month 0-11]
    stores: np.ndarray = _derived()  # store_table: [country, channel] -> first store id, store count
    pools: dict[str, np.ndarray] = _derived()  # role -> its product ids
    pool_cdf: dict[str, np.ndarray] = _derived()  # role -> popularity cdf over its pool
    prices: np.ndarray = _derived()  # list price in cents, by product id
    gramm: np.ndarray = _derived()  # grams of refill per unit, by product id
    # what an invoice header takes from the masters (erpgen.tables.invoices_batch)
    store_currency: np.ndarray = _derived()  # by store id: its country's currency, an index into currencies
    store_payment_days: np.ndarray = _derived()  # by store id: its channel's payment terms in days
    day_rates: np.ndarray = _derived()  # [currency, day - date_from]: exchange_rates' rate_units to `till`
    # what the order-to-cash chain takes (erpgen.simulation.documents)
    store_channel: np.ndarray = _derived()  # by store id: its channel, an index into the scenario's channels
    store_abroad: np.ndarray = (
        _derived()
    )  # by store id: its country pays in another currency than the company
    terms: Terms = _derived()

    @property
    def till(self) -> int:
        """The day number of the last day simulated: no sale, return or event comes after it."""
        return day_number(self.horizon or self.cfg.date_till)

    @property
    def lookahead(self) -> int:
        """Days past `till` the purchase days are simulated for the orders placed by then and invoiced
        later (erpgen.simulation.documents)."""
        return self.terms.lookahead()

    def __post_init__(self) -> None:
        s, b = self.cfg.scenario, self.cfg.scenario.basket
        refills = _padded(b.refill_count_weights)
        accessories = np.asarray(b.accessory_count_weights, dtype=np.float64)
        pools = {role: self.catalog.ids(role) for role in ROLES}
        tables = {
            "invoice_by_nth": _padded(b.p_invoice_by_nth),
            "device_by_nth": _padded(b.p_device_by_nth),
            "refill_count_cdf": np.cumsum(refills, axis=1) / refills.sum(axis=1, keepdims=True),
            "accessory_count_cdf": np.cumsum(accessories) / accessories.sum(),
            "p_accessory_invoice": np.asarray(b.p_accessory_invoice, dtype=np.float64),
            "p_spare_part_invoice": np.asarray(b.p_spare_part_invoice, dtype=np.float64),
            "weekday_weights": np.array([c.weekday_weights for c in s.channels.values()], dtype=np.float64),
            "hour_cdf": _cdf_rows([hours_of(name, c) for name, c in s.channels.items()]),
            "month_weights": np.asarray(s.seasonality.month_weights, dtype=np.float64),
            "stores": store_table(self.cfg),
            "pools": pools,
            "pool_cdf": {role: _popularity_cdf(len(ids)) for role, ids in pools.items()},
            "prices": self.catalog.price_cents_by_id(),
            "gramm": self.catalog.gramm_by_id(),
            **_invoice_terms(self.cfg, self.till),
        }
        assert tables.keys() == {f.name for f in fields(self) if not f.init}
        for name, table in tables.items():
            object.__setattr__(self, name, table)  # how a frozen dataclass fills its init=False fields


def _invoice_terms(cfg: GenerateConfig, till: int) -> dict[str, np.ndarray]:
    """Each store's currency and payment terms, and the daily rates of the run's currencies up to `till`:
    the rates exchange_rates holds (the same keyed walk), so a header converts as a query on both would."""
    s = cfg.scenario
    stores = store_table(cfg)
    last = int((stores[:, :, 0] + stores[:, :, 1]).max())
    currency = np.zeros(last, dtype=np.int64)
    payment_days = np.zeros(last, dtype=np.int64)
    store_channel = np.zeros(last, dtype=np.int64)
    for i, country in enumerate(s.countries):
        for j, channel in enumerate(s.channels.values()):
            first, count = stores[i, j]
            currency[first : first + count] = s.currencies.index(s.currency_of(country))
            payment_days[first : first + count] = channel.payment_days
            store_channel[first : first + count] = j
    days = np.arange(day_number(cfg.date_from), till + 1, dtype=np.int64)
    return {
        "store_currency": currency,
        "store_payment_days": payment_days,
        "store_channel": store_channel,
        "store_abroad": currency != s.currencies.index(s.company_currency),
        "terms": Terms.of(s.channels),
        "day_rates": rate_units(s.currencies, s.company_currency, days, Draws(cfg.seed)),
    }


def _cdf_rows(weights: list[tuple[float, ...]]) -> np.ndarray:
    w = np.array(weights, dtype=np.float64)
    return np.cumsum(w, axis=1) / w.sum(axis=1, keepdims=True)


def _padded(rows: tuple[tuple[float, ...], ...]) -> np.ndarray:
    """Ragged schedules -> matrix, each row padded with its last value (which holds from then on)."""
    width = max(len(r) for r in rows)
    return np.array([list(r) + [r[-1]] * (width - len(r)) for r in rows], dtype=np.float64)


def _popularity_cdf(n: int) -> np.ndarray:
    """A few products sell far more than the rest (Zipf-like, exponent 0.8), as in real catalogs."""
    if n == 0:
        return np.zeros(0)
    w = 1.0 / np.arange(1, n + 1) ** 0.8
    return np.cumsum(w) / w.sum()
