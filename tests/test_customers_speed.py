"""The fast customer master against the slow, obvious one: same Faker pools, same columns."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from erpgen import customers
from erpgen.config import make_config
from erpgen.rng import Draws, Stream, stream_key


def _plain_pools(locale: str, seed: int) -> customers.IdentityPools:
    """identity_pools with an untouched Faker, one call per entry."""
    from faker import Faker

    fake = Faker(locale)
    fake.seed_instance(int(stream_key(seed, Stream.CUSTOMER)))
    first = tuple(fake.first_name() for _ in range(customers.POOL_SIZE))
    last = tuple(fake.last_name() for _ in range(customers.POOL_SIZE))
    domains = {fake.free_email_domain() for _ in range(customers.DOMAIN_POOL_SIZE * 5)}
    phones = []
    for _ in range(customers.POOL_SIZE):
        text = fake.phone_number()
        phones.append((text, tuple(i for i, ch in enumerate(text) if ch.isdigit())[-4:]))
    companies = tuple(fake.company() for _ in range(customers.POOL_SIZE))
    slug = customers.ascii_slug
    return customers.IdentityPools(
        first,
        last,
        tuple(map(slug, first)),
        tuple(map(slug, last)),
        tuple(sorted(domains))[: customers.DOMAIN_POOL_SIZE],
        tuple(phones),
        companies,
        tuple(map(slug, companies)),
    )


def _reference(cfg, ids: np.ndarray, draws: Draws) -> dict[str, list]:
    """The text columns customer by customer, straight from the pools."""

    def pick(b: int, size: int) -> np.ndarray:
        return draws.integers(Stream.CUSTOMER, size, ids, 0, b)

    def has(b: int, p: float) -> np.ndarray:
        return draws.uniform(Stream.CUSTOMER, ids, 0, b) < p

    has_first, has_last = (
        has(customers.Field.HAS_FIRST, cfg.p_first_name),
        has(customers.Field.HAS_LAST, cfg.p_last_name),
    )
    has_email, has_phone = (
        has(customers.Field.HAS_EMAIL, cfg.p_email),
        has(customers.Field.HAS_PHONE, cfg.p_phone),
    )
    fi, li, ci = (
        pick(customers.Field.FIRST, 1000),
        pick(customers.Field.LAST, 1000),
        pick(customers.Field.COMPANY, 1000),
    )
    di, en = pick(customers.Field.DOMAIN, customers.DOMAIN_POOL_SIZE), pick(customers.Field.EMAIL_NO, 100)
    pi, pd = pick(customers.Field.PHONE, 1000), pick(customers.Field.PHONE_DIGITS, 10_000)
    countries = list(cfg.scenario.countries.values())
    channels = list(cfg.scenario.channels)
    country = customers.country_index(cfg, ids, draws)
    channel = customers.channel_index(cfg, ids, draws)
    out: dict[str, list] = {c: [] for c in ("first_name", "last_name", "email", "phone", "company_name")}
    for k in range(len(ids)):
        pools = customers.identity_pools(customers.locale_of(cfg, countries[country[k]]), cfg.seed)
        b2b = channels[channel[k]] == "B2B"
        out["first_name"].append(pools.first_names[fi[k]] if has_first[k] else None)
        out["last_name"].append(pools.last_names[li[k]] if has_last[k] else None)
        out["company_name"].append(pools.companies[ci[k]] if b2b else None)
        domain = f"{pools.company_slugs[ci[k]]}.com" if b2b else pools.domains[di[k] % len(pools.domains)]
        address = f"{pools.first_slugs[fi[k]]}.{pools.last_slugs[li[k]]}{en[k]}@{domain}"
        out["email"].append(address if has_email[k] else None)
        text, positions = pools.phones[pi[k]]
        chars = list(text)
        for pos, digit in zip(positions, f"{pd[k]:04d}"):
            chars[pos] = digit
        out["phone"].append("".join(chars) if has_phone[k] else None)
    return out


@pytest.mark.parametrize("locale", ["en_US", "bn_BD"])  # weighted names; Bengali digits in phones
def test_identity_pools_are_what_plain_faker_gives(locale):
    fast = customers.identity_pools(locale, 42)
    assert dataclasses.astuple(fast) == dataclasses.astuple(_plain_pools(locale, 42))


@pytest.mark.parametrize("scenario", [None, "gym-coffee"])
def test_build_customers_matches_the_per_customer_reference(scenario):
    cfg = make_config(n_customers=6000, seed=42, **({"scenario": scenario} if scenario else {}))
    ids = np.random.default_rng(0).permutation(np.arange(1, 6001))[:2500]
    got = customers.build_customers(cfg, ids, Draws(42))
    want = _reference(cfg, ids, Draws(42))
    for column, values in want.items():
        assert got[column] == values, column
        assert all(v is None or type(v) is str for v in got[column])
    assert isinstance(got["country"], list) and isinstance(got["channel"], list)
    assert got["email_opt_in"].dtype == np.int64


def test_phones_with_fewer_than_four_digits(monkeypatch):
    real = customers.identity_pools("en_US", 42)
    texts = ["12", "no digits", "٣4-5", "+1 (2) ३", "né 1234 €", "9" * 20]
    phones = []
    for k in range(customers.POOL_SIZE):
        text = texts[k % len(texts)]
        phones.append((text, tuple(i for i, ch in enumerate(text) if ch.isdigit())[-4:]))
    odd = dataclasses.replace(real, phones=tuple(phones))
    seed = 424242  # a seed of its own: the pool caches must not hand these pools to other tests
    monkeypatch.setattr(customers, "identity_pools", lambda locale, seed: odd)
    cfg = make_config(n_customers=3000, seed=seed)
    got = customers.build_customers(cfg, np.arange(1, 3001), Draws(seed))["phone"]
    want = _reference(cfg, np.arange(1, 3001), Draws(seed))["phone"]
    assert got == want
    assert "no digits" in got
