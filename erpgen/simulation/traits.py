"""Stage 1, customer traits: who each customer of the block is, how often it buys and what it buys.

Drawn once per customer, before any purchase: the creation day, country and channel as erpgen.customers
draws them for the customers table, the rest from the KNOBS stream (b = what is drawn).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from erpgen.customers import channel_index, country_index, created_day
from erpgen.rng import Draws, Stream
from erpgen.simulation.facts import B2B, LOYAL, OCCASIONAL, ONE_TIME
from erpgen.simulation.model import Model

# b-values of the KNOBS stream
_K_NTH, _K_DEVICE, _K_REFILL, _K_ACC, _K_SPARE, _K_SEGMENT, _K_RATE, _K_TREND, _K_CONS, _K_PERIOD = range(10)
_K_QTY, _K_DISCOUNT, _K_STORE, _K_LOST, _K_FIRST, _K_LOSS_SPREAD = range(10, 16)


@dataclass(frozen=True)
class CustomerTraits:
    """Who each customer is, one value per customer of the block (in the block's order: its row)."""

    ids: np.ndarray
    created: np.ndarray  # day number
    channel: np.ndarray  # index into the scenario's channels
    is_b2b: np.ndarray
    segment: np.ndarray  # ONE_TIME, LOYAL, OCCASIONAL or B2B
    home_store: np.ndarray  # store id


@dataclass(frozen=True)
class BuyingRhythm:
    """When each customer buys: what the purchase-day loop needs."""

    occasional_rate: np.ndarray  # purchases per day of an OCCASIONAL customer, before its drift
    trend: np.ndarray  # yearly log-drift of the frequency
    consumption: np.ndarray  # grams per day a LOYAL customer uses up
    b2b_period: np.ndarray  # days between a B2B customer's orders
    lost_after: np.ndarray  # days from the first purchase to the lost decision (repeat customers)
    first_delay: np.ndarray  # days from creation to the first purchase


@dataclass(frozen=True)
class PurchaseHabits:
    """What each customer's invoices hold and what it pays: one option of each basket list, and more."""

    nth_option: np.ndarray  # row of Model.invoice_by_nth
    device_option: np.ndarray  # row of Model.device_by_nth
    refill_option: np.ndarray  # row of Model.refill_count_cdf
    p_accessory: np.ndarray  # chance that an invoice holds accessories
    p_spare_part: np.ndarray  # chance that an invoice holds a spare part
    quantity_base: np.ndarray  # units per line around which a B2B customer buys
    standing_discount: np.ndarray  # off list price, when not on promotion


def customer_traits(model: Model, ids: np.ndarray, draws: Draws) -> CustomerTraits:
    cfg, s = model.cfg, model.cfg.scenario
    ids = ids.astype(np.int64)
    country = country_index(cfg, ids, draws)
    channel = channel_index(cfg, ids, draws, model.rates.channel_shares)
    is_b2b = np.array([c == "B2B" for c in s.channels])[channel]
    # Segment: B2B by channel; consumers one-time, loyal (needs refills to consume) or occasional.
    u_seg = draws.uniform(Stream.KNOBS, ids, 0, _K_SEGMENT)
    p_one_time = model.rates.p_one_time
    repeat_loyal = p_one_time + (1 - p_one_time) * s.lifecycle.loyal_share
    segment = np.where(u_seg < p_one_time, ONE_TIME, np.where(u_seg < repeat_loyal, LOYAL, OCCASIONAL))
    if not len(model.pools["REFILL"]):
        segment = np.where(segment == LOYAL, OCCASIONAL, segment)
    segment = np.where(is_b2b, B2B, segment)
    first_store, n_stores = model.stores[country, channel, 0], model.stores[country, channel, 1]
    home_store = first_store + draws.integers(Stream.KNOBS, n_stores, ids, 0, _K_STORE)
    return CustomerTraits(ids, created_day(cfg, ids, draws), channel, is_b2b, segment, home_store)


def buying_rhythm(model: Model, customers: CustomerTraits, draws: Draws) -> BuyingRhythm:
    """Personal rates: lognormal spread around the scenario's medians, scaled by the calibration."""
    lc, ids, scale = model.cfg.scenario.lifecycle, customers.ids, model.rates.rate_scale

    def normal(b: int) -> np.ndarray:
        return draws.normal(Stream.KNOBS, ids, 0, b)

    occasional_rate = scale * lc.occasional_orders_per_year / 365.25 * np.exp(lc.rate_sigma * normal(_K_RATE))
    consumption = scale * lc.consumption_g_per_day * np.exp(lc.consumption_sigma * normal(_K_CONS))
    b2b_period = lc.b2b_period_days / scale * (0.7 + 0.6 * draws.uniform(Stream.KNOBS, ids, 0, _K_PERIOD))
    # The lost decision: a daily hazard from the yearly loss, counted from the first purchase.
    hazard = model.rates.daily_loss_hazard(lc)
    hazard = np.where(customers.segment == B2B, hazard * lc.b2b_loss_factor, hazard)
    if lc.loss_sigma > 0:  # no draw without a spread: the scenarios without one keep their histories
        hazard = hazard * np.exp(lc.loss_sigma * normal(_K_LOSS_SPREAD))
    lost_after = draws.geometric_failures(np.minimum(hazard, 1.0), Stream.KNOBS, ids, 0, _K_LOST)
    first_delay = draws.geometric_failures(
        np.full(len(ids), 1.0 / (1.0 + lc.first_purchase_delay_days)), Stream.KNOBS, ids, 0, _K_FIRST
    )
    trend = lc.trend_sigma * normal(_K_TREND)
    return BuyingRhythm(occasional_rate, trend, consumption, b2b_period, lost_after, first_delay)


def purchase_habits(model: Model, customers: CustomerTraits, draws: Draws) -> PurchaseHabits:
    channels, ids, channel = list(model.cfg.scenario.channels.values()), customers.ids, customers.channel

    def option(b: int, size: int) -> np.ndarray:
        return draws.integers(Stream.KNOBS, size, ids, 0, b)

    quantity_median = np.array([c.quantity_median for c in channels])[channel]
    quantity_sigma = np.array([c.quantity_sigma for c in channels])[channel]
    quantity_base = quantity_median * np.exp(quantity_sigma * draws.normal(Stream.KNOBS, ids, 0, _K_QTY))
    lo = np.array([c.discount_min for c in channels])[channel]
    hi = np.array([c.discount_max for c in channels])[channel]
    return PurchaseHabits(
        nth_option=option(_K_NTH, len(model.invoice_by_nth)),
        device_option=option(_K_DEVICE, len(model.device_by_nth)),
        refill_option=option(_K_REFILL, len(model.refill_count_cdf)),
        p_accessory=model.p_accessory_invoice[option(_K_ACC, len(model.p_accessory_invoice))],
        p_spare_part=model.p_spare_part_invoice[option(_K_SPARE, len(model.p_spare_part_invoice))],
        quantity_base=quantity_base,
        standing_discount=lo + (hi - lo) * draws.uniform(Stream.KNOBS, ids, 0, _K_DISCOUNT),
    )
