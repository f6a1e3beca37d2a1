"""The currencies erpgen knows: ISO 4217 code, name and decimals, where each one's exchange-rate walk
starts and how much it moves, and which currency a country code usually means.

The start levels are US dollars per unit around 2015-2019; the walk (erpgen.exchange_rates) crosses them
into the company's currency. A currency moves with a common US-dollar factor (weighted by usd_beta: a
peg like the Hong Kong dollar's does not follow it) and a move of its own, so that crosses of two
majors (EUR/GBP) move less than either against the dollar, as they do.
"""

from __future__ import annotations

from dataclasses import dataclass

# Annual volatility of the common US-dollar factor: the dollar index moved about 6 % a year in 2010-2020.
USD_FACTOR_VOLATILITY = 0.06


@dataclass(frozen=True)
class Currency:
    code: str
    numeric: int  # ISO 4217's number: keys the currency's draws, so adding a currency shifts no other walk
    name: str
    decimals: int  # minor units, as ISO 4217 lists them
    usd_level: float  # US dollars per unit where the walk starts
    volatility: float  # annual volatility of its own move (log-returns), beside the dollar factor
    usd_beta: float = 1.0  # how much of the dollar factor it follows (0: pegged to the dollar)


_CURRENCIES = (
    Currency("AUD", 36, "Australian Dollar", 2, 0.72, 0.075),
    Currency("BRL", 986, "Brazilian Real", 2, 0.26, 0.12),
    Currency("CAD", 124, "Canadian Dollar", 2, 0.76, 0.045),
    Currency("CHF", 756, "Swiss Franc", 2, 1.02, 0.05),
    Currency("CNY", 156, "Yuan Renminbi", 2, 0.15, 0.03, usd_beta=0.3),
    Currency("CZK", 203, "Czech Koruna", 2, 0.043, 0.05),
    Currency("EUR", 978, "Euro", 2, 1.12, 0.045),
    Currency("GBP", 826, "Pound Sterling", 2, 1.30, 0.055),
    Currency("HKD", 344, "Hong Kong Dollar", 2, 0.128, 0.004, usd_beta=0.0),
    Currency("HUF", 348, "Forint", 2, 0.0035, 0.07),
    Currency("INR", 356, "Indian Rupee", 2, 0.014, 0.05, usd_beta=0.5),
    Currency("JPY", 392, "Yen", 0, 0.0090, 0.065),
    Currency("KRW", 410, "Won", 0, 0.00085, 0.06, usd_beta=0.7),
    Currency("MXN", 484, "Mexican Peso", 2, 0.052, 0.11),
    Currency("NOK", 578, "Norwegian Krone", 2, 0.115, 0.07),
    Currency("NZD", 554, "New Zealand Dollar", 2, 0.68, 0.075),
    Currency("PLN", 985, "Zloty", 2, 0.26, 0.06),
    Currency("SEK", 752, "Swedish Krona", 2, 0.11, 0.06),
    Currency("SGD", 702, "Singapore Dollar", 2, 0.74, 0.03, usd_beta=0.6),
    Currency("USD", 840, "US Dollar", 2, 1.0, 0.0, usd_beta=0.0),
    Currency("ZAR", 710, "Rand", 2, 0.068, 0.13),
)
CURRENCIES = {c.code: c for c in _CURRENCIES}

_EURO = ("AT", "BE", "CY", "DE", "EE", "ES", "FI", "FR", "GR", "HR", "IE", "IT", "LT", "LU", "LV", "MT",
         "NL", "PT", "SI", "SK")  # fmt: skip
# A country code's usual currency. Scenarios name countries by ISO 3166 code, or by the UK's usual "UK".
USUAL = {
    **dict.fromkeys(_EURO, "EUR"),
    "AU": "AUD", "BR": "BRL", "CA": "CAD", "CH": "CHF", "LI": "CHF", "CN": "CNY", "CZ": "CZK",
    "GB": "GBP", "UK": "GBP", "HK": "HKD", "HU": "HUF", "IN": "INR", "JP": "JPY", "KR": "KRW",
    "MX": "MXN", "NO": "NOK", "NZ": "NZD", "PL": "PLN", "SE": "SEK", "SG": "SGD", "US": "USD",
    "ZA": "ZAR",
}  # fmt: skip


def usual_currency(country: str) -> str | None:
    """The currency a country code usually means, None for a code erpgen does not know."""
    return USUAL.get(country.upper())
