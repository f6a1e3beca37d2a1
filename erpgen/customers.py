"""The customer master: creation dates spread over the range, Faker identities, missingness, opt-ins.

Faker stays off the hot path: it fills small pools once per run (first names, last names, e-mail
domains, phone numbers), and each customer's identity is assembled from the pools with counter-based
draws, so 300k customers cost about a second, not minutes, and any block can be built on its own.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from erpgen.config import GenerateConfig
from erpgen.rng import Draws, Stream

POOL_SIZE = 1000
DOMAIN_POOL_SIZE = 40
EPOCH = np.datetime64("1970-01-01", "D")

# b-values of the CUSTOMER stream: one per field, so each field's draw is independent.
(_CREATED, _HAS_FIRST, _HAS_LAST, _HAS_EMAIL, _HAS_PHONE, _FIRST, _LAST, _DOMAIN, _EMAIL_NO, _PHONE,
 _PHONE_DIGITS, _EMAIL_OPT, _SMS_OPT, _CALL_OPT, _COUNTRY, _CHANNEL, _COMPANY) = range(17)  # fmt: skip


def _ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum()) or "customer"


@dataclass(frozen=True)
class IdentityPools:
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    first_slugs: tuple[str, ...]
    last_slugs: tuple[str, ...]
    domains: tuple[str, ...]
    phones: tuple[tuple[str, tuple[int, ...]], ...]  # phone text and the positions of its last 4 digits
    companies: tuple[str, ...]
    company_slugs: tuple[str, ...]


@lru_cache(maxsize=8)
def identity_pools(locale: str, seed: int) -> IdentityPools:
    from faker import Faker

    from erpgen.rng import stream_key

    fake = Faker(locale)
    fake.seed_instance(int(stream_key(seed, Stream.CUSTOMER)))
    first = tuple(fake.first_name() for _ in range(POOL_SIZE))
    last = tuple(fake.last_name() for _ in range(POOL_SIZE))
    domains = tuple(sorted({fake.free_email_domain() for _ in range(DOMAIN_POOL_SIZE * 5)}))[
        :DOMAIN_POOL_SIZE
    ]
    phones = []
    for _ in range(POOL_SIZE):
        text = fake.phone_number()
        digits = tuple(i for i, ch in enumerate(text) if ch.isdigit())
        phones.append((text, digits[-4:]))
    companies = tuple(fake.company() for _ in range(POOL_SIZE))
    return IdentityPools(
        first,
        last,
        tuple(map(_ascii_slug, first)),
        tuple(map(_ascii_slug, last)),
        domains,
        tuple(phones),
        companies,
        tuple(map(_ascii_slug, companies)),
    )


@lru_cache(maxsize=16)
def _acquisition_cdf(date_from, n_days: int, growth: float, months: tuple[float, ...]) -> np.ndarray:
    """Cumulative share of customers created by the end of each day: growth per year x month weight."""
    days = np.datetime64(date_from, "D") + np.arange(n_days).astype("timedelta64[D]")
    month = days.astype("datetime64[M]").astype(np.int64) % 12
    weight = (1.0 + growth) ** (np.arange(n_days) / 365.25) * np.asarray(months)[month]
    cdf = np.cumsum(weight)
    return cdf / cdf[-1]


def created_day(cfg: GenerateConfig, customer_ids: np.ndarray, draws: Draws) -> np.ndarray:
    """Creation date as days since 1970-01-01.

    Customer i (1-based) of N is created at the quantile (i - 1 + u) / N of the acquisition curve (growth
    over the years, seasonal by month), so ids follow creation order (as in the original, which sorted
    by created_at) and no customer's date depends on any other customer.
    """
    season = cfg.scenario.seasonality
    cdf = _acquisition_cdf(
        cfg.date_from, cfg.n_days, season.acquisition_growth_per_year, season.month_weights
    )
    u = draws.uniform(Stream.CUSTOMER, customer_ids, 0, _CREATED)
    offset = np.searchsorted(cdf, (customer_ids - 1 + u) / cfg.n_customers, side="left")
    start = int((np.datetime64(cfg.date_from, "D") - EPOCH).astype(np.int64))
    return start + np.minimum(offset, cfg.n_days - 1)


def _mix(draws: Draws, ids: np.ndarray, b: int, shares: list[float]) -> np.ndarray:
    cdf = np.cumsum(shares) / np.sum(shares)
    return np.minimum(
        np.searchsorted(cdf, draws.uniform(Stream.CUSTOMER, ids, 0, b), side="right"), len(shares) - 1
    )


def country_index(cfg: GenerateConfig, ids: np.ndarray, draws: Draws) -> np.ndarray:
    """Index into cfg.scenario.countries (in file order) for each customer."""
    return _mix(draws, ids, _COUNTRY, [c.share for c in cfg.scenario.countries.values()])


def channel_index(cfg: GenerateConfig, ids: np.ndarray, draws: Draws) -> np.ndarray:
    """Index into cfg.scenario.channels (in file order): each customer's home channel."""
    return _mix(draws, ids, _CHANNEL, [c.share for c in cfg.scenario.channels.values()])


def locale_of(cfg: GenerateConfig, country) -> str:
    return cfg.locale_override or country.locale or cfg.faker_locale


def build_customers(cfg: GenerateConfig, customer_ids: np.ndarray, draws: Draws) -> dict[str, object]:
    """Columns of the customers table for the given ids (any subset, any order of blocks)."""
    ids = customer_ids.astype(np.int64)
    n = len(ids)

    def u(b: int) -> np.ndarray:
        return draws.uniform(Stream.CUSTOMER, ids, 0, b)

    def pick(b: int, size: int) -> np.ndarray:
        return draws.integers(Stream.CUSTOMER, size, ids, 0, b)

    has_first = u(_HAS_FIRST) < cfg.p_first_name
    has_last = u(_HAS_LAST) < cfg.p_last_name
    has_email = u(_HAS_EMAIL) < cfg.p_email
    has_phone = u(_HAS_PHONE) < cfg.p_phone
    fi, li, ci = pick(_FIRST, POOL_SIZE), pick(_LAST, POOL_SIZE), pick(_COMPANY, POOL_SIZE)
    di, en = pick(_DOMAIN, DOMAIN_POOL_SIZE), pick(_EMAIL_NO, 100)
    pi, pd = pick(_PHONE, POOL_SIZE), pick(_PHONE_DIGITS, 10_000)
    countries = list(cfg.scenario.countries.items())
    channels = list(cfg.scenario.channels)
    country = country_index(cfg, ids, draws)
    channel = channel_index(cfg, ids, draws)
    is_b2b = np.array([ch == "B2B" for ch in channels])[channel]

    first_name: list[str | None] = [None] * n
    last_name: list[str | None] = [None] * n
    email: list[str | None] = [None] * n
    phone: list[str | None] = [None] * n
    company: list[str | None] = [None] * n
    for k in range(n):
        pools = identity_pools(locale_of(cfg, countries[country[k]][1]), cfg.seed)
        f, la = fi[k], li[k]
        if has_first[k]:
            first_name[k] = pools.first_names[f]
        if has_last[k]:
            last_name[k] = pools.last_names[la]
        if is_b2b[k]:
            company[k] = pools.companies[ci[k]]
        if has_email[k]:
            domain = (
                f"{pools.company_slugs[ci[k]]}.com"
                if is_b2b[k]
                else pools.domains[di[k] % len(pools.domains)]
            )
            email[k] = f"{pools.first_slugs[f]}.{pools.last_slugs[la]}{en[k]}@{domain}"
        if has_phone[k]:
            text, positions = pools.phones[pi[k]]
            chars = list(text)
            for pos, digit in zip(positions, f"{pd[k]:04d}"):
                chars[pos] = digit
            phone[k] = "".join(chars)

    return {
        "customer_id": ids,
        "created_at": created_day(cfg, ids, draws),
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "phone": phone,
        "email_opt_in": (has_email & (u(_EMAIL_OPT) < cfg.p_email_opt_in)).astype(np.int64),
        "sms_opt_in": (has_phone & (u(_SMS_OPT) < cfg.p_sms_opt_in)).astype(np.int64),
        "call_opt_in": (has_phone & (u(_CALL_OPT) < cfg.p_call_opt_in)).astype(np.int64),
        "country": [countries[c][0] for c in country.tolist()],
        "channel": [channels[c] for c in channel.tolist()],
        "company_name": company,
    }
