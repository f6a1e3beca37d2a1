"""The currencies and exchange_rates tables: a daily rate per currency into the company's currency, from
the run's first day to its last, as a seeded random walk.

Each currency's US-dollar price is a geometric random walk from its start level (erpgen.currencies):
a common dollar factor, weighted by the currency's usd_beta, plus a move of its own; the rate into the
company's currency is the cross of two such prices, so the company's own is exactly 1 every day.
The walk moves on weekdays only, with a daily sigma of annual volatility / sqrt(WEEKDAYS_PER_YEAR), and
a Saturday or Sunday keeps Friday's rate, as the published reference rates (ECB, central banks) do.

Why a rate never depends on where the range ends (`erpgen extend` appends later days and gets what a
generate to the later day has): each day's move is a keyed draw of (seed, day, currency's ISO number),
not the next number of a sequence, and a day's level is the running sum of the moves up to it.
"""

from __future__ import annotations

import numpy as np

from erpgen.config import GenerateConfig
from erpgen.currencies import CURRENCIES, USD_FACTOR_VOLATILITY
from erpgen.dates import FIRST_DATE, day_number
from erpgen.rng import Draws, Stream
from erpgen.schema import RATE_SCALE
from erpgen.sinks.base import Batch

WEEKDAYS_PER_YEAR = 365.25 * 5 / 7
_DAY_ZERO = day_number(FIRST_DATE)  # draws are keyed by days since it: a key is never negative
_USD_FACTOR = 0  # the key of the common dollar factor's draws: no currency has ISO number 0


def currencies_batch(cfg: GenerateConfig) -> Batch:
    """The scenario's currencies, in key order."""
    codes = cfg.scenario.currencies
    company = cfg.scenario.company_currency
    return {
        "currency_code": list(codes),
        "name": [CURRENCIES[c].name for c in codes],
        "decimals": np.array([CURRENCIES[c].decimals for c in codes], dtype=np.int64),
        "is_company": np.array([c == company for c in codes], dtype=np.int64),
    }


def rates_batch(cfg: GenerateConfig, last_day: int) -> Batch:
    """exchange_rates from the run's first day to `last_day` (a day number), in key order (currency,
    day); the rate as integer units of 10^-RATE_SCALE under `rate_units` (sinks.base)."""
    codes = cfg.scenario.currencies
    days = np.arange(day_number(cfg.date_from), last_day + 1, dtype=np.int64)
    units = rate_units(codes, cfg.scenario.company_currency, days, Draws(cfg.seed))
    return {
        "currency_code": [c for c in codes for _ in range(len(days))],
        "rate_date": np.tile(days, len(codes)),
        "rate_units": units.ravel(),
    }


def rate_units(codes: tuple[str, ...], company: str, days: np.ndarray, draws: Draws) -> np.ndarray:
    """Rates of `codes` into `company` on consecutive `days` (from the walk's first day), a row per code,
    rounded to integer units of 10^-RATE_SCALE."""
    factor = _walk(draws, _USD_FACTOR, days, USD_FACTOR_VOLATILITY)
    base = _log_usd(company, days, draws, factor)
    rates = [np.exp(_log_usd(code, days, draws, factor) - base) for code in codes]
    return np.rint(np.array(rates).reshape(len(codes), len(days)) * 10**RATE_SCALE).astype(np.int64)


def _log_usd(code: str, days: np.ndarray, draws: Draws, factor: np.ndarray) -> np.ndarray:
    """log(US dollars per unit of `code`): a stronger dollar (the factor up) makes the others cheaper."""
    c = CURRENCIES[code]
    own = _walk(draws, c.numeric, days, c.volatility) if c.volatility else 0.0
    return np.log(c.usd_level) - c.usd_beta * factor + own


def _walk(draws: Draws, key: int, days: np.ndarray, annual_volatility: float) -> np.ndarray:
    """A random walk of log-returns from 0 on the first day, moving on weekdays: its value on each day."""
    sigma = annual_volatility / np.sqrt(WEEKDAYS_PER_YEAR)
    moves = draws.normal(Stream.EXCHANGE_RATE, days - _DAY_ZERO, key) * sigma
    moves[_weekday(days) >= 5] = 0.0
    moves[:1] = 0.0  # the first day is the start level
    return np.cumsum(moves)


def _weekday(days: np.ndarray) -> np.ndarray:
    """Monday 0 .. Sunday 6 (day 0, 1970-01-01, was a Thursday)."""
    return (days + 3) % 7
