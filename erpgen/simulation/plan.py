"""How a run cuts its customers into blocks. Where blocks are cut never changes the data (every draw is
keyed by customer); it changes how much memory and time each block takes."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from erpgen.config import GenerateConfig
from erpgen.customers import acquisition_cdf
from erpgen.simulation.model import Rates

_FIRST_BURST_DAYS = 60  # a new customer's first purchases weigh about two months of buying


def blocks(n_customers: int, block_size: int) -> Iterator[np.ndarray]:
    """Customer ids 1..n_customers in blocks of block_size consecutive ids (the last one shorter)."""
    for start in range(1, n_customers + 1, block_size):
        yield np.arange(start, min(start + block_size, n_customers + 1), dtype=np.int64)


def even_blocks(cfg: GenerateConfig, rates: Rates, block_size: int) -> Iterator[np.ndarray]:
    """Blocks of consecutive customer ids, cut so that each is expected to hold about as many lines as
    block_size average customers: customers created early, with years of history, go in smaller blocks
    than newer ones. A block's lines, and so the memory it takes, then stay about the same whatever the
    number of customers and the length of the range (cut by count, the first blocks of a long range hold
    far more lines than its last ones).

    The expectation is per creation day: the acquisition curve gives how many customers start that day,
    and a customer of age A buys for about L(1 - exp(-A/L)) days (expected_buying_days), plus a burst at
    the start."""
    n, days = cfg.n_customers, cfg.n_days
    season = cfg.scenario.seasonality
    cdf = acquisition_cdf(
        cfg.date_from, days, season.acquisition_growth_per_year, season.month_weights, season.acquisition_days
    )
    created_by = np.concatenate(([0.0], cdf)) * n  # customers created before each day, and in all
    buying_days = _FIRST_BURST_DAYS + expected_buying_days(cfg, rates, days - np.arange(days))
    expected = np.cumsum(np.diff(created_by) * buying_days)
    budget = block_size * expected[-1] / n
    cuts = np.searchsorted(expected, np.arange(budget, expected[-1], budget))
    edges = np.unique(np.round(created_by[cuts + 1]).astype(np.int64).clip(1, n))
    start = 1
    for edge in [*edges.tolist(), n]:
        # no empty block, and none over 2 x block_size customers: the newest customers buy little, but a
        # block's per-customer arrays grow with its customers
        while start <= edge:
            stop = min(edge, start + 2 * block_size - 1)
            yield np.arange(start, stop + 1, dtype=np.int64)
            start = stop + 1


def expected_buying_days(cfg: GenerateConfig, rates: Rates, age: np.ndarray) -> np.ndarray:
    """About how many of its first `age` days a consumer still buys: L(1 - exp(-age/L)), L being the mean
    time to the lost decision (Rates.daily_loss_hazard, the hazard the simulation draws it from)."""
    life = 1.0 / max(rates.daily_loss_hazard(cfg.scenario.lifecycle), 1e-9)
    return life * -np.expm1(-age / life)
