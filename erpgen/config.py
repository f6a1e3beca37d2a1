"""The run's parameters, validated in one place. Names match the CLI flags (--n-customers -> n_customers)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

from erpgen.errors import ConfigError

# Invoice ids are "INV-<customer_id:08d>-<seq:06d>": fixed width, so the PostgreSQL encoder can write
# them as fixed-size binary fields. That width is where these two limits come from.
MAX_CUSTOMERS = 99_999_999
MAX_YEARS = 50  # x 366 days x MAX_INVOICES_PER_DAY stays below 1,000,000 invoices per customer
MAX_INVOICES_PER_DAY = 50


@dataclass(frozen=True)
class Behaviour:
    """The original generator's per-customer behaviour knobs.

    Each customer draws one option from every list (uniformly), exactly as the original did.
    The probabilities are daily: on each day a customer is first lost with `p_close_day`, else buys with
    `p_buy_by_year[year]` (customer-years start at the month the customer was created; the last value
    holds after the schedule ends), and the k-th invoice of a day happens with p_buy * p_invoice_by_nth[k-1].
    """

    p_buy_by_year: tuple[tuple[float, ...], ...] = (
        (0.05, 0.07, 0.08, 0.09),
        (0.04, 0.06, 0.07, 0.08),
        (0.02, 0.03, 0.04, 0.06),
        (0.01, 0.02, 0.03, 0.04),
        (0.06, 0.04, 0.03, 0.02),
        (0.03, 0.02, 0.015, 0.01),
        (0.01, 0.008, 0.006, 0.004),
    )
    p_close_day: tuple[float, ...] = (0.0001, 0.0002, 0.0003, 0.0004)
    p_invoice_by_nth: tuple[tuple[float, ...], ...] = (
        (1.00, 0.80, 0.50, 0.10),
        (1.00, 0.15, 0.05, 0.01),
        (1.00, 0.05, 0.01, 0.00),
        (1.00, 0.01),
        (1.00, 0.00),
    )
    p_device_by_nth: tuple[tuple[float, ...], ...] = (
        (0.99, 0.10, 0.00),
        (0.90, 0.35, 0.15, 0.01),
        (0.95, 0.00),
    )
    # Relative weights of 1, 2, 3, 4 refill lines on an invoice that has refills.
    refill_count_weights: tuple[tuple[float, ...], ...] = (
        (0.95, 0.80, 0.50, 0.10),
        (0.90, 0.75, 0.60, 0.30),
        (0.85, 0.80, 0.20, 0.05),
        (0.70, 0.30, 0.10, 0.05),
        (0.60, 0.30, 0.10, 0.05),
    )
    p_refill_invoice: float = 0.95
    p_accessory_invoice: tuple[float, ...] = (0.08, 0.06, 0.05, 0.03, 0.00)
    p_spare_part_invoice: tuple[float, ...] = (0.10, 0.05, 0.03, 0.01, 0.00)


@dataclass(frozen=True)
class GenerateConfig:
    n_customers: int = 1000
    date_from: dt.date = dt.date(2015, 1, 1)
    date_till: dt.date = dt.date(2025, 12, 31)
    n_devices: int = 5
    n_accessories: int = 10
    n_spare_parts: int = 8
    n_refills: int = 74
    n_bulk_refills: int = 1
    n_stores: int = 9
    p_first_name: float = 0.90
    p_last_name: float = 0.60
    p_email: float = 0.70
    p_phone: float = 0.80
    p_email_opt_in: float = 0.60
    p_sms_opt_in: float = 0.90
    p_call_opt_in: float = 0.75
    faker_locale: str = "en_US"
    seed: int = 42
    behaviour: Behaviour = field(default_factory=Behaviour)

    @property
    def n_days(self) -> int:
        return (self.date_till - self.date_from).days + 1

    def public_parameters(self) -> dict[str, object]:
        """The parameters as plain values (for summaries and the run record)."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name == "behaviour":
                continue
            v = getattr(self, f.name)
            out[f.name] = v.isoformat() if isinstance(v, dt.date) else v
        return out


def parse_date(value: object, flag: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(
            f"{flag} {value!r} is not a date", "write it as YYYY-MM-DD, e.g. 2015-01-01"
        ) from None


def make_config(**kwargs: object) -> GenerateConfig:
    """Build and validate a GenerateConfig from keyword arguments named like the CLI flags."""
    known = {f.name for f in dataclasses.fields(GenerateConfig)}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise ConfigError(f"unknown parameter(s): {', '.join(unknown)}")
    values = {k: v for k, v in kwargs.items() if v is not None}
    for name in ("date_from", "date_till"):
        if name in values:
            values[name] = parse_date(values[name], "--" + name.replace("_", "-"))
    cfg = GenerateConfig(**values)  # type: ignore[arg-type]
    validate(cfg)
    return cfg


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def validate(cfg: GenerateConfig) -> None:
    from erpgen.catalog import universe_sizes

    if not isinstance(cfg.n_customers, int) or cfg.n_customers <= 0:
        raise ConfigError(f"--n-customers must be at least 1, got {cfg.n_customers}")
    if cfg.n_customers > MAX_CUSTOMERS:
        raise ConfigError(
            f"--n-customers {cfg.n_customers:,} is above the limit of {MAX_CUSTOMERS:,}",
            "invoice ids carry the customer id in 8 digits",
        )
    if cfg.date_from > cfg.date_till:
        raise ConfigError(
            f"--date-from {cfg.date_from} is after --date-till {cfg.date_till}",
            "swap them or pick a later --date-till",
        )
    years = cfg.n_days / 365.25
    if years > MAX_YEARS:
        raise ConfigError(
            f"the range {cfg.date_from}..{cfg.date_till} spans {years:.0f} years; the limit is {MAX_YEARS}",
            "invoice numbers per customer are 6 digits wide",
        )
    sizes = universe_sizes()
    for name, category in (
        ("n_devices", "DEVICE"),
        ("n_accessories", "ACCESSORY"),
        ("n_spare_parts", "SPARE_PART"),
        ("n_refills", "REFILL"),
        ("n_bulk_refills", "BULK_REFILL"),
    ):
        n = getattr(cfg, name)
        if not isinstance(n, int) or n < 0:
            raise ConfigError(f"{_flag(name)} must be 0 or more, got {n}")
        if n > sizes[category]:
            raise ConfigError(
                f"{_flag(name)} {n} is more than the catalog universe holds ({sizes[category]})",
                f"use at most {sizes[category]}",
            )
    if cfg.n_devices + cfg.n_accessories + cfg.n_spare_parts + cfg.n_refills + cfg.n_bulk_refills == 0:
        raise ConfigError("the catalog would be empty", "give at least one of --n-refills, --n-devices, ...")
    if not 1 <= cfg.n_stores <= 9999:
        raise ConfigError(f"--n-stores must be between 1 and 9999, got {cfg.n_stores}")
    for name in (
        "p_first_name",
        "p_last_name",
        "p_email",
        "p_phone",
        "p_email_opt_in",
        "p_sms_opt_in",
        "p_call_opt_in",
    ):
        p = getattr(cfg, name)
        if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ConfigError(f"{_flag(name)} must be a probability between 0 and 1, got {p}")
    if not isinstance(cfg.seed, int) or not 0 <= cfg.seed < 2**63:
        raise ConfigError(f"--seed must be a whole number from 0 to 2**63-1, got {cfg.seed}")
    _check_locale(cfg.faker_locale)


def _check_locale(locale: str) -> None:
    from faker.config import AVAILABLE_LOCALES

    if locale not in AVAILABLE_LOCALES:
        close = [x for x in AVAILABLE_LOCALES if x.lower().startswith(locale.lower()[:2])][:5]
        hint = f"try one of {', '.join(close)}" if close else "e.g. en_US, en_GB, de_DE, fr_FR"
        raise ConfigError(f"--faker-locale {locale!r} is not a Faker locale", hint)
