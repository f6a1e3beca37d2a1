"""The customer master: creation dates spread over the range, Faker identities, missingness, opt-ins.

Faker stays off the hot path: it fills small pools once per run (first names, last names, e-mail
domains, phone numbers), and each customer's identity is assembled from the pools with counter-based
draws, with numpy over whole columns (no loop per customer), so 300k customers cost a fraction of a
second and any block can be built on its own.
"""

from __future__ import annotations

import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from itertools import accumulate

import numpy as np

from erpgen.config import GenerateConfig
from erpgen.dates import day_number
from erpgen.rng import Draws, Stream

POOL_SIZE = 1000
DOMAIN_POOL_SIZE = 40


class Field(IntEnum):
    """The b-values of the CUSTOMER stream (erpgen.rng), one per field, so that each field's draw is
    independent of the others. They are part of the data's definition: renumbering one changes every
    dataset."""

    CREATED, HAS_FIRST, HAS_LAST, HAS_EMAIL, HAS_PHONE, FIRST, LAST, DOMAIN, EMAIL_NO, PHONE = range(10)
    PHONE_DIGITS, EMAIL_OPT, SMS_OPT, CALL_OPT, COUNTRY, CHANNEL, COMPANY = range(10, 17)


def ascii_slug(text: str) -> str:
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


def _cache_weights(fake) -> None:
    """Make this Faker instance's weighted draws cheap without changing a single draw.

    Faker draws from a weighted OrderedDict (en_US and en_AU names, say, thousands of entries) with
    random.choices(keys, weights=tuple(values)), rebuilding the weight tuple and its running sums on
    every call: most of the cost of a pool. Here each provider's random_elements keeps the keys and
    running sums per dict and calls the same random.choices with cum_weights, which consumes the same
    random number and picks the same key (choices accumulates weights into those very sums); every
    other kind of draw goes to Faker's own method unchanged.
    """
    for provider in fake.get_providers():
        original, cached = provider.random_elements, {}

        def random_elements(
            elements=("a", "b", "c"), length=None, unique=False, use_weighting=None, *,
            _provider=provider, _original=original, _cached=cached,
        ):  # fmt: skip
            weighted = _provider.__use_weighting__ if use_weighting is None else use_weighting
            if length == 1 and not unique and weighted and isinstance(elements, OrderedDict):
                entry = _cached.get(id(elements))
                if entry is None or entry[0] is not elements or len(entry[1]) != len(elements):
                    entry = (elements, tuple(elements), list(accumulate(elements.values())))
                    _cached[id(elements)] = entry
                return _provider.generator.random.choices(entry[1], cum_weights=entry[2], k=1)
            return _original(elements, length, unique, use_weighting)

        provider.random_elements = random_elements


@lru_cache(maxsize=8)
def identity_pools(locale: str, seed: int) -> IdentityPools:
    from faker import Faker

    from erpgen.rng import stream_key

    fake = Faker(locale)
    _cache_weights(fake)
    fake.seed_instance(int(stream_key(seed, Stream.CUSTOMER)))
    first_name, last_name, phone_number = fake.first_name, fake.last_name, fake.phone_number
    first = tuple(first_name() for _ in range(POOL_SIZE))
    last = tuple(last_name() for _ in range(POOL_SIZE))
    domains = tuple(sorted({fake.free_email_domain() for _ in range(DOMAIN_POOL_SIZE * 5)}))[
        :DOMAIN_POOL_SIZE
    ]
    phones = []
    for _ in range(POOL_SIZE):
        text = phone_number()
        digits = tuple(i for i, ch in enumerate(text) if ch.isdigit())
        phones.append((text, digits[-4:]))
    companies = tuple(fake.company() for _ in range(POOL_SIZE))
    return IdentityPools(
        first,
        last,
        tuple(map(ascii_slug, first)),
        tuple(map(ascii_slug, last)),
        domains,
        tuple(phones),
        companies,
        tuple(map(ascii_slug, companies)),
    )


@dataclass(frozen=True)
class _PoolArrays:
    """One locale's pools as numpy arrays, ready to be indexed by a column of draws."""

    first_names: np.ndarray  # object: the pool's own str objects
    last_names: np.ndarray
    companies: np.ndarray
    first_dots: np.ndarray  # 'U': "<first slug>."
    last_slugs: np.ndarray  # 'U'
    at_domains: np.ndarray  # 'U': "@<free e-mail domain>"
    at_companies: np.ndarray  # 'U': "@<company slug>.com"
    phone_codes: np.ndarray  # int32 (POOL_SIZE, width): each phone's code points, zero-padded
    phone_slots: np.ndarray  # intp (POOL_SIZE, 4): where the 4 digits go; the last column if fewer


@lru_cache(maxsize=8)
def _pool_arrays(locale: str, seed: int) -> _PoolArrays:
    pools = identity_pools(locale, seed)

    def objects(values: tuple[str, ...]) -> np.ndarray:
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out

    def texts(values) -> np.ndarray:
        return np.array(list(values), dtype=str)

    phones = [text for text, _ in pools.phones]
    width = max(map(len, phones)) + 1  # a spare last column takes the digits of short phones
    codes = np.array(phones, dtype=f"U{width}").view(np.int32).reshape(len(phones), width)
    slots = np.full((len(phones), 4), width - 1, dtype=np.intp)
    for k, (_, positions) in enumerate(pools.phones):
        slots[k, : len(positions)] = positions
    return _PoolArrays(
        objects(pools.first_names),
        objects(pools.last_names),
        objects(pools.companies),
        texts(s + "." for s in pools.first_slugs),
        texts(pools.last_slugs),
        texts("@" + d for d in pools.domains),
        texts(f"@{s}.com" for s in pools.company_slugs),
        codes,
        slots,
    )


_NUMBERS = np.array([str(k) for k in range(100)])  # the e-mail number, 0..99, as text


@lru_cache(maxsize=16)
def acquisition_cdf(
    date_from, n_days: int, growth: float, months: tuple[float, ...], window: int = 0
) -> np.ndarray:
    """Cumulative share of customers created by the end of each day: growth per year x month weight, over
    the first `window` days only when it is not 0."""
    return _acquisition_curve(date_from, n_days, n_days, growth, months, window)


def _acquisition_curve(
    date_from, n_days: int, length: int, growth: float, months, window: int = 0
) -> np.ndarray:
    """acquisition_cdf over `length` days, still divided by its total over the first n_days: past the
    range it goes on above 1 at the same growth and seasons. Its first n_days values are acquisition_cdf's,
    bit for bit (a cumulative sum adds in order, so the days after the range change none before)."""
    days = np.datetime64(date_from, "D") + np.arange(length).astype("timedelta64[D]")
    month = days.astype("datetime64[M]").astype(np.int64) % 12
    weight = (1.0 + growth) ** (np.arange(length) / 365.25) * np.asarray(months)[month]
    if window:
        weight[window:] = 0.0
    cdf = np.cumsum(weight)
    return cdf / cdf[n_days - 1]


def created_day(cfg: GenerateConfig, customer_ids: np.ndarray, draws: Draws) -> np.ndarray:
    """Creation date as days since 1970-01-01.

    Customer i (1-based) of N is created at the quantile (i - 1 + u) / N of the acquisition curve (growth
    over the years, seasonal by month), so ids follow creation order (the CSV export's customers are sorted
    by created_at) and no customer's date depends on any other customer.

    Customers after the N-th (only `erpgen extend` asks for them) come after the range, at quantiles above 1
    of the same curve carried on past its end: new customers keep arriving at the range's rate, growth and
    seasons, and customer i's date still depends on i alone, not on how far a dataset is extended.
    """
    season = cfg.scenario.seasonality
    growth, months, window = season.acquisition_growth_per_year, season.month_weights, season.acquisition_days
    u = draws.uniform(Stream.CUSTOMER, customer_ids, 0, Field.CREATED)
    quantile = (customer_ids - 1 + u) / cfg.n_customers
    length = cfg.n_days
    while True:
        cdf = _acquisition_curve(cfg.date_from, cfg.n_days, length, growth, months, window)
        # past a closed acquisition window no one arrives: a quantile above the curve's top is never reached
        if cdf[-1] >= quantile.max(initial=0.0) or (window and length >= window):
            break
        length += max(366, length // 4)  # only past the range (ids over N): extend and look again
    offset = np.searchsorted(cdf, quantile, side="left")
    # within the range as before: a quantile that rounds to 1 stays on its last day
    offset = np.where(customer_ids <= cfg.n_customers, np.minimum(offset, cfg.n_days - 1), offset)
    return day_number(cfg.date_from) + offset


def customers_by(cfg: GenerateConfig, day: int, draws: Draws) -> int:
    """How many customers exist by the end of `day` (a day number): N within the range, more after it."""
    if day < day_number(cfg.date_till):
        raise ValueError("customers_by counts customers past the range only")
    season = cfg.scenario.seasonality
    length = day - day_number(cfg.date_from) + 1
    cdf = _acquisition_curve(
        cfg.date_from, cfg.n_days, length, season.acquisition_growth_per_year, season.month_weights,
        season.acquisition_days,
    )  # fmt: skip
    # customer i exists by `day` when its quantile (i - 1 + u) / N is at most cdf[day]: i <= N cdf + 1
    last = cfg.n_customers + int(np.ceil((cdf[-1] - 1.0) * cfg.n_customers)) + 1
    ids = np.arange(cfg.n_customers + 1, last + 1, dtype=np.int64)
    return cfg.n_customers + int((created_day(cfg, ids, draws) <= day).sum())


def _mix(draws: Draws, ids: np.ndarray, b: int, shares: list[float]) -> np.ndarray:
    cdf = np.cumsum(shares) / np.sum(shares)
    return np.minimum(
        np.searchsorted(cdf, draws.uniform(Stream.CUSTOMER, ids, 0, b), side="right"), len(shares) - 1
    )


def country_index(cfg: GenerateConfig, ids: np.ndarray, draws: Draws) -> np.ndarray:
    """Index into cfg.scenario.countries (in file order) for each customer."""
    return _mix(draws, ids, Field.COUNTRY, [c.share for c in cfg.scenario.countries.values()])


def channel_index(
    cfg: GenerateConfig, ids: np.ndarray, draws: Draws, shares: tuple[float, ...] = ()
) -> np.ndarray:
    """Index into cfg.scenario.channels (in file order): each customer's home channel. shares: the
    calibrated mix (Rates.channel_shares) in place of the scenario's, when it has one."""
    return _mix(draws, ids, Field.CHANNEL, list(shares) or [c.share for c in cfg.scenario.channels.values()])


def locale_of(cfg: GenerateConfig, country) -> str:
    return cfg.locale_override or country.locale or cfg.faker_locale


def build_customers(
    cfg: GenerateConfig, customer_ids: np.ndarray, draws: Draws, *, channel_shares: tuple[float, ...] = ()
) -> dict[str, object]:
    """Columns of the customers table for the given ids (any subset, any order of blocks). channel_shares:
    the run's Rates.channel_shares, which the simulation gives the same customers.

    Whole columns at a time: each locale's customers index that locale's pool arrays with their draws.
    Draws are pure functions of the customer, so each field is drawn only for the customers it shows.
    """
    ids = customer_ids.astype(np.int64)
    n = len(ids)

    def u(b: int) -> np.ndarray:
        return draws.uniform(Stream.CUSTOMER, ids, 0, b)

    def pick(b: int, size: int, rows: np.ndarray) -> np.ndarray:
        return draws.integers(Stream.CUSTOMER, size, ids[rows], 0, b)

    def address(pools: _PoolArrays, rows: np.ndarray, at_domain: np.ndarray) -> np.ndarray:
        text = pools.first_dots[pick(Field.FIRST, POOL_SIZE, rows)]
        text = np.strings.add(text, pools.last_slugs[pick(Field.LAST, POOL_SIZE, rows)])
        text = np.strings.add(text, _NUMBERS[pick(Field.EMAIL_NO, 100, rows)])
        return np.strings.add(text, at_domain)

    has_first = u(Field.HAS_FIRST) < cfg.p_first_name
    has_last = u(Field.HAS_LAST) < cfg.p_last_name
    has_email = u(Field.HAS_EMAIL) < cfg.p_email
    has_phone = u(Field.HAS_PHONE) < cfg.p_phone
    countries = list(cfg.scenario.countries.items())
    channels = list(cfg.scenario.channels)
    country = country_index(cfg, ids, draws)
    channel = channel_index(cfg, ids, draws, channel_shares)
    is_b2b = np.array([ch == "B2B" for ch in channels], dtype=bool)[channel]

    first_name = np.full(n, None, dtype=object)
    last_name = np.full(n, None, dtype=object)
    email = np.full(n, None, dtype=object)
    phone = np.full(n, None, dtype=object)
    company = np.full(n, None, dtype=object)
    locales = [locale_of(cfg, c) for _, c in countries]
    names = sorted(set(locales))
    locale = np.array([names.index(name) for name in locales], dtype=np.intp)[country]
    for k, name in enumerate(names):
        pools = _pool_arrays(name, cfg.seed)
        ours = locale == k if len(names) > 1 else np.ones(n, dtype=bool)

        rows = np.flatnonzero(ours & has_first)
        first_name[rows] = pools.first_names[pick(Field.FIRST, POOL_SIZE, rows)]
        rows = np.flatnonzero(ours & has_last)
        last_name[rows] = pools.last_names[pick(Field.LAST, POOL_SIZE, rows)]
        rows = np.flatnonzero(ours & is_b2b)
        company[rows] = pools.companies[pick(Field.COMPANY, POOL_SIZE, rows)]

        # "<first slug>.<last slug><0..99>@<domain>", the domain the company's own for B2B customers
        rows = np.flatnonzero(ours & has_email)
        b2b, free = rows[is_b2b[rows]], rows[~is_b2b[rows]]
        email[b2b] = address(pools, b2b, pools.at_companies[pick(Field.COMPANY, POOL_SIZE, b2b)])
        domain = pick(Field.DOMAIN, DOMAIN_POOL_SIZE, free) % len(pools.at_domains)
        email[free] = address(pools, free, pools.at_domains[domain])

        # a pool phone with its last 4 digits replaced, in code points (phones may be any unicode)
        rows = np.flatnonzero(ours & has_phone)
        which = pick(Field.PHONE, POOL_SIZE, rows)
        number = pick(Field.PHONE_DIGITS, 10_000, rows)
        codes = pools.phone_codes[which]
        digits = np.stack([number // 1000, number // 100 % 10, number // 10 % 10, number % 10], axis=1)
        codes[np.arange(len(rows))[:, None], pools.phone_slots[which]] = ord("0") + digits
        codes[:, -1] = 0  # the spare column back to padding
        phone[rows] = codes.view(f"U{codes.shape[1]}").reshape(-1)

    country_codes = np.empty(len(countries), dtype=object)
    country_codes[:] = [code for code, _ in countries]
    channel_codes = np.empty(len(channels), dtype=object)
    channel_codes[:] = channels
    return {
        "customer_id": ids,
        "created_at": created_day(cfg, ids, draws),
        "first_name": first_name.tolist(),
        "last_name": last_name.tolist(),
        "email": email.tolist(),
        "phone": phone.tolist(),
        "email_opt_in": (has_email & (u(Field.EMAIL_OPT) < cfg.p_email_opt_in)).astype(np.int64),
        "sms_opt_in": (has_phone & (u(Field.SMS_OPT) < cfg.p_sms_opt_in)).astype(np.int64),
        "call_opt_in": (has_phone & (u(Field.CALL_OPT) < cfg.p_call_opt_in)).astype(np.int64),
        "country": country_codes[country].tolist(),
        "channel": channel_codes[channel].tolist(),
        "company_name": company.tolist(),
    }
