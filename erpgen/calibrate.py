"""Business targets -> internal rates, by simulating a pilot sample and adjusting.

The scenario states targets in business terms: the share of buyers who buy once, the yearly retention
of active customers and the orders per active customer per year. Each depends mainly on one internal
rate (the one-time segment share, the lost-decision hazard, the purchase frequency scale), but not in
closed form: censoring at the end of the range, dormancy and seasonality all bend it. So erpgen
simulates a fixed pilot of customers (seeded from the run's seed, independent of --n-customers) and
moves each rate toward its target for a few rounds. It is deterministic and takes well under a second.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from erpgen.catalog import Catalog
from erpgen.config import GenerateConfig
from erpgen.dates import EPOCH
from erpgen.rng import Draws
from erpgen.simulation import Model, Rates, simulate_block

PILOT_CUSTOMERS = 2500
ROUNDS = 6


@dataclass(frozen=True)
class Metrics:
    one_time_share: float
    yearly_retention: float
    orders_per_active_year: float


def measure(facts) -> Metrics:
    """The three calibrated figures, computed exactly as `erpgen validate` computes them in SQL."""
    sales = ~facts.is_credit
    cust, seq, day = facts.customer_id[sales], facts.invoice_seq[sales], facts.invoice_date[sales]
    inv = np.unique(cust * 10_000_000 + seq)
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
    orders = np.unique(cust * 10_000_000 + seq).size / max(1, active.size)
    return Metrics(one_time, float(retention), float(orders))


def calibrate(cfg: GenerateConfig, catalog: Catalog) -> Rates:
    t = cfg.scenario.targets
    pilot = dataclasses.replace(cfg, scenario=dataclasses.replace(cfg.scenario, n_customers=PILOT_CUSTOMERS))
    ids = np.arange(1, PILOT_CUSTOMERS + 1, dtype=np.int64)
    draws = Draws(cfg.seed)
    rates = Rates(p_one_time=t.one_time_share * 0.8)
    for _ in range(ROUNDS):
        m = measure(simulate_block(Model(pilot, catalog, rates), ids, draws))
        close = (
            abs(m.one_time_share - t.one_time_share) < t.one_time_tolerance / 4
            and abs(m.yearly_retention - t.yearly_retention) < t.retention_tolerance / 4
            and abs(m.orders_per_active_year / t.orders_per_active_customer_per_year - 1)
            < t.orders_tolerance / 4
        )
        if close:  # well inside every tolerance: more rounds would only chase the pilot's noise
            break
        p_one_time = float(np.clip(rates.p_one_time + (t.one_time_share - m.one_time_share), 0.0, 0.95))
        rate_scale = rates.rate_scale * (
            t.orders_per_active_customer_per_year / max(m.orders_per_active_year, 1e-6)
        )
        churn_ratio = (1.0 - t.yearly_retention) / max(1.0 - m.yearly_retention, 1e-3)
        loss_scale = rates.loss_scale * churn_ratio**1.5
        rates = Rates(
            p_one_time=p_one_time,
            rate_scale=float(np.clip(rate_scale, 0.05, 20.0)),
            loss_scale=float(np.clip(loss_scale, 0.0, 50.0)),
        )
    return rates
