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
 _PHONE_DIGITS, _EMAIL_OPT, _SMS_OPT, _CALL_OPT) = range(14)  # fmt: skip


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
    return IdentityPools(
        first, last, tuple(map(_ascii_slug, first)), tuple(map(_ascii_slug, last)), domains, tuple(phones)
    )


def created_day(cfg: GenerateConfig, customer_ids: np.ndarray, draws: Draws) -> np.ndarray:
    """Creation date as days since 1970-01-01.

    Customer i (1-based) of N is created at a uniform point of the i-th of N equal slices of the range,
    so creation dates are uniform over the range, ids follow creation order (as in the original, which
    sorted by created_at), and no customer's date depends on any other customer.
    """
    u = draws.uniform(Stream.CUSTOMER, customer_ids, 0, _CREATED)
    offset = np.floor((customer_ids - 1 + u) * (cfg.n_days / cfg.n_customers)).astype(np.int64)
    start = int((np.datetime64(cfg.date_from, "D") - EPOCH).astype(np.int64))
    return start + np.minimum(offset, cfg.n_days - 1)


def build_customers(cfg: GenerateConfig, customer_ids: np.ndarray, draws: Draws) -> dict[str, object]:
    """Columns of the customers table for the given ids (any subset, any order of blocks)."""
    pools = identity_pools(cfg.faker_locale, cfg.seed)
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
    fi, li = pick(_FIRST, POOL_SIZE), pick(_LAST, POOL_SIZE)
    di, en = pick(_DOMAIN, len(pools.domains)), pick(_EMAIL_NO, 100)
    pi, pd = pick(_PHONE, POOL_SIZE), pick(_PHONE_DIGITS, 10_000)

    first_name = [pools.first_names[i] if h else None for i, h in zip(fi.tolist(), has_first.tolist())]
    last_name = [pools.last_names[i] if h else None for i, h in zip(li.tolist(), has_last.tolist())]
    email: list[str | None] = [None] * n
    phone: list[str | None] = [None] * n
    for k in np.flatnonzero(has_email).tolist():
        f, la = pools.first_slugs[fi[k]], pools.last_slugs[li[k]]
        email[k] = f"{f}.{la}{en[k]}@{pools.domains[di[k]]}"
    for k in np.flatnonzero(has_phone).tolist():
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
    }
