"""The figures of a sales history: what `erpgen fit` reads off a source to build its twin, and what
`erpgen fit --compare` prints for two histories side by side. One code for both, so a twin and its source
are measured alike.

An order is a document (invoice) where the source names one, else a customer's purchases of one day. A
return is a line the source flags, or one with a negative quantity or amount. The calendar-year figures
(retention, orders per active customer per year) are computed as `erpgen validate` computes them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from erpgen.dates import EPOCH
from erpgen.fit.source import History

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
LONG_GAP_DAYS = 180
HEAVY_SHARE = 0.1  # heavy_lapse: the heaviest this share of the first half's buyers


@dataclass
class Measures:
    """What fit and compare measure; None where the history cannot show it (no quantity column, ...)."""

    customers: int  # buyers: customers with at least one sale
    orders: int
    lines: int
    first_day: int  # day numbers
    last_day: int
    one_time_share: float
    yearly_retention: float | None  # None: the history lies within one calendar year
    orders_per_active_year: float
    orders_per_buyer_mean: float
    orders_per_buyer_p90: float
    gap_median: float | None  # days between a customer's purchase days
    gap_p25: float | None
    gap_p75: float | None
    long_gap_share: float | None  # of repeat buyers, those with a gap over LONG_GAP_DAYS
    # how a customer's purchase days in the range's first half foretell those in its second half (the
    # correlation, over the customers who first bought in the first half)
    persistence: float | None
    # of the heaviest HEAVY_SHARE of those customers (by purchase days in the first half), the share with
    # none in the second: where customers differ in how soon they leave, heavy buyers stay
    heavy_lapse: float | None
    top20_share: float  # of net revenue, by the top 20 % of customers
    order_value_mean: float
    order_value_median: float
    order_value_p90: float
    lines_per_order: tuple[float, ...]  # share of orders with 1, 2, ... lines (the last: that many or more)
    units_per_order_mean: float | None
    units_per_order_p90: float | None
    units_per_line_median: float | None
    month_index: tuple[float, ...]  # repeat orders per day in each calendar month, trend taken out; mean 1
    weekday_share: tuple[float, ...]  # orders, Monday..Sunday
    acquisition_days: int  # days from the first day by which 99 % of the buyers had bought
    acquisition_growth: float  # new buyers per year grow by this (log-linear over the acquisition)
    acquisition_growth_knob: float  # the same over the months' seasonal indexes: what the scenario sets
    return_rate: float  # value returned / value sold
    return_lag_mean: float | None  # days from a customer's purchase to its return
    products: int | None
    unit_price_median: float
    unit_price_p10: float
    unit_price_p90: float
    price_log_sigma: float  # spread of the catalog's prices (across products, else lines)
    price_increase_per_year: float | None  # None: no product column, or under two years
    channel_customers: dict[str, float] = field(default_factory=dict)  # share of customers by home channel
    country_customers: dict[str, float] = field(default_factory=dict)
    channel_order_value: dict[str, float] = field(default_factory=dict)  # mean order value
    channel_order_share: dict[str, float] = field(default_factory=dict)  # share of all orders
    channel_units_per_line: dict[str, float] = field(default_factory=dict)  # median units on a sale line
    # median days since the customer's previous order, of the channel's repeat orders
    channel_gap_median: dict[str, float] = field(default_factory=dict)
    channel_return_rate: dict[str, float] = field(default_factory=dict)
    channel_return_lag: dict[str, float] = field(default_factory=dict)
    channel_weekday_share: dict[str, tuple[float, ...]] = field(default_factory=dict)

    @property
    def span_days(self) -> int:
        return self.last_day - self.first_day + 1

    def rows(self, money: Callable[[float], float] | None = None) -> list[tuple[str, str]]:
        """The figures as (name, shown value) rows, in the order compare prints them. `money` rounds the
        money figures as they are shown (a median is one of the source's amounts: written to a scenario
        file it must be moved off it)."""

        def pct(x: float | None) -> str:
            return "-" if x is None else f"{100 * x + 0.0:.1f} %"

        def num(x: float | None, digits: int = 2) -> str:
            return "-" if x is None else f"{x + 0.0:,.{digits}f}"

        shown = money or (lambda x: x)

        def cash(x: float | None) -> str:
            return num(None if x is None else shown(x))

        first, last = (str(EPOCH + np.timedelta64(d, "D")) for d in (self.first_day, self.last_day))
        out = [
            ("customers (buyers)", f"{self.customers:,}"),
            ("orders", f"{self.orders:,}"),
            ("sales lines", f"{self.lines:,}"),
            ("first and last day", f"{first} .. {last}"),
            ("one-time buyers", pct(self.one_time_share)),
            ("yearly retention", pct(self.yearly_retention)),
            ("orders per active customer per year", num(self.orders_per_active_year)),
            ("orders per buyer: mean", num(self.orders_per_buyer_mean)),
            ("orders per buyer: 90th percentile", num(self.orders_per_buyer_p90, 0)),
            ("days between purchases: median", num(self.gap_median, 0)),
            ("days between purchases: quartiles", "-" if self.gap_p25 is None else
             f"{self.gap_p25:.0f} .. {self.gap_p75:.0f}"),
            (f"repeat buyers with a gap over {LONG_GAP_DAYS} days", pct(self.long_gap_share)),
            ("purchase days, first half vs second: correlation", num(self.persistence)),
            (f"heaviest {100 * HEAVY_SHARE:.0f} % of first-half buyers: none in the second half",
             pct(self.heavy_lapse)),
            ("revenue share of the top 20 % of customers", pct(self.top20_share)),
            ("order value: mean", cash(self.order_value_mean)),
            ("order value: median", cash(self.order_value_median)),
            ("order value: 90th percentile", cash(self.order_value_p90)),
        ]  # fmt: skip
        out += [(f"order value: mean, {ch}", cash(v)) for ch, v in self.channel_order_value.items()]
        out += [(f"orders in channel {ch}", pct(v)) for ch, v in self.channel_order_share.items()]
        out += [(f"units per line: median, {ch}", num(v, 1)) for ch, v in self.channel_units_per_line.items()]
        out += [
            (f"days between purchases: median, {ch}", num(v, 0)) for ch, v in self.channel_gap_median.items()
        ]
        out += [
            ("lines per order: mean", num(_mean_count(self.lines_per_order))),
            ("units per order: mean", num(self.units_per_order_mean)),
            ("units per order: 90th percentile", num(self.units_per_order_p90, 0)),
            ("monthly seasonality, Jan..Dec", " ".join(f"{x:.2f}" for x in self.month_index)),
            ("weekday share of orders (Mon..Sun)", " ".join(f"{100 * x:.0f}" for x in self.weekday_share)),
            ("acquisition: days until 99 % of buyers came", f"{self.acquisition_days:,}"),
            ("acquisition: growth of new buyers per year", pct(self.acquisition_growth)),
            ("returns: share of value sold", pct(self.return_rate)),
            ("returns: mean days after the purchase", num(self.return_lag_mean, 1)),
        ]  # fmt: skip
        out += [(f"returns: share of value sold, {ch}", pct(v)) for ch, v in self.channel_return_rate.items()]
        out += [
            ("products sold", "-" if self.products is None else f"{self.products:,}"),
            ("unit price: median", cash(self.unit_price_median)),
            ("unit price: 10th .. 90th percentile", f"{cash(self.unit_price_p10)} .. {cash(self.unit_price_p90)}"),
            ("price increase per year", pct(self.price_increase_per_year)),
        ]  # fmt: skip
        out += [(f"customers in channel {ch}", pct(v)) for ch, v in self.channel_customers.items()]
        out += [(f"customers in country {c}", pct(v)) for c, v in self.country_customers.items()]
        return out


def _mean_count(shares: tuple[float, ...]) -> float:
    return float(sum((i + 1) * s for i, s in enumerate(shares)))


def measure(h: History) -> Measures:
    """The figures of history `h`. Raises nothing: fit checks what it needs (erpgen.fit.twin)."""
    sale = ~h.is_return
    cust, day, amount = h.customer[sale], h.day[sale], h.amount[sale]
    qty = h.quantity[sale] if h.quantity is not None else None
    o = _orders(h, sale)
    n_orders = len(o.customer)
    buyers, per_buyer = np.unique(o.customer, return_counts=True)
    first_day, last_day = int(h.day.min()), int(h.day.max())
    gaps, long_share = _gaps(cust, day)
    revenue = np.bincount(_dense(h.customer), weights=h.amount)  # net of returns, as validate counts it
    lines_hist = np.bincount(np.minimum(o.lines, 10))[1:] / max(1, n_orders)
    units = o.units
    unit_price = amount / qty if qty is not None else amount
    unit_price = unit_price[np.isfinite(unit_price) & (unit_price > 0)]
    channel = _by_channel(h, o, sale)
    month_index = _month_index(o, first_day, last_day)
    halves = _halves(o.customer, o.day, first_day, last_day)
    return Measures(
        customers=len(buyers),
        orders=n_orders,
        lines=int(sale.sum()),
        first_day=first_day,
        last_day=last_day,
        one_time_share=float((per_buyer == 1).mean()) if len(buyers) else 0.0,
        yearly_retention=_retention(o.customer, o.day),
        orders_per_active_year=n_orders / max(1, len(np.unique(o.customer * 10_000 + _year(o.day)))),
        orders_per_buyer_mean=float(per_buyer.mean()) if len(buyers) else 0.0,
        orders_per_buyer_p90=float(np.percentile(per_buyer, 90)) if len(buyers) else 0.0,
        gap_median=float(np.median(gaps)) if len(gaps) else None,
        gap_p25=float(np.percentile(gaps, 25)) if len(gaps) else None,
        gap_p75=float(np.percentile(gaps, 75)) if len(gaps) else None,
        long_gap_share=long_share,
        persistence=_persistence(*halves),
        heavy_lapse=_heavy_lapse(*halves),
        top20_share=_top_share(revenue, 0.2),
        order_value_mean=float(o.value.mean()) if n_orders else 0.0,
        order_value_median=float(np.median(o.value)) if n_orders else 0.0,
        order_value_p90=float(np.percentile(o.value, 90)) if n_orders else 0.0,
        lines_per_order=tuple(float(x) for x in lines_hist),
        units_per_order_mean=float(units.mean()) if units is not None and n_orders else None,
        units_per_order_p90=float(np.percentile(units, 90)) if units is not None and n_orders else None,
        units_per_line_median=float(np.median(qty)) if qty is not None and len(qty) else None,
        month_index=month_index,
        weekday_share=_weekday_share(o.day),
        acquisition_days=_acquisition_days(o, first_day),
        acquisition_growth=_acquisition_growth(o, first_day, last_day),
        acquisition_growth_knob=_acquisition_growth(o, first_day, last_day, month_index),
        return_rate=_return_rate(h),
        return_lag_mean=_return_lag(h),
        products=int(len(np.unique(h.product[sale]))) if h.product is not None else None,
        unit_price_median=float(np.median(unit_price)) if len(unit_price) else 0.0,
        unit_price_p10=float(np.percentile(unit_price, 10)) if len(unit_price) else 0.0,
        unit_price_p90=float(np.percentile(unit_price, 90)) if len(unit_price) else 0.0,
        price_log_sigma=_price_log_sigma(h, sale),
        price_increase_per_year=_price_increase(h, sale, first_day, last_day),
        **channel,
    )


@dataclass
class _Orders:
    customer: np.ndarray
    day: np.ndarray
    value: np.ndarray
    lines: np.ndarray
    units: np.ndarray | None
    channel: np.ndarray | None  # of the order's first line


def _orders(h: History, sale: np.ndarray) -> _Orders:
    cust, day = h.customer[sale], h.day[sale]
    if h.document is not None:
        key = h.document[sale]
    else:
        key = cust * 1_000_000 + (day - day.min(initial=0))
    order, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    n = len(order)
    day_of = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(day_of, inverse, day)
    return _Orders(
        customer=cust[first],
        day=day_of,
        value=np.bincount(inverse, weights=h.amount[sale], minlength=n),
        lines=np.bincount(inverse, minlength=n),
        units=None if h.quantity is None else np.bincount(inverse, weights=h.quantity[sale], minlength=n),
        channel=None if h.channel is None else h.channel[sale][first],
    )


def _dense(codes: np.ndarray) -> np.ndarray:
    return np.unique(codes, return_inverse=True)[1]


def _year(day: np.ndarray) -> np.ndarray:
    return (EPOCH + day.astype("timedelta64[D]")).astype("datetime64[Y]").astype(np.int64) + 1970


def _retention(customer: np.ndarray, day: np.ndarray) -> float | None:
    """Of the customers active in a calendar year (but the last), the share active the next year."""
    year = _year(day)
    active = np.unique(customer * 10_000 + year)
    last = int(year.max(initial=0))
    base = active[active % 10_000 < last]
    if not len(base):
        return None
    return float(np.isin(base + 1, active).mean())


def _gaps(cust: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, float | None]:
    """Days between each customer's consecutive purchase days; the share of repeat buyers with one over
    LONG_GAP_DAYS."""
    days = np.unique(cust * 1_000_000 + (day - day.min(initial=0)))
    c, d = days // 1_000_000, days % 1_000_000
    same = c[1:] == c[:-1]
    gaps = (d[1:] - d[:-1])[same]
    repeat = np.unique(c[1:][same])
    if not len(repeat):
        return gaps, None
    long = np.unique(c[1:][same][gaps > LONG_GAP_DAYS])
    return gaps, len(long) / len(repeat)


def _halves(
    customer: np.ndarray, day: np.ndarray, first_day: int, last_day: int
) -> tuple[np.ndarray, np.ndarray]:
    """Purchase days in the range's first half and in its second, of each customer who first bought in
    the first half."""
    days = np.unique(customer * 1_000_000 + (day - first_day))
    c, d = days // 1_000_000, days % 1_000_000
    mid = (last_day - first_day + 1) // 2
    ids, row = np.unique(c, return_inverse=True)
    early = np.bincount(row[d < mid], minlength=len(ids))
    late = np.bincount(row[d >= mid], minlength=len(ids))
    return early[early > 0], late[early > 0]


def _persistence(early: np.ndarray, late: np.ndarray) -> float | None:
    """The correlation of the customers' purchase days in the first half and in the second. None when
    the halves cannot show it."""
    if len(early) < 30 or early.std() == 0 or late.std() == 0:
        return None
    return float(np.corrcoef(early, late)[0, 1])


def _heavy_lapse(early: np.ndarray, late: np.ndarray) -> float | None:
    """Of the heaviest HEAVY_SHARE of the customers by purchase days in the first half, the share with
    none in the second. Customers tied at the cut count in part, as a random draw among them would, so
    that the figure moves smoothly and two histories are compared on the same share of customers."""
    heavy = HEAVY_SHARE * len(early)
    if heavy < 10 or early.max() < 2:
        return None
    cut = np.sort(early)[::-1][math.ceil(heavy) - 1]
    above, at = early > cut, early == cut
    part = (heavy - above.sum()) / at.sum()
    lapsed = (late[above] == 0).sum() + part * (late[at] == 0).sum()
    return float(lapsed / heavy)


def _top_share(revenue: np.ndarray, top: float) -> float:
    ordered = np.sort(revenue)[::-1]
    total = ordered.sum()
    return float(ordered[: int(top * len(ordered))].sum() / total) if total > 0 else 0.0


def _month_index(o: _Orders, first_day: int, last_day: int) -> tuple[float, ...]:
    """Repeat orders per day of each month of the range, over a quadratic trend (in logs), averaged by
    calendar month: the seasons without the growth or the ageing of the customer base. A customer's first
    order is left out, as it follows acquisition; months the range does not show are 1."""
    first_order = np.zeros(len(o.customer), dtype=bool)
    order = np.lexsort((o.day, o.customer))
    first_order[order[np.r_[True, o.customer[order][1:] != o.customer[order][:-1]]]] = True
    days = o.day[~first_order]
    if last_day - first_day >= 450:
        # the first quarter's customers are new: their repeat orders are only starting, which no trend
        # over the range follows
        days = days[days >= first_day + 90]
        first_day += 90
    if len(days) < 100:
        return (1.0,) * 12
    month = (EPOCH + days.astype("timedelta64[D]")).astype("datetime64[M]").astype(np.int64)
    start = int((EPOCH + np.timedelta64(first_day, "D")).astype("datetime64[M]").astype(np.int64))
    count = np.bincount(month - start)
    k = np.arange(len(count))
    month_start = (np.datetime64("1970-01", "M") + (start + k)).astype("datetime64[D]")
    month_end = (np.datetime64("1970-01", "M") + (start + k + 1)).astype("datetime64[D]")
    lo = np.maximum(month_start - EPOCH, first_day).astype(np.int64)
    hi = np.minimum(month_end - EPOCH, last_day + 1).astype(np.int64)
    rate = count / np.maximum(1, hi - lo)
    ok = rate > 0
    if ok.sum() < 4:
        return (1.0,) * 12
    coef = np.polyfit(k[ok], np.log(rate[ok]), 2 if ok.sum() >= 6 else 1)
    residual = np.log(rate[ok]) - np.polyval(coef, k[ok])
    calendar = (start + k[ok]) % 12
    total = np.bincount(calendar, weights=residual, minlength=12)
    seen = np.bincount(calendar, minlength=12)
    index = np.exp(np.where(seen > 0, total / np.maximum(seen, 1), 0.0))
    index = index / index[seen > 0].mean()
    return tuple(float(x) for x in np.where(seen > 0, index, 1.0))


def _weekday_share(day: np.ndarray) -> tuple[float, ...]:
    counts = np.bincount((day + 3) % 7, minlength=7)  # 1970-01-01 was a Thursday
    return tuple(float(x) for x in counts / max(1, counts.sum()))


def _first_days(o: _Orders) -> np.ndarray:
    first = np.full(int(o.customer.max(initial=-1)) + 1, np.iinfo(np.int64).max)
    np.minimum.at(first, o.customer, o.day)
    return first[first != np.iinfo(np.int64).max]


def _acquisition_days(o: _Orders, first_day: int) -> int:
    first = _first_days(o)
    return int(np.percentile(first - first_day, 99)) + 1 if len(first) else 0


def _acquisition_growth(
    o: _Orders, first_day: int, last_day: int, month_index: tuple[float, ...] = (1.0,) * 12
) -> float:
    """Yearly growth of new buyers per day, fitted log-linearly on the months where they arrive (the
    acquisition window), each month's count divided by its seasonal index when one is given."""
    first = _first_days(o)
    end = min(last_day, first_day + _acquisition_days(o, first_day))
    month = (EPOCH + first.astype("timedelta64[D]")).astype("datetime64[M]").astype(np.int64)
    first_month = int((EPOCH + np.timedelta64(first_day, "D")).astype("datetime64[M]").astype(np.int64))
    last_month = int((EPOCH + np.timedelta64(end, "D")).astype("datetime64[M]").astype(np.int64))
    count = np.bincount(month - first_month, minlength=last_month - first_month + 1)[
        : last_month - first_month + 1
    ]
    k = np.arange(len(count))
    ok = count > 0
    if ok.sum() < 3:
        return 0.0
    season = np.asarray(month_index)[(first_month + k) % 12]
    slope = np.polyfit(k[ok], np.log(count[ok] / season[ok]), 1)[0]
    return float(np.clip(math.expm1(12 * slope), -0.9, 10.0))


def _return_rate(h: History) -> float:
    sold = h.amount[~h.is_return].sum()
    return float(-h.amount[h.is_return].sum() / sold) if sold > 0 else 0.0


def _return_lag(h: History) -> float | None:
    """Mean days from each return back to the customer's last purchase on or before it."""
    lags = _return_lags(h, np.ones(len(h.day), dtype=bool))
    return float(lags.mean()) if len(lags) else None


def _return_lags(h: History, rows: np.ndarray) -> np.ndarray:
    sale, ret = rows & ~h.is_return, rows & h.is_return
    if not ret.any() or not sale.any():
        return np.zeros(0)
    s_key = h.customer[sale] * 1_000_000 + (h.day[sale] - h.day.min())
    r_key = h.customer[ret] * 1_000_000 + (h.day[ret] - h.day.min())
    s_key = np.unique(s_key)
    at = np.searchsorted(s_key, r_key, side="right") - 1
    ok = at >= 0
    ok[ok] &= s_key[at[ok]] // 1_000_000 == r_key[ok] // 1_000_000
    return (r_key[ok] - s_key[at[ok]]).astype(np.float64)


def _price_log_sigma(h: History, sale: np.ndarray) -> float:
    price = h.amount[sale] / h.quantity[sale] if h.quantity is not None else h.amount[sale]
    ok = np.isfinite(price) & (price > 0)
    log_price = np.log(price[ok])
    if not len(log_price):
        return 0.0
    if h.product is not None:
        product = _dense(h.product[sale][ok])
        per = np.bincount(product, weights=log_price) / np.bincount(product)
        return float(per.std())
    return float(log_price.std())


def _price_increase(h: History, sale: np.ndarray, first_day: int, last_day: int) -> float | None:
    """Yearly change of a product's price: log price on time, each product against its own mean."""
    if h.product is None or h.quantity is None or last_day - first_day < 730:
        return None
    price = h.amount[sale] / h.quantity[sale]
    ok = np.isfinite(price) & (price > 0)
    product = _dense(h.product[sale][ok])
    log_price, years = np.log(price[ok]), (h.day[sale][ok] - first_day) / 365.25
    counts = np.bincount(product)
    lp = log_price - (np.bincount(product, weights=log_price) / counts)[product]
    yr = years - (np.bincount(product, weights=years) / counts)[product]
    denominator = float((yr * yr).sum())
    return float(math.expm1((lp * yr).sum() / denominator)) if denominator > 0 else None


def _by_channel(h: History, o: _Orders, sale: np.ndarray) -> dict[str, dict]:
    out: dict[str, dict] = {
        "channel_customers": {},
        "country_customers": {},
        "channel_order_value": {},
        "channel_order_share": {},
        "channel_units_per_line": {},
        "channel_gap_median": {},
        "channel_return_rate": {},
        "channel_return_lag": {},
        "channel_weekday_share": {},
    }
    for column, names, key in (
        (h.channel, h.channel_names, "channel"),
        (h.country, h.country_names, "country"),
    ):
        if column is None:
            continue
        # a customer's home channel (country): that of its first line
        order = np.lexsort((h.day, h.customer))
        first = order[np.r_[True, h.customer[order][1:] != h.customer[order][:-1]]]
        share = np.bincount(column[first], minlength=len(names)) / len(first)
        out[f"{key}_customers"] = {
            names[i]: float(s) for i, s in sorted(enumerate(share), key=lambda x: -x[1]) if s > 0
        }
    if h.channel is None or o.channel is None:
        return out
    # each repeat order's days since the same customer's order before it, by the repeat order's channel
    by_time = np.lexsort((o.day, o.customer))
    same = o.customer[by_time][1:] == o.customer[by_time][:-1]
    since = np.diff(o.day[by_time])[same]
    since_channel = o.channel[by_time][1:][same]
    for code, name in enumerate(h.channel_names):
        mine = o.channel == code
        if not mine.any():
            continue
        out["channel_order_value"][name] = float(o.value[mine].mean())
        out["channel_order_share"][name] = float(mine.mean())
        gaps = since[(since_channel == code) & (since > 0)]
        if len(gaps):
            out["channel_gap_median"][name] = float(np.median(gaps))
        rows = h.channel == code
        if h.quantity is not None and (rows & sale).any():
            out["channel_units_per_line"][name] = float(np.median(h.quantity[rows & sale]))
        sold = h.amount[rows & sale].sum()
        out["channel_return_rate"][name] = float(-h.amount[rows & ~sale].sum() / sold) if sold > 0 else 0.0
        lags = _return_lags(h, rows)
        if len(lags):
            out["channel_return_lag"][name] = float(lags.mean())
        out["channel_weekday_share"][name] = _weekday_share(o.day[mine])
    return out
