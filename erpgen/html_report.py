"""`erpgen report`: one self-contained HTML page with the charts a sales or CRM analyst looks at first.

Every figure is aggregated by SQL in the database (datasets run to millions of lines); Python only
shapes the few thousand aggregate rows into plotly figures. plotly.js is embedded once, inline, so the
page opens offline; the validation checks of `erpgen validate` close it.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError

from erpgen import urls
from erpgen.database import connect, describe_db_error, erpgen_tables_present
from erpgen.errors import ConfigError, TargetError
from erpgen.schema import TABLES
from erpgen.validation import ValidationReport, _fmt, _Sql, validate

TOP_PRODUCTS = 15
CHART_HEIGHT = "420px"
# receivables ageing: days past due at the data's last day (below 0: not yet due), bucket by bucket
AGEING = ("not yet due", "0-30 days", "31-60 days", "61-90 days", "over 90 days")
DSO_DAYS = 365  # DSO at the end: open receivables / the sales of this many days before it x the days
DSO_MONTHS = 3  # DSO by month: the receivables at its end / the sales of this many months to it x their days


@dataclass
class Facts:
    """The aggregates the charts are drawn from: small lists of tuples, whatever the dataset's size."""

    sales: list[tuple[str, str, str, float, float]]  # month, channel, category, sold, returned
    flows: list[tuple[str, int, int]]  # month, first purchases, customers lost
    cohorts: list[tuple[int, int, int]]  # first-purchase year, years later, customers buying
    segments: list[tuple[str, int, float]]  # segment, customers, net revenue
    top_products: list[tuple[str, str, float, float]]  # product, category, net revenue, units sold
    countries: list[tuple[str, str, int]]  # country, channel, customers
    hours: list[tuple[int, str, int]]  # hour of the day, channel, sales invoices made in it
    orders: int
    customers: int
    first_sale: str
    last_sale: str
    o2c: OrderToCash


@dataclass
class OrderToCash:
    """The order-to-cash aggregates: monthly flows (the backlog and the receivables at each month end are
    their running sums) and where the documents stand at the data's last day."""

    data_end: str  # the data's last day: exchange_rates runs to it ("" without rates)
    company_currency: str
    deliveries: list[
        tuple[int, str, int, int, int]
    ]  # year delivered, channel, deliveries, lead days, on time
    order_flows: list[tuple[str, int, int, int, int]]  # month, ordered, shipped, cancelled, delivered
    statuses: list[tuple[str, str, int]]  # channel, status at the end, orders
    receivable_flows: list[tuple[str, str, float, float]]  # month, channel, invoiced, paid (company currency)
    dso: list[tuple[str, float, float]]  # channel, open receivables at the end, sales of its last 365 days
    ageing: list[
        tuple[int, str, float, int]
    ]  # AGEING bucket, currency, open B2B amount (company's), invoices
    currencies: list[tuple[str, str, float, float]]  # month, currency, net invoiced: company's, document's

    @property
    def drawn(self) -> bool:
        """Whether the dataset holds the documents (a dataset loaded before revision 0009 has none) and the
        rates that date its end."""
        return bool(self.order_flows and self.data_end)


@dataclass
class ReportSummary:
    """The page build() wrote: where, its size and charts, how many validation checks failed, and the time."""

    output: Path
    size_bytes: int
    charts: int
    checks_failed: int
    seconds: float
    target: str

    def render(self) -> str:
        checks = "all checks passed" if not self.checks_failed else f"{self.checks_failed} check(s) failed"
        return (
            f"erpgen report: wrote {self.output} ({self.size_bytes / 1e6:.1f} MB, {self.charts} charts; "
            f"validation: {checks}) from {self.target} in {self.seconds:.1f} s"
        )


def build(*, database_url: str | None = None, output: str | Path = "report.html") -> ReportSummary:
    """Query the database at `database_url` and write the report to `output`."""
    started = time.perf_counter()
    _require_plotly()
    out = Path(output).expanduser()
    if out.is_dir():
        raise ConfigError(f"cannot write {out}: it is a directory", "give a file name: -o report.html")
    if not out.parent.is_dir():
        raise ConfigError(
            f"cannot write {out}: directory {out.parent} does not exist", "create it or choose another -o"
        )
    url = urls.parse(database_url or urls.DEFAULT_URL)
    if urls.missing_file(url):
        raise TargetError(
            f"{urls.mask(url)} does not exist", "generate a dataset first, or fix --database-url"
        )
    with connect(url) as conn:
        try:
            _require_dataset(conn, url)
            facts, run = collect(conn), _run(conn)
        except DBAPIError as exc:
            raise TargetError(f"cannot read {urls.mask(url)}: {describe_db_error(exc, url)}") from None
        finally:
            conn.rollback()
    validation = validate(database_url=database_url or urls.DEFAULT_URL)
    charts = _charts(facts)
    page = _page(facts, run, charts, validation, urls.mask(url))
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror}", "choose another -o") from None
    failed = sum(not c.ok for c in validation.checks)
    return ReportSummary(
        out, len(page.encode()), len(charts), failed, time.perf_counter() - started, urls.mask(url)
    )


def _require_plotly() -> None:
    try:
        import plotly  # noqa: F401
    except ImportError:
        raise ConfigError(
            "erpgen report draws its charts with plotly, which is not installed",
            "pip install 'erpgen[report]'",
        ) from None


def _require_dataset(conn: Connection, url: URL) -> None:
    present = set(erpgen_tables_present(conn))
    missing = [t.name for t in TABLES if t.name not in present]
    if missing:
        what = (
            "no erpgen tables"
            if not present
            else f"no complete erpgen dataset (missing {', '.join(missing)})"
        )
        raise TargetError(
            f"{urls.mask(url)} holds {what}",
            "run erpgen generate first, or fix --database-url",
        )
    if conn.execute(text("SELECT 1 FROM sales_transactions LIMIT 1")).first() is None:
        raise TargetError(f"{urls.mask(url)} holds no sales to report on", "run erpgen generate first")


def collect(conn: Connection) -> Facts:
    """Aggregate everything the charts need, in SQL."""
    q = _Sql(conn.dialect.name)

    def rows(sql: str) -> list:
        return [tuple(r) for r in conn.execute(text(sql))]

    def month(col: str) -> str:
        return f"{q.year(col)} AS y, {q.month(col)} AS m"

    sales = rows(
        f"SELECT {month('s.invoice_date')}, st.channel, p.category, "
        "sum(CASE WHEN s.quantity > 0 THEN s.revenue ELSE 0 END), "
        "-sum(CASE WHEN s.quantity < 0 THEN s.revenue ELSE 0 END) "
        "FROM sales_transactions s JOIN stores st ON st.store_id = s.store_id "
        "JOIN products p ON p.product_id = s.product_id GROUP BY 1, 2, 3, 4"
    )
    new = rows(
        f"SELECT {month('first_purchase_on')}, count(*) FROM customer_lifecycle "
        "WHERE first_purchase_on IS NOT NULL GROUP BY 1, 2"
    )
    lost = rows(
        f"SELECT {month('lost_on')}, count(*) FROM customer_lifecycle "
        "WHERE lost_on IS NOT NULL AND first_purchase_on IS NOT NULL GROUP BY 1, 2"
    )
    cohorts = rows(
        f"WITH f AS (SELECT customer_id, {q.year('first_purchase_on')} AS cohort FROM customer_lifecycle "
        "WHERE first_purchase_on IS NOT NULL), "
        f"a AS (SELECT DISTINCT customer_id, {q.year('invoice_date')} AS y FROM sales_transactions "
        "WHERE quantity > 0) "
        "SELECT f.cohort, a.y - f.cohort, count(*) FROM a JOIN f ON f.customer_id = a.customer_id GROUP BY 1, 2"
    )
    segments = rows(
        "SELECT l.segment, count(*), sum(coalesce(s.net, 0)) FROM customer_lifecycle l LEFT JOIN "
        "(SELECT customer_id, sum(revenue) AS net FROM sales_transactions GROUP BY customer_id) s "
        "ON s.customer_id = l.customer_id GROUP BY l.segment"
    )
    top = rows(
        "SELECT p.product_name, p.category, t.net, t.units FROM (SELECT product_id, sum(revenue) AS net, "
        "sum(CASE WHEN quantity > 0 THEN quantity ELSE 0 END) AS units FROM sales_transactions "
        f"GROUP BY product_id) t JOIN products p ON p.product_id = t.product_id "
        f"ORDER BY t.net DESC, p.product_id LIMIT {TOP_PRODUCTS}"
    )
    hours = rows(
        f"SELECT {q.hour('s.invoiced_at')}, st.channel, count(DISTINCT s.invoice_id) FROM sales_transactions s "
        "JOIN stores st ON st.store_id = s.store_id WHERE s.quantity > 0 GROUP BY 1, 2"
    )
    (orders, customers, first, last) = rows(
        "SELECT (SELECT count(DISTINCT invoice_id) FROM sales_transactions WHERE quantity > 0), "
        "(SELECT count(*) FROM customers), (SELECT min(invoice_date) FROM sales_transactions), "
        "(SELECT max(invoice_date) FROM sales_transactions)"
    )[0]
    flows: dict[str, list[int]] = {}
    for y, m, n in new:
        flows.setdefault(_ym(y, m), [0, 0])[0] = n
    for y, m, n in lost:
        flows.setdefault(_ym(y, m), [0, 0])[1] = n
    return Facts(
        sales=sorted((_ym(y, m), ch, cat, _money(s), _money(r)) for y, m, ch, cat, s, r in sales),
        flows=sorted((k, n, lo) for k, (n, lo) in flows.items()),
        cohorts=sorted(cohorts),
        segments=sorted((seg, n, _money(net)) for seg, n, net in segments),
        top_products=[(name, cat, _money(net), float(units)) for name, cat, net, units in top],
        countries=sorted(rows("SELECT country, channel, count(*) FROM customers GROUP BY 1, 2")),
        hours=sorted((int(h), ch, n) for h, ch, n in hours),
        orders=orders,
        customers=customers,
        first_sale=str(first),
        last_sale=str(last),
        o2c=_order_to_cash(conn),
    )


def _order_to_cash(conn: Connection) -> OrderToCash:
    """The order-to-cash aggregates, in SQL; "the end" is the data's last day, the last exchange rate's."""
    q = _Sql(conn.dialect.name)

    def rows(sql: str) -> list:
        return [tuple(r) for r in conn.execute(text(sql))]

    end = "(SELECT max(rate_date) AS data_end FROM exchange_rates) e"

    def month(col: str) -> str:
        return f"{q.year(col)} AS y, {q.month(col)} AS m"

    def monthly(sql: str) -> dict[str, int]:
        return {_ym(y, m): int(n) for y, m, n in rows(sql)}

    deliveries = rows(
        f"SELECT {q.year('d.delivered_on')}, st.channel, count(*), "
        f"sum({q.days('d.delivered_on', 'o.order_date')}), "
        "sum(CASE WHEN d.delivered_on <= d.promised_on THEN 1 ELSE 0 END) "
        "FROM deliveries d JOIN sales_orders o ON o.order_id = d.order_id "
        "JOIN stores st ON st.store_id = o.store_id WHERE d.delivered_on IS NOT NULL GROUP BY 1, 2"
    )
    ordered = monthly(f"SELECT {month('order_date')}, count(*) FROM sales_orders GROUP BY 1, 2")
    shipped = monthly(f"SELECT {month('shipped_on')}, count(*) FROM deliveries GROUP BY 1, 2")
    cancelled = monthly(
        f"SELECT {month('cancelled_on')}, count(*) FROM sales_orders WHERE cancelled_on IS NOT NULL GROUP BY 1, 2"
    )
    delivered = monthly(
        f"SELECT {month('delivered_on')}, count(*) FROM deliveries WHERE delivered_on IS NOT NULL GROUP BY 1, 2"
    )
    invoiced = rows(
        f"SELECT {month('i.invoice_date')}, st.channel, sum(i.total_company) FROM invoices i "
        "JOIN stores st ON st.store_id = i.store_id WHERE i.is_credit = 0 GROUP BY 1, 2, 3"
    )
    paid = rows(  # a sale invoice is paid at once (no part payments): its total leaves the receivables
        f"SELECT {month('p.paid_on')}, st.channel, sum(i.total_company) FROM payments p "
        "JOIN invoices i ON i.invoice_id = p.invoice_id JOIN stores st ON st.store_id = i.store_id "
        "WHERE i.is_credit = 0 GROUP BY 1, 2, 3"
    )
    flows: dict[tuple[str, str], list[float]] = {}
    for at, (y, m, ch, amount) in [(0, r) for r in invoiced] + [(1, r) for r in paid]:
        flows.setdefault((_ym(y, m), ch), [0.0, 0.0])[at] = _money(amount)
    dso = rows(
        "SELECT st.channel, sum(CASE WHEN p.invoice_id IS NULL THEN i.total_company ELSE 0 END), "
        f"sum(CASE WHEN {q.days('e.data_end', 'i.invoice_date')} < {DSO_DAYS} THEN i.total_company ELSE 0 END) "
        "FROM invoices i JOIN stores st ON st.store_id = i.store_id "
        f"LEFT JOIN payments p ON p.invoice_id = i.invoice_id CROSS JOIN {end} "
        "WHERE i.is_credit = 0 GROUP BY st.channel"
    )
    ageing = rows(
        "SELECT CASE WHEN t.late < 0 THEN 0 WHEN t.late <= 30 THEN 1 WHEN t.late <= 60 THEN 2 "
        "WHEN t.late <= 90 THEN 3 ELSE 4 END, t.currency_code, sum(t.total_company), count(*) FROM "
        f"(SELECT i.currency_code, i.total_company, {q.days('e.data_end', 'i.due_on')} AS late "
        f"FROM invoices i JOIN stores st ON st.store_id = i.store_id CROSS JOIN {end} "
        # an anti-join, not NOT EXISTS: SQLite indexes payments.invoice_id on the fly for a join only
        "LEFT JOIN payments p ON p.invoice_id = i.invoice_id "
        "WHERE i.is_credit = 0 AND st.channel = 'B2B' AND p.invoice_id IS NULL) t GROUP BY 1, 2"
    )
    currencies = rows(
        f"SELECT {month('invoice_date')}, currency_code, sum(total_company), sum(total) FROM invoices "
        "GROUP BY 1, 2, 3"
    )
    (data_end, company) = rows(
        "SELECT (SELECT max(rate_date) FROM exchange_rates), "
        "(SELECT min(currency_code) FROM currencies WHERE is_company = 1)"
    )[0]
    months = sorted({*ordered, *shipped, *cancelled, *delivered})
    return OrderToCash(
        data_end="" if data_end is None else str(data_end),
        company_currency=str(company or ""),
        deliveries=sorted((int(y), ch, n, int(days), int(on_time)) for y, ch, n, days, on_time in deliveries),
        order_flows=[
            (ym, ordered.get(ym, 0), shipped.get(ym, 0), cancelled.get(ym, 0), delivered.get(ym, 0))
            for ym in months
        ],
        statuses=sorted(
            rows(
                "SELECT st.channel, o.status, count(*) FROM sales_orders o "
                "JOIN stores st ON st.store_id = o.store_id GROUP BY 1, 2"
            )
        ),  # fmt: skip
        receivable_flows=sorted((ym, ch, i, p) for (ym, ch), (i, p) in flows.items()),
        dso=sorted((ch, _money(receivable), _money(sales)) for ch, receivable, sales in dso),
        ageing=sorted((int(b), cur, _money(amount), n) for b, cur, amount, n in ageing),
        currencies=sorted((_ym(y, m), cur, _money(c), _money(d)) for y, m, cur, c, d in currencies),
    )


def _ym(y: int, m: int) -> str:
    return f"{int(y):04d}-{int(m):02d}"


def _money(x) -> float:
    return round(float(x or 0), 2)


def _run(conn: Connection) -> dict:
    """The latest load's scenario, seed and parameters (empty if erpgen_runs has none)."""
    row = (
        conn.execute(
            text(
                "SELECT * FROM erpgen_runs ORDER BY run_id DESC"  # covers_till only from revision 0005 on
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return {}
    return {**json.loads(row["parameters"] or "{}"), **dict(row)}


def _months(first: str, last: str) -> list[str]:
    """Every month from `first` to `last` (YYYY-MM), so quiet months show as zero, not as a gap."""
    y, m = int(first[:4]), int(first[5:7])
    out = []
    while (key := _ym(y, m)) <= last[:7]:
        out.append(key)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _palette(names, colors) -> dict[str, str]:
    return {name: colors[i % len(colors)] for i, name in enumerate(sorted(set(names)))}


def _charts(f: Facts) -> list[tuple[str, str, object]]:
    """(key, title, plotly figure) for every chart, in page order."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    months = _months(f.first_sale, f.last_sale)
    channels = _palette((ch for _, ch, _, _, _ in f.sales), qualitative.Plotly)
    categories = _palette((cat for _, _, cat, _, _ in f.sales), qualitative.Set2)
    segments = _palette((seg for seg, _, _ in f.segments), qualitative.Safe)

    def monthly(series_of: Callable[[str, str], str]) -> dict[str, list[float]]:
        """Net revenue per month of each series (a channel or a category)."""
        series: dict[str, dict[str, float]] = {}
        for ym, ch, cat, sold, returned in f.sales:
            by = series.setdefault(series_of(ch, cat), {})
            by[ym] = by.get(ym, 0.0) + sold - returned
        return {name: [round(by.get(ym, 0.0), 2) for ym in months] for name, by in sorted(series.items())}

    charts = []
    fig = go.Figure(
        [
            go.Bar(x=months, y=ys, name=ch, marker_color=channels[ch])
            for ch, ys in monthly(lambda ch, _: ch).items()
        ]
    )
    fig.update_layout(barmode="relative", yaxis_title="net revenue", bargap=0.05)
    charts.append(("revenue_by_channel", "Monthly net revenue by channel", fig))

    fig = go.Figure(
        [
            go.Scatter(x=months, y=ys, name=cat, stackgroup="revenue", line_color=categories[cat])
            for cat, ys in monthly(lambda _, cat: cat).items()
        ]
    )
    fig.update_layout(yaxis_title="net revenue")
    charts.append(("revenue_by_category", "Monthly net revenue by category", fig))

    flows = {ym: (n, lost) for ym, n, lost in f.flows}
    new = [flows.get(ym, (0, 0))[0] for ym in months]
    lost = [flows.get(ym, (0, 0))[1] for ym in months]
    active, base = [], 0
    for n, gone in zip(new, lost):
        base += n - gone
        active.append(base)
    fig = go.Figure(
        [
            go.Bar(x=months, y=new, name="new (first purchase)", marker_color="#2ca02c"),
            go.Bar(x=months, y=[-n for n in lost], name="lost", marker_color="#d62728"),
            go.Scatter(
                x=months, y=active, name="active (bought, not lost)", yaxis="y2", line_color="#1f77b4"
            ),
        ]
    )
    fig.update_layout(
        barmode="relative",
        bargap=0.05,
        yaxis_title="new / lost per month",
        yaxis2={
            "title": "active customers",
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "tickmode": "auto",
            "showgrid": False,
        },
        legend={"orientation": "h", "y": -0.15},
    )
    charts.append(("customers", "Active, new and lost customers", fig))

    size = {c: n for c, k, n in f.cohorts if k == 0}
    years = sorted(size)
    offsets = list(range(max(k for _, k, _ in f.cohorts) + 1))
    buying = {(c, k): n for c, k, n in f.cohorts}
    z = [[buying.get((c, k), 0) / size[c] if c + k <= years[-1] else None for k in offsets] for c in years]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"year {k}" for k in offsets],
            y=[f"{c} ({size[c]:,})" for c in years],
            colorscale="Blues",
            zmin=0,
            zmax=1,
            texttemplate="%{z:.0%}",
            hovertemplate="cohort %{y}, %{x}: %{z:.1%} bought<extra></extra>",
            colorbar={"tickformat": ".0%"},
        )
    )
    fig.update_layout(yaxis={"autorange": "reversed", "title": "first purchase in (customers)"})
    charts.append(("cohort_retention", "Cohort retention: share of each year's new buyers buying again", fig))

    fig = go.Figure(
        [
            go.Pie(
                labels=[s for s, _, _ in f.segments],
                values=[row[1 + i] for row in f.segments],
                hole=0.45,
                domain={"x": [0.52 * i, 0.48 + 0.52 * i]},
                title=title,
                marker_colors=[segments[s] for s, _, _ in f.segments],
                sort=False,
            )
            for i, title in enumerate(("customers", "net revenue"))
        ]
    )
    charts.append(("segment_mix", "Lifecycle segments: share of customers and of revenue", fig))

    yearly: dict[tuple[str, str], list[float]] = {}
    for ym, ch, _, sold, returned in f.sales:
        acc = yearly.setdefault((ch, ym[:4]), [0.0, 0.0])
        acc[0] += sold
        acc[1] += returned
    fig = go.Figure(
        [
            go.Scatter(
                x=[y for c, y in sorted(yearly) if c == ch],
                y=[r / s if s else None for (c, _), (s, r) in sorted(yearly.items()) if c == ch],
                name=ch,
                mode="lines+markers",
                line_color=channels[ch],
            )
            for ch in channels
        ]
    )
    fig.update_layout(
        yaxis={"title": "returned value / sold value", "tickformat": ".0%", "rangemode": "tozero"}
    )
    charts.append(("return_rates", "Return rate by channel and year", fig))

    fig = go.Figure(
        [
            go.Bar(
                y=[name for name, c, _, _ in f.top_products if c == cat],
                x=[net for _, c, net, _ in f.top_products if c == cat],
                customdata=[units for _, c, _, units in f.top_products if c == cat],
                hovertemplate="%{y}: %{x:,.0f} net revenue, %{customdata:,.0f} units<extra></extra>",
                orientation="h",
                name=cat,
                marker_color=categories[cat],
            )
            for cat in categories
            if any(c == cat for _, c, _, _ in f.top_products)
        ]
    )
    fig.update_layout(yaxis={"categoryorder": "total ascending"}, xaxis_title="net revenue")
    charts.append(("top_products", f"Top {TOP_PRODUCTS} products by net revenue", fig))

    countries = sorted({c for c, _, _ in f.countries})
    fig = go.Figure(
        [
            go.Bar(
                y=countries,
                x=[next((n for c, h, n in f.countries if c == co and h == ch), 0) for co in countries],
                orientation="h",
                name=ch,
                marker_color=channels.get(ch),
            )
            for ch in sorted({h for _, h, _ in f.countries})
        ]
    )
    fig.update_layout(barmode="stack", yaxis={"categoryorder": "total ascending"}, xaxis_title="customers")
    charts.append(("country_mix", "Customers by country and home channel", fig))

    # each channel's invoices as shares of its day, so that a small channel's rhythm shows beside a large one's
    fig = go.Figure()
    for ch in sorted({ch for _, ch, _ in f.hours}):
        per_hour = [sum(n for h, c, n in f.hours if c == ch and h == hour) for hour in range(24)]
        total = sum(per_hour) or 1
        fig.add_trace(
            go.Bar(
                x=list(range(24)),
                y=[100 * n / total for n in per_hour],
                name=ch,
                marker_color=channels.get(ch),
            )
        )
    fig.update_layout(
        barmode="group",
        xaxis={"title": "hour of the day", "dtick": 1},
        yaxis_title="% of the channel's invoices",
    )
    charts.append(("hour_of_day", "Invoices by hour of the day and channel", fig))

    if f.o2c.drawn:
        charts += _o2c_charts(f.o2c, channels)
    for _, _, fig in charts:
        fig.update_layout(template="plotly_white", margin={"l": 60, "r": 30, "t": 20, "b": 50})
    return charts


def _receivables(o: OrderToCash) -> tuple[list[str], dict[str, list[float]], dict[str, list[float]]]:
    """The months of the receivables' flows, and per channel ("all" too) the open receivables at each
    month end (the running sum of invoiced less paid) and the sales invoiced in each month."""
    months = _months(o.receivable_flows[0][0], o.receivable_flows[-1][0]) if o.receivable_flows else []
    at = {m: i for i, m in enumerate(months)}
    open_, sales = {}, {}
    for ym, ch, invoiced, paid in o.receivable_flows:
        for name in (ch, "all"):
            open_.setdefault(name, [0.0] * len(months))[at[ym]] += invoiced - paid
            sales.setdefault(name, [0.0] * len(months))[at[ym]] += invoiced
    for ys in open_.values():
        for i in range(1, len(ys)):
            ys[i] += ys[i - 1]
    return months, open_, sales


def _dso_by_month(o: OrderToCash) -> tuple[list[str], dict[str, list[float | None]]]:
    """Each month end's days sales outstanding per channel: its open receivables / the sales of the
    DSO_MONTHS months to it x the days of those months (the last month only to the data's last day)."""
    months, open_, sales = _receivables(o)
    end = date.fromisoformat(o.data_end)
    ends = [min(_month_end(ym), end) for ym in months]
    out: dict[str, list[float | None]] = {}
    for name in sorted(open_):
        ys = []
        for i in range(len(months)):
            first = max(0, i - DSO_MONTHS + 1)
            sold = sum(sales[name][first : i + 1])
            days = (ends[i] - date.fromisoformat(months[first] + "-01")).days + 1
            ys.append(round(open_[name][i] / sold * days, 1) if sold > 0 else None)
        out[name] = ys
    return months, out


def _month_end(ym: str) -> date:
    y, m = int(ym[:4]), int(ym[5:7])
    return (date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)) - timedelta(days=1)


def _o2c_kpis(o: OrderToCash) -> list[tuple[str, str]]:
    """The order-to-cash figures at the data's last day."""
    delivered = sum(n for _, _, n, _, _ in o.deliveries)
    statuses = {}
    for _, status, n in o.statuses:
        statuses[status] = statuses.get(status, 0) + n
    on_its_way = sum(s - d for _, _, s, _, d in o.order_flows)
    receivable = sum(r for _, r, _ in o.dso)
    sales = sum(s for _, _, s in o.dso)
    b2b = sum(a for _, _, a, _ in o.ageing)
    late = sum(a for b, _, a, _ in o.ageing if b >= 2)
    cur = html.escape(o.company_currency)
    return [
        (
            "order to delivery, days",
            f"{sum(d for *_, d, _ in o.deliveries) / delivered:.1f}" if delivered else "-",
        ),
        ("delivered on time", f"{sum(t for *_, t in o.deliveries) / delivered:.1%}" if delivered else "-"),
        ("open orders (not shipped)", f"{statuses.get('OPEN', 0):,}"),
        ("shipments on their way", f"{on_its_way:,}"),
        (f"DSO, last {DSO_DAYS} days", f"{receivable / sales * DSO_DAYS:.1f}" if sales > 0 else "-"),
        (f"open B2B receivables, {cur}", f"{b2b:,.0f}"),
        (f"of which over 30 days past due, {cur}", f"{late:,.0f}"),
    ]


def _o2c_charts(o: OrderToCash, channels: dict[str, str]) -> list[tuple[str, str, object]]:
    """The order-to-cash charts: delivery, backlog, receivables, revenue by currency."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    charts = []
    by_channel = sorted({ch for _, ch, *_ in o.deliveries})

    def yearly(value) -> object:
        return go.Figure(
            [
                go.Scatter(
                    x=[str(y) for y, c, *_ in o.deliveries if c == ch],
                    y=[value(row) for row in o.deliveries if row[1] == ch],
                    name=ch,
                    mode="lines+markers",
                    line_color=channels.get(ch),
                )
                for ch in by_channel
            ]
        )

    fig = yearly(lambda row: round(row[3] / row[2], 2))
    fig.update_layout(yaxis={"title": "days from order to delivery (mean)", "rangemode": "tozero"})
    charts.append(("o2c_lead_time", "Order to delivery: days by channel and year delivered", fig))

    fig = yearly(lambda row: row[4] / row[2])
    fig.update_layout(
        yaxis={"title": "delivered by the promised day", "tickformat": ".0%", "range": [0, 1.02]}
    )
    charts.append(("o2c_on_time", "On-time delivery share by channel and year", fig))

    months = [ym for ym, *_ in o.order_flows]
    unshipped, on_its_way, a, b = [], [], 0, 0
    for _, ordered, shipped, cancelled, delivered in o.order_flows:
        a += ordered - shipped - cancelled
        b += shipped - delivered
        unshipped.append(a)
        on_its_way.append(b)
    fig = go.Figure(
        [
            go.Scatter(x=months, y=unshipped, name="ordered, not shipped", line_color="#ff7f0e"),
            go.Scatter(x=months, y=on_its_way, name="shipped, not delivered", line_color="#1f77b4"),
        ]
    )
    fig.update_layout(yaxis={"title": "orders at the month's end", "rangemode": "tozero"})
    charts.append(("o2c_backlog", "Order backlog at each month's end", fig))

    # the orders not yet done with at the end; the paid and cancelled ones would dwarf them
    waiting = ("OPEN", "SHIPPED", "INVOICED")
    names = {
        "OPEN": "open (not shipped)",
        "SHIPPED": "shipped, not invoiced",
        "INVOICED": "invoiced, not paid",
    }
    ends = sorted({ch for ch, _, _ in o.statuses})
    fig = go.Figure(
        [
            go.Bar(
                x=ends,
                y=[next((n for c, s, n in o.statuses if c == ch and s == status), 0) for ch in ends],
                name=names[status],
                marker_color=color,
            )
            for status, color in zip(waiting, ("#ff7f0e", "#1f77b4", "#9467bd"))
        ]
    )
    fig.update_layout(barmode="stack", yaxis_title="orders", xaxis_title=f"channel (on {o.data_end})")
    charts.append(("o2c_open_orders", "Orders not yet paid at the end, by channel and status", fig))

    months, dso = _dso_by_month(o)
    fig = go.Figure(
        [
            go.Scatter(
                x=months, y=ys, name=name, line_color=channels.get(name, "#444"),
                line_dash="dot" if name == "all" else None,
            )
            for name, ys in dso.items()
        ]
    )  # fmt: skip
    fig.update_layout(yaxis={"title": f"days (sales of the last {DSO_MONTHS} months)", "rangemode": "tozero"})
    charts.append(("o2c_dso", "Days sales outstanding at each month's end, by channel", fig))

    currencies = _palette((c for *_, c, _, _ in o.currencies), qualitative.Pastel)
    cur = o.company_currency
    fig = go.Figure(
        [
            go.Bar(
                x=list(AGEING),
                y=[sum(a for b, c, a, _ in o.ageing if b == i and c == code) for i in range(len(AGEING))],
                customdata=[
                    sum(n for b, c, _, n in o.ageing if b == i and c == code) for i in range(len(AGEING))
                ],
                hovertemplate=f"%{{x}}: %{{y:,.2f}} {cur}, %{{customdata}} invoices<extra>{code}</extra>",
                name=f"in {code}",
                marker_color=currencies.get(code),
            )
            for code in sorted({c for _, c, _, _ in o.ageing})
        ]
    )
    fig.update_layout(
        barmode="stack", yaxis_title=f"open amount, {cur}", xaxis_title=f"days past due on {o.data_end}"
    )
    charts.append(("o2c_ageing", "B2B receivables ageing at the end, in the company's currency", fig))

    all_months = _months(o.currencies[0][0], o.currencies[-1][0]) if o.currencies else []
    fig = go.Figure(
        [
            go.Bar(
                x=all_months,
                y=[next((v for m, c, v, _ in o.currencies if m == ym and c == code), 0) for ym in all_months],
                name=code,
                marker_color=currencies[code],
            )
            for code in currencies
        ]
    )
    fig.update_layout(barmode="relative", bargap=0.05, yaxis_title=f"net invoiced, {cur}")
    charts.append(("o2c_revenue_by_currency", f"Monthly net invoiced by document currency, in {cur}", fig))
    return charts


def _page(f: Facts, run: dict, charts: list, checks: ValidationReport, target: str) -> str:
    import plotly.offline

    sold = sum(s for *_, s, _ in f.sales)
    returned = sum(r for *_, r in f.sales)
    buyers = sum(n for _, k, n in f.cohorts if k == 0)
    e = html.escape
    facts = [
        f"scenario <b>{e(str(run.get('scenario', 'unknown')))}</b>",
        f"seed <b>{e(str(run.get('seed', '-')))}</b>",
        f"<b>{f.customers:,}</b> customers",
        # an extended dataset's customers go on to the day it covers
        f"created {e(str(run.get('date_from', '?')))} to {e(str(run.get('covers_till') or run.get('date_till', '?')))}",
        f"sales {e(f.first_sale)} to {e(f.last_sale)}",
        f"loaded {e(str(run.get('loaded_at') or 'not completed')[:16])} by erpgen {e(str(run.get('erpgen_version', '?')))}",
        f"from <code>{e(target)}</code>",
    ]
    kpis = [
        ("net revenue", f"{sold - returned:,.0f}"),
        ("orders", f"{f.orders:,}"),
        ("average order", f"{sold / f.orders:,.2f}" if f.orders else "-"),
        ("buying customers", f"{buyers:,}"),
        ("returns (share of sales)", f"{returned / sold:.1%}" if sold else "-"),
    ]
    blocks: dict[bool, list[str]] = {False: [], True: []}  # the sales charts, the order-to-cash ones
    for key, title, fig in charts:
        div = fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"chart-{key}",
            default_height=CHART_HEIGHT,
            config={"displaylogo": False, "responsive": True},
        )
        blocks[key.startswith("o2c_")].append(
            f'<div class="chart" data-chart="{key}"><h2>{e(title)}</h2>{div}</div>'
        )
    if f.o2c.drawn:
        o2c = f"""<h2 id="order-to-cash" class="section">Order to cash, on {e(f.o2c.data_end)}</h2>
<div class="kpis">{"".join(f"<div class=kpi><b>{v}</b><span>{k}</span></div>" for k, v in _o2c_kpis(f.o2c))}</div>
<div class="grid">
{chr(10).join(blocks[True])}
</div>"""
    else:
        o2c = (
            '<h2 id="order-to-cash" class="section">Order to cash</h2><p class="facts">no orders to report on: '
            "the dataset was loaded before the order-to-cash documents (revision 0009), or has no exchange rates</p>"
        )
    failed = sum(not c.ok for c in checks.checks)
    rows = "\n".join(
        f'<tr class="{"ok" if c.ok else "fail"}"><td>{"ok" if c.ok else "FAIL"}</td><td>{e(c.group)}</td>'
        f"<td>{e(c.name)}</td><td class=num>{'-' if c.measured is None else _fmt(c.measured)}</td>"
        f"<td>{e(c.target)}</td></tr>"
        for c in checks.checks
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>erpgen report: {e(str(run.get("scenario", "")))}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; background: #f6f7f9; }}
h1 {{ margin: 0 0 4px; }} h2 {{ font-size: 15px; margin: 8px 12px 0; }}
.facts span {{ margin-right: 14px; }} .facts {{ color: #555; }}
.kpis {{ display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }}
h2.section {{ font-size: 20px; margin: 28px 0 0; }}
.kpi {{ background: #fff; border-radius: 6px; padding: 10px 16px; box-shadow: 0 1px 2px #0002; }}
.kpi b {{ display: block; font-size: 22px; }} .kpi span {{ color: #666; font-size: 12px; }}
/* fixed columns: each chart measures its width when its script runs, before later charts exist */
.grid {{ display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }}
@media (max-width: 1100px) {{ .grid {{ grid-template-columns: 1fr; }} }}
.chart {{ background: #fff; border-radius: 6px; box-shadow: 0 1px 2px #0002; min-width: 0; }}
table {{ border-collapse: collapse; background: #fff; margin-top: 8px; }}
td, th {{ padding: 4px 10px; border-bottom: 1px solid #e4e4e4; text-align: left; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
tr.ok td:first-child {{ color: #1a7f37; font-weight: bold; }}
tr.fail td {{ background: #fde8e8; }} tr.fail td:first-child {{ color: #c00; font-weight: bold; }}
</style>
<script>{plotly.offline.get_plotlyjs()}</script>
</head><body>
<h1>erpgen report</h1>
<p class="facts">{"".join(f"<span>{x}</span>" for x in facts)}</p>
<div class="kpis">{"".join(f"<div class=kpi><b>{v}</b><span>{k}</span></div>" for k, v in kpis)}</div>
<div class="grid">
{chr(10).join(blocks[False])}
</div>
{o2c}
<h2 id="validation">Validation: {"all checks passed" if not failed else f"{failed} check(s) failed"}</h2>
<table class="validation"><thead><tr><th></th><th>group</th><th>check</th><th>measured</th><th>target</th></tr></thead>
<tbody>
{rows}
</tbody></table>
</body></html>
"""
