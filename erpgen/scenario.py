"""Scenarios: every knob of a simulated company in one TOML file.

A scenario states who the customers are (countries, channels), how they behave (lifecycle, seasonality,
the basket knobs of the script erpgen grew from), what the catalog is, and the business figures the data should
show (targets). Targets in business terms (share of one-time buyers, yearly retention, orders per active
customer per year) are turned into the simulator's internal rates by erpgen.calibrate.

`erpgen scenarios` lists the built-in ones; `--scenario PATH` loads a file. Keys a file leaves out take
the air-freshener values (the dataclass defaults below); unknown keys and wrong types are errors that
name the file and the key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from erpgen.currencies import CURRENCIES, usual_currency
from erpgen.errors import ConfigError
from erpgen.schema import CHANNELS, ROLES


@dataclass(frozen=True)
class Country:
    share: float
    locale: str
    name: str = ""
    # ISO 4217 code of the currency its customers pay in; empty: the code's usual one (US: USD), and for
    # a country code erpgen does not know, the company's (Scenario.company_currency)
    currency: str = ""


@dataclass(frozen=True)
class Channel:
    share: float  # of customers whose home channel this is
    stores_per_country: int = 1
    return_rate: float = 0.0  # share of sold value that comes back
    return_lag_days: float = 14.0  # mean days between sale and credit note (none after 365: RETURN_WINDOW)
    payment_days: int = 0  # payment terms: an invoice is due this many days after its date (0: at once)
    discount_min: float = 0.0  # standing per-customer discount (B2B price lists)
    discount_max: float = 0.0
    quantity_median: float = 1.0  # units per line; B2B buys in bulk
    quantity_sigma: float = 0.5  # spread of that median across customers (lognormal sigma), when above 1
    # Monday..Sunday
    weekday_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    # the hours 0..23 of the day in which its invoices are made; empty: the channel's usual day (HOURS)
    hour_weights: tuple[float, ...] = ()
    # the order-to-cash chain (erpgen.simulation.documents); the defaults are a shop's counter, where the
    # order, the hand-over, the invoice and the payment are one moment
    order_lead_days: tuple[float, float] = (0.0, 0.0)  # from the order to shipping, uniform in the range
    transit_days: tuple[int, int] = (0, 0)  # from shipping to delivery in the company's country
    abroad_days: int = 0  # added to the transit where the customer pays in another currency
    late_share: float = 0.0  # of deliveries that come after the promised day (shipping + the longest transit)
    late_days: int = 0  # a late delivery comes 1..late_days after the promised day
    invoice_on: str = "SHIPPING"  # or DELIVERY: the day the goods leave, or arrive, is the invoice's day
    cancel_share: float = 0.0  # of orders cancelled before shipping (the customer orders again later)
    payment_spread_days: float = 0.0  # with payment terms: how far around the due date payers pay (sd)
    late_payment_share: float = 0.0  # with payment terms: of invoices paid 1..late_payment_days after that
    late_payment_days: int = 0
    cash_share: float = 0.0  # of payments at once made in cash (the others by card); with terms: transfer
    refund_days: tuple[int, int] = (0, 0)  # from a credit note to the money going back


# A channel's usual day: web shops peak in the evening and never close, shops follow their opening hours
# with a lunchtime and an after-work peak, businesses order in office hours.
HOURS = {
    "ONLINE": (
        0.6, 0.35, 0.2, 0.15, 0.12, 0.15, 0.3, 0.55, 0.8, 0.95, 1.0, 1.05,
        1.15, 1.1, 1.05, 1.05, 1.1, 1.25, 1.5, 1.8, 2.0, 1.9, 1.5, 1.0,
    ),
    "RETAIL": (
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0.6, 0.9, 1.1,
        1.4, 1.3, 1.0, 1.0, 1.1, 1.4, 1.3, 0.8, 0, 0, 0, 0,
    ),
    "B2B": (
        0, 0, 0, 0, 0, 0, 0, 0, 0.6, 1.2, 1.4, 1.3,
        0.7, 1.0, 1.3, 1.2, 0.9, 0.4, 0, 0, 0, 0, 0, 0,
    ),
}  # fmt: skip


def hours_of(name: str, channel: Channel) -> tuple[float, ...]:
    """The weights of the hours of the day in which the channel's invoices are made."""
    return channel.hour_weights or HOURS[name]


def _default_countries() -> dict[str, Country]:
    return {"US": Country(share=1.0, locale="en_US", name="United States", currency="USD")}


def _default_channels() -> dict[str, Channel]:
    return {
        "ONLINE": Channel(
            share=0.50, stores_per_country=1, return_rate=0.12, return_lag_days=12.0,
            weekday_weights=(1.15, 1.05, 1.0, 1.0, 0.95, 0.9, 0.95), hour_weights=HOURS["ONLINE"],
            order_lead_days=(0.05, 2.5), transit_days=(1, 4), abroad_days=4, late_share=0.06, late_days=6,
            cancel_share=0.05, refund_days=(1, 7),
        ),
        "RETAIL": Channel(
            share=0.42, stores_per_country=8, return_rate=0.08, return_lag_days=6.0,
            weekday_weights=(0.8, 0.85, 0.9, 0.95, 1.1, 1.5, 0.9), hour_weights=HOURS["RETAIL"],
            cancel_share=0.005, cash_share=0.3,
        ),
        "B2B": Channel(
            share=0.08, stores_per_country=1, return_rate=0.015, return_lag_days=20.0,
            discount_min=0.10, discount_max=0.25, quantity_median=6.0, payment_days=30,
            weekday_weights=(1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0), hour_weights=HOURS["B2B"],
            order_lead_days=(3.0, 21.0), transit_days=(1, 3), abroad_days=4, late_share=0.05, late_days=5,
            invoice_on="DELIVERY", cancel_share=0.03, payment_spread_days=6.0, late_payment_share=0.08,
            late_payment_days=60, refund_days=(5, 30),
        ),
    }  # fmt: skip


@dataclass(frozen=True)
class Lifecycle:
    """How customers behave over their lives. Rates marked (calibrated) are scaled to meet the targets."""

    loyal_share: float = 0.45  # of repeat consumer customers: refills follow consumption
    first_purchase_delay_days: float = 1.5  # mean days from creation to first purchase
    occasional_orders_per_year: float = 3.0  # median per occasional customer (calibrated)
    rate_sigma: float = 0.9  # spread of purchase rates across customers (lognormal sigma)
    trend_sigma: float = 0.25  # per-year drift of a customer's frequency (rising or falling)
    consumption_g_per_day: float = 1.6  # median refill consumption of a loyal customer (calibrated)
    consumption_sigma: float = 0.45
    b2b_period_days: float = 30.0  # B2B customers reorder on a steady cycle
    p_dormant: float = 0.04  # chance, after a purchase, of a dormant spell
    dormant_median_days: float = 300.0
    yearly_loss: float = 0.30  # chance a repeat customer decides to leave within a year (calibrated)
    # spread of that chance across customers (lognormal sigma): 0, all alike; wider, more leave soon
    # and more stay for years, so a customer who has kept buying is likelier to go on
    loss_sigma: float = 0.0
    b2b_loss_factor: float = 0.4  # B2B customers leave at this fraction of the consumer rate


@dataclass(frozen=True)
class Seasonality:
    # January..December; retail's Oct-Nov peak (and a December tail)
    month_weights: tuple[float, ...] = (0.85, 0.8, 0.9, 0.9, 0.95, 0.9, 0.9, 0.95, 1.0, 1.25, 1.45, 1.15)
    acquisition_growth_per_year: float = 0.06  # new customers per year grow (or shrink, if < 0)
    # customers arrive over the range's first days only (0: over the whole range): a source whose
    # customers are one cohort (CDNOW's all came in the first quarter) has no acquisition after it
    acquisition_days: int = 0
    price_increase_per_year: float = 0.03  # list prices step up every 1 January
    promo_share: float = 0.06  # share of consumer lines sold on promotion (more in November)
    promo_discount_min: float = 0.10
    promo_discount_max: float = 0.30


@dataclass(frozen=True)
class CatalogSize:
    """How the scenario's catalog is drawn: from which product universe, and how many of each pool (the
    products themselves are erpgen.catalog.Catalog)."""

    universe: str = "air-freshener"  # which product universe the counts sample from
    n_devices: int = 5
    n_accessories: int = 10
    n_spare_parts: int = 8
    n_refills: int = 74
    n_bulk_refills: int = 1
    # the "generic" universe's price list (erpgen fit writes these): list prices spread lognormally
    # around price_median with log-sigma price_spread; the other universes have their own prices
    price_median: float = 20.0
    price_spread: float = 0.5


@dataclass(frozen=True)
class Basket:
    """Per-customer basket knobs (as the script erpgen grew from had them): each customer draws one option per list."""

    p_invoice_by_nth: tuple[tuple[float, ...], ...] = (
        (1.00, 0.05, 0.01, 0.00),
        (1.00, 0.02, 0.00),
        (1.00, 0.01),
        (1.00, 0.00),
    )
    p_device_by_nth: tuple[tuple[float, ...], ...] = (
        (0.99, 0.10, 0.00),
        (0.90, 0.35, 0.15, 0.01),
        (0.95, 0.00),
    )
    refill_count_weights: tuple[tuple[float, ...], ...] = (
        (0.95, 0.80, 0.50, 0.10),
        (0.90, 0.75, 0.60, 0.30),
        (0.85, 0.80, 0.20, 0.05),
        (0.70, 0.30, 0.10, 0.05),
        (0.60, 0.30, 0.10, 0.05),
    )
    p_refill_invoice: float = 0.95
    p_accessory_invoice: tuple[float, ...] = (0.08, 0.06, 0.05, 0.03, 0.00)
    accessory_count_weights: tuple[float, ...] = (1.0,)
    p_spare_part_invoice: tuple[float, ...] = (0.10, 0.05, 0.03, 0.01, 0.00)
    fallback_role: str = "REFILL"  # an invoice that drew nothing gets one line of this role


@dataclass(frozen=True)
class Targets:
    """Business figures the data should show, and how far `erpgen validate` lets them drift."""

    one_time_share: float = 0.38  # of buyers, buy once only (CDNOW ~0.5, UCI Online Retail 0.29-0.36)
    yearly_retention: float = 0.50  # of a year's active customers, active again next year (0.35-0.65)
    orders_per_active_customer_per_year: float = 3.5
    one_time_tolerance: float = 0.05  # absolute
    retention_tolerance: float = 0.07  # absolute
    orders_tolerance: float = 0.25  # relative
    aov: dict[str, float] = field(default_factory=lambda: {"ONLINE": 210.0, "RETAIL": 210.0, "B2B": 580.0})
    aov_tolerance: float = 0.30  # relative
    return_tolerance: float = 0.03  # absolute, around each channel's return_rate
    min_sku_coverage: float = 0.80  # share of products with at least one sale
    total_orders: int = 0  # when > 0, orders (invoices) for n_customers customers; scales with --n-customers
    total_orders_tolerance: float = 0.15
    # share of orders (invoices) per channel, e.g. {ONLINE = 0.6, RETAIL = 0.2, B2B = 0.2}; empty: none. B2B
    # customers reorder more than consumers, so the customers' channel mix that meets it is calibrated
    order_share: dict[str, float] = field(default_factory=dict)
    order_share_tolerance: float = 0.03  # absolute
    # Shape of the data against published retail figures (CDNOW, UCI Online Retail II)
    top20_revenue_share: tuple[float, ...] = (0.55, 0.80)  # min, max (CDNOW ~0.68)
    median_days_between_purchases: tuple[float, ...] = (20.0, 60.0)  # min, max (CDNOW ~34)
    peak_months: tuple[int, ...] = (10, 11)  # months whose average revenue beats the average month
    peak_index_min: float = 1.10


@dataclass(frozen=True)
class Scenario:
    name: str = "air-freshener"
    description: str = (
        "Diffusers, refills, accessories and spare parts: the company of the script erpgen grew from"
    )
    # The flags of the script erpgen grew from; the CLI flags of the same names override them.
    n_customers: int = 1000
    date_from: dt.date = dt.date(2015, 1, 1)
    date_till: dt.date = dt.date(2025, 12, 31)
    p_first_name: float = 0.90
    p_last_name: float = 0.60
    p_email: float = 0.70
    p_phone: float = 0.80
    p_email_opt_in: float = 0.60
    p_sms_opt_in: float = 0.90
    p_call_opt_in: float = 0.75
    faker_locale: str = "en_US"
    # ISO 4217 code of the company's own currency, the one exchange_rates converts into; empty: the usual
    # currency of the first country (a scenario names its home market first), else USD
    currency: str = ""
    catalog: CatalogSize = field(default_factory=CatalogSize)
    countries: dict[str, Country] = field(default_factory=_default_countries)
    channels: dict[str, Channel] = field(default_factory=_default_channels)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    seasonality: Seasonality = field(default_factory=Seasonality)
    basket: Basket = field(default_factory=Basket)
    targets: Targets = field(default_factory=Targets)

    @property
    def company_currency(self) -> str:
        first = usual_currency(next(iter(self.countries), ""))
        return self.currency or first or "USD"

    def currency_of(self, country: str) -> str:
        """The currency of a country of the scenario."""
        return self.countries[country].currency or usual_currency(country) or self.company_currency

    @property
    def currencies(self) -> tuple[str, ...]:
        """The company's currency and its countries', sorted."""
        return tuple(sorted({self.company_currency, *(self.currency_of(c) for c in self.countries)}))


# -- loading ------------------------------------------------------------------------------------
def builtin_names() -> list[str]:
    files = resources.files("erpgen.scenarios")
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".toml"))


def builtin_text(name: str) -> str:
    return (resources.files("erpgen.scenarios") / f"{name}.toml").read_text()


def load(name_or_path: str | None) -> tuple[Scenario, str]:
    """A built-in scenario by name, or a TOML file by path. Returns the scenario and its source text."""
    name_or_path = name_or_path or "air-freshener"
    if name_or_path in builtin_names():
        text, origin = builtin_text(name_or_path), f"built-in scenario {name_or_path}"
    else:
        path = Path(name_or_path)
        if not (path.suffix == ".toml" or path.exists()):
            raise ConfigError(
                f"unknown scenario {name_or_path!r}",
                f"built-in scenarios: {', '.join(builtin_names())}; or give the path of a .toml file",
            )
        try:
            text, origin = path.read_text(), str(path)
        except OSError as exc:
            raise ConfigError(f"cannot read scenario file {path}: {exc.strerror}") from None
    return parse(text, origin), text


def parse(text: str, origin: str = "<scenario>") -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}", "fix the syntax at that line") from None
    scenario = _build(Scenario, data, origin, "")
    check(scenario, origin)
    return scenario


def _build(cls, data: dict, origin: str, where: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: [{where.rstrip('.')}] must be a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"{origin}: unknown key {where}{unknown[0]}", f"known keys here: {', '.join(sorted(names))}"
        )
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in data and _required(f)]
    if missing:
        raise ConfigError(f"{origin}: {where}{missing[0]} is missing", f"give {where}{missing[0]}")
    values = {k: _convert(hints[k], v, origin, f"{where}{k}") for k, v in data.items()}
    return cls(**values)


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _convert(hint, value, origin: str, key: str):
    def wrong(expected: str):
        return ConfigError(f"{origin}: {key} must be {expected}, got {value!r}")

    origin_type = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, origin, key + ".")
    if origin_type is dict:
        _, val_t = typing.get_args(hint)
        if not isinstance(value, dict):
            raise wrong("a table")
        return {str(k): _convert(val_t, v, origin, f"{key}.{k}") for k, v in value.items()}
    if origin_type is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, list):
            raise wrong("a list")
        return tuple(_convert(args[0], v, origin, f"{key}[{i}]") for i, v in enumerate(value))
    if origin_type in (typing.Union, types.UnionType):
        raise TypeError(f"unsupported scenario type {hint}")
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong("a number")
        if not math.isfinite(value):
            raise wrong("a finite number")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong("a whole number")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise wrong("a string")
        return value
    if hint is dt.date:
        if isinstance(value, dt.datetime):  # TOML's date-times are dates to Python, but carry a time
            raise wrong("a date (YYYY-MM-DD) without a time")
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            raise wrong("a date (YYYY-MM-DD)") from None
    raise TypeError(f"unsupported scenario type {hint}")


def _prob(value: float, origin: str, key: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{origin}: {key} must be between 0 and 1, got {value}")


def _within(value: float, low: float, high: float, origin: str, key: str) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{origin}: {key} must be from {low:g} to {high:g}, got {value:g}")


# The range of every number that is not a probability: what a business could mean and the simulation and
# the targets' column types carry (prices rise at most 25 % a year: over 50 years the dearest product
# still fits unit_price's NUMERIC(12, 2), and times a bulk quantity, revenue's NUMERIC(14, 2)).
CHANNEL_RANGES = {
    "stores_per_country": (1, 100), "return_lag_days": (0, 365), "quantity_median": (1, 100),
    "quantity_sigma": (0, 3), "payment_days": (0, 365), "abroad_days": (0, 60), "late_days": (0, 60),
    "payment_spread_days": (0, 60), "late_payment_days": (0, 180),
}  # fmt: skip
INVOICE_ON = ("SHIPPING", "DELIVERY")
# the longest a document stays open: an invoice is paid within PAYMENT_DAYS_MAX of its date, a credit note
# refunded within REFUND_DAYS_MAX; what an extension that reads a customer's story back must know of
# (erpgen.extension)
PAYMENT_DAYS_MAX = 300
REFUND_DAYS_MAX = 90
TRANSIT_DAYS_MAX = 60
# and the most days after an invoice (or credit note) that a document of its chain is dated: its payment,
# its refund, goods delivered after it (the longest transit, abroad and late, and a day); its orders come
# before it, and a cancelled one is cancelled within two days of it
DOCUMENT_DAYS_MAX = max(
    PAYMENT_DAYS_MAX,
    REFUND_DAYS_MAX,
    TRANSIT_DAYS_MAX + CHANNEL_RANGES["abroad_days"][1] + CHANNEL_RANGES["late_days"][1] + 1,
)
LIFECYCLE_RANGES = {
    "first_purchase_delay_days": (0, 3650),
    "occasional_orders_per_year": (0.01, 365),
    "rate_sigma": (0, 3),
    "trend_sigma": (0, 3),
    "consumption_g_per_day": (0.001, 10_000),
    "consumption_sigma": (0, 3),
    "b2b_period_days": (1, 3650),
    "dormant_median_days": (0, 3650),
    "loss_sigma": (0, 4),
}
SEASONALITY_RANGES = {
    "acquisition_growth_per_year": (-0.9, 10), "price_increase_per_year": (-0.25, 0.25),
    "acquisition_days": (0, 366 * 50),
}  # fmt: skip
CATALOG_RANGES = {"price_median": (0.01, 1e6), "price_spread": (0, 3)}
TARGET_RANGES = {
    "orders_per_active_customer_per_year": (0.01, 365 * 50), "one_time_tolerance": (0, 1),
    "retention_tolerance": (0, 1), "orders_tolerance": (0, 100), "aov_tolerance": (0, 100),
    "return_tolerance": (0, 1), "total_orders": (0, 10**15), "total_orders_tolerance": (0, 100),
    "order_share_tolerance": (0, 1),
}  # fmt: skip
WEIGHT_MAX = 1e6  # month, weekday and count weights: only their ratios matter


def _check_documents(ch: Channel, origin: str, k: str) -> None:
    """A channel's order-to-cash keys: shares, ranges given low first, and a chain short enough that an
    invoice is paid, and a credit note refunded, within the return window (what `erpgen extend` reads
    back of a customer's story: erpgen.simulation.returns.RETURN_WINDOW)."""
    for key in ("late_share", "cancel_share", "late_payment_share", "cash_share"):
        _prob(getattr(ch, key), origin, f"{k}.{key}")
    for key, high in (
        ("order_lead_days", 90),
        ("transit_days", TRANSIT_DAYS_MAX),
        ("refund_days", REFUND_DAYS_MAX),
    ):
        pair = getattr(ch, key)
        if len(pair) != 2 or not 0 <= pair[0] <= pair[1] <= high:
            raise ConfigError(
                f"{origin}: {k}.{key} must be [low, high] with 0 <= low <= high <= {high}, got {list(pair)}"
            )
    if ch.invoice_on not in INVOICE_ON:
        raise ConfigError(
            f"{origin}: {k}.invoice_on must be one of {', '.join(INVOICE_ON)}, got {ch.invoice_on!r}"
        )
    longest = ch.payment_days + 4 * ch.payment_spread_days + ch.late_payment_days
    if longest > PAYMENT_DAYS_MAX:
        raise ConfigError(
            f"{origin}: {k}: payment_days + 4 x payment_spread_days + late_payment_days is {longest:g} days, "
            f"over {PAYMENT_DAYS_MAX}",
            f"an invoice must be paid within {PAYMENT_DAYS_MAX} days of its date",
        )


def check(s: Scenario, origin: str) -> None:
    """Checks that need more than one key, or a range."""
    from erpgen.catalog import UNIVERSES

    if not s.countries:
        raise ConfigError(f"{origin}: [countries] is empty", "give at least one country with a share")
    if not s.channels:
        raise ConfigError(f"{origin}: [channels] is empty", "give at least one of ONLINE, RETAIL, B2B")
    for name in s.channels:
        if name not in CHANNELS:
            raise ConfigError(f"{origin}: unknown channel {name!r}", f"channels are {', '.join(CHANNELS)}")
    for table, mix in (("countries", s.countries), ("channels", s.channels)):
        total = sum(x.share for x in mix.values())
        if any(x.share < 0 for x in mix.values()) or abs(total - 1.0) > 1e-6:
            raise ConfigError(
                f"{origin}: the shares in [{table}] must be >= 0 and add up to 1, they add up to {total}"
            )
    for code, c in s.countries.items():
        if c.locale not in faker_locales():
            raise ConfigError(f"{origin}: countries.{code}.locale {c.locale!r} is not a Faker locale")
    given = [
        ("currency", s.currency),
        *((f"countries.{k}.currency", c.currency) for k, c in s.countries.items()),
    ]
    for key, code in given:
        if code and code not in CURRENCIES:
            raise ConfigError(
                f"{origin}: {key} {code!r} is not an ISO 4217 currency code erpgen knows",
                f"use one of {', '.join(CURRENCIES)}, or leave it out for the country's usual currency",
            )
    for name, ch in s.channels.items():
        k = f"channels.{name}"
        _prob(ch.return_rate, origin, f"{k}.return_rate")
        _prob(ch.discount_min, origin, f"{k}.discount_min")
        _prob(ch.discount_max, origin, f"{k}.discount_max")
        if ch.discount_min > ch.discount_max:
            raise ConfigError(f"{origin}: {k}.discount_min is above discount_max")
        if ch.stores_per_country < 1 or ch.quantity_median < 1 or ch.return_lag_days < 0:
            raise ConfigError(f"{origin}: {k}: stores_per_country and quantity_median must be >= 1")
        if len(ch.weekday_weights) != 7 or min(ch.weekday_weights) < 0 or max(ch.weekday_weights) <= 0:
            raise ConfigError(f"{origin}: {k}.weekday_weights needs 7 weights (Monday..Sunday), not all 0")
        for key, (low, high) in CHANNEL_RANGES.items():
            _within(getattr(ch, key), low, high, origin, f"{k}.{key}")
        _within(max(ch.weekday_weights), 0, WEIGHT_MAX, origin, f"{k}.weekday_weights")
        if ch.hour_weights and (
            len(ch.hour_weights) != 24 or min(ch.hour_weights) < 0 or max(ch.hour_weights) <= 0
        ):
            raise ConfigError(
                f"{origin}: {k}.hour_weights needs 24 weights (hours 0..23), not all 0",
                "or leave it out for the channel's usual day",
            )
        _within(max(ch.hour_weights, default=0), 0, WEIGHT_MAX, origin, f"{k}.hour_weights")
        _check_documents(ch, origin, k)
    if len(s.seasonality.month_weights) != 12 or min(s.seasonality.month_weights) <= 0:
        raise ConfigError(
            f"{origin}: seasonality.month_weights needs 12 positive weights (January..December)"
        )
    _check_ranges(s, origin)
    if s.catalog.universe not in UNIVERSES:
        raise ConfigError(
            f"{origin}: catalog.universe {s.catalog.universe!r} is unknown",
            f"use one of {', '.join(UNIVERSES)}",
        )
    lc, t, b = s.lifecycle, s.targets, s.basket
    for key in ("loyal_share", "p_dormant", "yearly_loss", "b2b_loss_factor"):
        _prob(getattr(lc, key), origin, f"lifecycle.{key}")
    for key in ("one_time_share", "yearly_retention", "min_sku_coverage"):
        _prob(getattr(t, key), origin, f"targets.{key}")
    for key in ("top20_revenue_share", "median_days_between_purchases"):
        pair = getattr(t, key)
        if len(pair) != 2 or pair[0] > pair[1]:
            raise ConfigError(f"{origin}: targets.{key} must be [min, max]")
    if not t.peak_months or any(not 1 <= m <= 12 for m in t.peak_months):
        raise ConfigError(f"{origin}: targets.peak_months must list months 1..12")
    if t.orders_per_active_customer_per_year <= 0:
        raise ConfigError(f"{origin}: targets.orders_per_active_customer_per_year must be above 0")
    for key in ("p_invoice_by_nth", "p_device_by_nth", "refill_count_weights"):
        rows = getattr(b, key)
        if not rows or any(not r for r in rows):
            raise ConfigError(f"{origin}: basket.{key} needs at least one non-empty list")
        for r in rows:
            for p in r:
                _prob(p, origin, f"basket.{key}")
    if b.fallback_role not in ROLES:
        raise ConfigError(f"{origin}: basket.fallback_role must be one of {', '.join(ROLES)}")


def _check_ranges(s: Scenario, origin: str) -> None:
    """The numbers the structural checks leave open: each within what the simulation can carry."""
    season, lc, t, b = s.seasonality, s.lifecycle, s.targets, s.basket
    _within(max(season.month_weights), 0, WEIGHT_MAX, origin, "seasonality.month_weights")
    for section, ranges, values in (
        ("seasonality", SEASONALITY_RANGES, season),
        ("lifecycle", LIFECYCLE_RANGES, lc),
        ("targets", TARGET_RANGES, t),
    ):
        for key, (low, high) in ranges.items():
            _within(getattr(values, key), low, high, origin, f"{section}.{key}")
    for key, (low, high) in CATALOG_RANGES.items():
        _within(getattr(s.catalog, key), low, high, origin, f"catalog.{key}")
    for key in ("promo_share", "promo_discount_min", "promo_discount_max"):
        _prob(getattr(season, key), origin, f"seasonality.{key}")
    if season.promo_discount_min > season.promo_discount_max:
        raise ConfigError(f"{origin}: seasonality.promo_discount_min is above promo_discount_max")
    for channel, value in t.aov.items():
        _within(value, 0.01, 1e9, origin, f"targets.aov.{channel}")
    if t.order_share:
        _check_order_share(s, origin)
    _prob(b.p_refill_invoice, origin, "basket.p_refill_invoice")
    for key in ("p_accessory_invoice", "p_spare_part_invoice"):
        if not getattr(b, key):
            raise ConfigError(f"{origin}: basket.{key} needs at least one probability")
        for p in getattr(b, key):
            _prob(p, origin, f"basket.{key}")
    weights = b.accessory_count_weights
    if not weights or min(weights) < 0 or max(weights) <= 0:
        raise ConfigError(f"{origin}: basket.accessory_count_weights needs weights >= 0, not all 0")
    _within(max(weights), 0, WEIGHT_MAX, origin, "basket.accessory_count_weights")


def _check_order_share(s: Scenario, origin: str) -> None:
    shares = s.targets.order_share
    if set(shares) != set(s.channels):
        raise ConfigError(
            f"{origin}: targets.order_share names {', '.join(shares)}, not the scenario's channels",
            f"give a share of orders for each of {', '.join(s.channels)}",
        )
    for channel, value in shares.items():
        _prob(value, origin, f"targets.order_share.{channel}")
    total = sum(shares.values())
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(
            f"{origin}: the shares in targets.order_share must add up to 1, they add up to {total:g}"
        )
    # a channel without customers has no orders whatever the calibration does
    empty = [c for c, v in shares.items() if v > 0 and s.channels[c].share <= 0]
    if empty:
        raise ConfigError(
            f"{origin}: targets.order_share.{empty[0]} is above 0 but channels.{empty[0]} has no customers",
            f"give channels.{empty[0]}.share a share above 0",
        )


def describe_all() -> list[tuple[str, str]]:
    return [(name, load(name)[0].description) for name in builtin_names()]


@functools.cache
def faker_locales() -> frozenset[str]:
    """Faker's locales, read off its package folders (faker.providers.<provider>.<locale>): the same set as
    faker.config.AVAILABLE_LOCALES without importing every provider, which costs a tenth of a second."""
    import importlib.util

    spec = importlib.util.find_spec("faker")
    if spec is None or not spec.submodule_search_locations:
        from faker.config import AVAILABLE_LOCALES

        return frozenset(AVAILABLE_LOCALES)
    providers = Path(next(iter(spec.submodule_search_locations))) / "providers"
    return frozenset(d.name for d in providers.glob("*/*/") if (d / "__init__.py").is_file())
