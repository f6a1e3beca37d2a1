"""`erpgen validate`: integrity and business metrics of a loaded database, computed in SQL.

Everything is measured by queries in the database itself, so it checks data however it was loaded.
Integrity checks must be exact; business metrics are compared with the scenario's targets and
tolerances, and with published reference ranges for retail data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from erpgen import urls
from erpgen.database import connect
from erpgen.errors import TargetError
from erpgen.scenario import Scenario
from erpgen.schema import RETURN_REASONS, TABLES

SALES = "quantity > 0"


@dataclass
class Check:
    """One check: its group (integrity, business, ...), what was measured, the target it is held to."""

    group: str
    name: str
    measured: float | None
    target: str
    ok: bool


@dataclass
class ValidationReport:
    """What validate() measured in a database (target: its URL, password masked); `ok` if every check passed."""

    target: str
    scenario: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, group: str, name: str, measured, target: str, ok: bool) -> None:
        self.checks.append(
            Check(group, name, None if measured is None else float(measured), target, bool(ok))
        )

    def render(self) -> str:
        width = max(len(c.name) for c in self.checks)
        lines = [f"erpgen validate: {self.target} (scenario {self.scenario})", ""]
        for group in dict.fromkeys(c.group for c in self.checks):
            lines.append(f"{group}")
            for c in (c for c in self.checks if c.group == group):
                shown = "-" if c.measured is None else _fmt(c.measured)
                lines.append(f"  {'ok  ' if c.ok else 'FAIL'}  {c.name:<{width}}  {shown:>12}  {c.target}")
        failed = sum(not c.ok for c in self.checks)
        lines.append("")
        lines.append("all checks passed" if not failed else f"{failed} check(s) failed")
        return "\n".join(lines)


def _fmt(x: float) -> str:
    if abs(x) >= 1000 or x == int(x):
        return f"{x:,.0f}"
    return f"{x:.3f}"


class _Sql:
    """The few expressions SQLite, PostgreSQL, DuckDB and MySQL/MariaDB spell differently (DuckDB reads
    PostgreSQL's, but its `/` divides integers into a double)."""

    _TEMPLATES = {  # {0}: a column, or the later of two dates and {1} the earlier
        "postgresql": (
            "CAST(EXTRACT(YEAR FROM {0}) AS INTEGER)",
            "CAST(EXTRACT(MONTH FROM {0}) AS INTEGER)",
            "({0} - {1})",
        ),
        "sqlite": (
            "CAST(strftime('%Y', {0}) AS INTEGER)",
            "CAST(strftime('%m', {0}) AS INTEGER)",
            "CAST(julianday({0}) - julianday({1}) AS INTEGER)",
        ),
        "mysql": ("YEAR({0})", "MONTH({0})", "DATEDIFF({0}, {1})"),
    }

    def __init__(self, dialect: str):
        self.mysql = dialect in ("mysql", "mariadb")
        self.duckdb = dialect == "duckdb"
        self.sqlite = dialect == "sqlite"
        spelling = "mysql" if self.mysql else "postgresql" if self.duckdb else dialect
        self._year, self._month, self._days = self._TEMPLATES[spelling]

    def year(self, col: str) -> str:
        return self._year.format(col)

    def hour(self, moment: str) -> str:
        if self.sqlite:
            return f"CAST(strftime('%H', {moment}) AS INTEGER)"
        return f"HOUR({moment})" if self.mysql else f"CAST(EXTRACT(HOUR FROM {moment}) AS INTEGER)"

    def day_of(self, moment: str) -> str:
        """The date of a timestamp (SQLite keeps it as text, which CAST would read as a number)."""
        return f"date({moment})" if self.sqlite else f"CAST({moment} AS DATE)"

    def month(self, col: str) -> str:
        return self._month.format(col)

    def days(self, later: str, earlier: str) -> str:
        return self._days.format(later, earlier)

    def half(self, n: str) -> str:
        """Integer n // 2."""
        return f"{n} DIV 2" if self.mysql else f"{n} // 2" if self.duckdb else f"{n} / 2"


def validate(*, database_url: str | None = None, scenario: str | None = None) -> ValidationReport:
    """Check the dataset at `database_url` (default sqlite:///erpgen.db): integrity, and the business
    figures against the targets of `scenario` (default: the one the data was made with). Raises
    TargetError when there is no dataset to check."""
    url = urls.parse(database_url or urls.DEFAULT_URL)
    if urls.missing_file(url):
        raise TargetError(
            f"{urls.mask(url)} does not exist", "generate a dataset first, or fix --database-url"
        )
    with connect(url) as conn:
        present = set(inspect(conn).get_table_names())
        missing = [t.name for t in TABLES if t.name not in present]
        if missing:
            raise TargetError(
                f"{urls.mask(url)} holds no erpgen dataset at the current schema (missing {', '.join(missing)})",
                "run erpgen generate (or erpgen db upgrade) first",
            )
        if conn.execute(text("SELECT 1 FROM sales_transactions LIMIT 1")).first() is None:
            raise TargetError(
                f"{urls.mask(url)} holds erpgen's tables but no sales to check", "run erpgen generate first"
            )
        sc, n_customers = _scenario_of(conn, scenario)
        report = ValidationReport(urls.mask(url), sc.name)
        _integrity(conn, _Sql(conn.dialect.name), report)
        _business(conn, _Sql(conn.dialect.name), sc, n_customers, report)
        _order_to_cash(conn, sc, report)
        conn.rollback()
    return report


def _scenario_of(conn: Connection, name: str | None) -> tuple[Scenario, int]:
    from erpgen import scenario as scenarios

    n_customers = conn.execute(text("SELECT count(*) FROM customers")).scalar_one()
    if name:
        return scenarios.load(name)[0], n_customers
    row = conn.execute(text("SELECT scenario, scenario_toml FROM erpgen_runs ORDER BY run_id DESC")).first()
    if row is None:
        return scenarios.load(None)[0], n_customers
    if row.scenario_toml:
        return scenarios.parse(row.scenario_toml, f"scenario {row.scenario} (as recorded)"), n_customers
    return scenarios.load(row.scenario)[0], n_customers


def _one(conn: Connection, sql: str, **values):
    """The first value of a query; `values` fill its :name parameters."""
    return conn.execute(text(sql), values).scalar()


def _same(a: str, b: str) -> str:
    """a and b are equal, or both NULL (a line loaded before 0009 has no order)."""
    return f"({a} = {b} OR ({a} IS NULL AND {b} IS NULL))"


def _listed(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


# each order with its delivery (d), and x: how many sale invoices it has and how many of them are paid
_ORDER_DOCUMENTS = (
    "SELECT count(*) FROM sales_orders o LEFT JOIN deliveries d ON d.order_id = o.order_id "
    "LEFT JOIN (SELECT i.order_id, count(*) AS invoiced, count(p.invoice_id) AS paid FROM invoices i "
    "LEFT JOIN payments p ON p.invoice_id = i.invoice_id WHERE i.is_credit = 0 GROUP BY i.order_id) x "
    "ON x.order_id = o.order_id"
)


# (name, query counting the rows that break the rule, what those rows are): every count must be 0
INTEGRITY_RULES = (
    ("revenue = quantity x unit_price", "lines off",
     "SELECT count(*) FROM sales_transactions WHERE abs(revenue - quantity * unit_price) > 0.005"),
    ("returns never exceed purchases", "lines",
     "SELECT count(*) FROM (SELECT returned_line_id, -sum(quantity) AS back FROM sales_transactions "
     "WHERE returned_line_id IS NOT NULL GROUP BY returned_line_id) r "
     "JOIN sales_transactions s ON s.line_id = r.returned_line_id WHERE r.back > s.quantity"),
    ("returns follow their sale", "lines",
     "SELECT count(*) FROM sales_transactions r JOIN sales_transactions s ON s.line_id = r.returned_line_id "
     "WHERE r.invoiced_at <= s.invoiced_at OR r.customer_id <> s.customer_id OR r.product_id <> s.product_id "
     "OR s.returned_line_id IS NOT NULL"),
    ("customers without lifecycle", "",
     "SELECT count(*) FROM customers c LEFT JOIN customer_lifecycle l USING (customer_id) "
     "WHERE l.customer_id IS NULL"),
    ("first purchase matches the sales", "",
     "SELECT count(*) FROM customer_lifecycle l LEFT JOIN (SELECT customer_id, min(invoice_date) AS first_day "
     f"FROM sales_transactions WHERE {SALES} GROUP BY customer_id) s USING (customer_id) "
     "WHERE NOT ((l.first_purchase_on IS NULL AND s.first_day IS NULL) OR l.first_purchase_on = s.first_day)"),
    ("no sales after the lost date", "lines",
     "SELECT count(*) FROM sales_transactions s JOIN customer_lifecycle l USING (customer_id) "
     f"WHERE s.{SALES} AND l.lost_on IS NOT NULL AND s.invoice_date >= l.lost_on"),
    ("no sales before the customer exists", "lines",
     "SELECT count(*) FROM sales_transactions s JOIN customers c USING (customer_id) "
     "WHERE s.invoice_date < c.created_at"),
    # the lines' revenue is in the company's currency: total_company is their sum. Headers and lines are
    # summed in one pass, not joined: MariaDB cannot index a derived table on the lines' invoice_id (TEXT
    # there), so a join to their sums by invoice scans them once per invoice
    ("invoice totals equal their lines", "invoices",
     "SELECT count(*) FROM (SELECT invoice_id, count(header) AS headers, sum(header) AS header, "
     "count(revenue) AS n_lines, sum(revenue) AS total FROM (SELECT invoice_id, total_company AS header, "
     "NULL AS revenue FROM invoices UNION ALL SELECT invoice_id, NULL, revenue FROM sales_transactions) u "
     "GROUP BY invoice_id) t WHERE headers = 1 AND (n_lines = 0 OR abs(header - total) > 0.005)"),
    ("every invoice id of the lines has a header", "invoices",
     "SELECT count(DISTINCT s.invoice_id) FROM sales_transactions s "
     "LEFT JOIN invoices i ON i.invoice_id = s.invoice_id WHERE i.invoice_id IS NULL"),
    ("invoice headers match their lines", "lines",
     "SELECT count(*) FROM sales_transactions s JOIN invoices i ON i.invoice_id = s.invoice_id "
     "WHERE s.customer_id <> i.customer_id OR s.store_id <> i.store_id OR s.invoice_date <> i.invoice_date "
     "OR s.invoiced_at <> i.invoiced_at OR (s.quantity < 0) <> (i.is_credit = 1)"),
    ("due on or after the invoice date", "invoices",
     "SELECT count(*) FROM invoices WHERE due_on < invoice_date"),
    ("a rate for every invoice date", "invoices",
     "SELECT count(*) FROM invoices i LEFT JOIN exchange_rates r "
     "ON r.currency_code = i.currency_code AND r.rate_date = i.invoice_date WHERE r.rate IS NULL"),
    # rounded to cents: off by at most half a cent
    ("invoice total = total_company / rate of its date", "invoices",
     "SELECT count(*) FROM invoices i JOIN exchange_rates r "
     "ON r.currency_code = i.currency_code AND r.rate_date = i.invoice_date "
     "WHERE abs(i.total - i.total_company / r.rate) > 0.006"),
    # -- the order-to-cash chain (0009): an order, its delivery, its invoice and the invoice's payment
    ("every sale line has an order", "lines",
     f"SELECT count(*) FROM sales_transactions WHERE {SALES} AND order_id IS NULL"),
    ("lines name the order of their invoice", "lines",
     "SELECT count(*) FROM sales_transactions s JOIN invoices i ON i.invoice_id = s.invoice_id "
     f"WHERE NOT {_same('s.order_id', 'i.order_id')}"),
    ("credit-note lines keep the order of their sale", "lines",
     "SELECT count(*) FROM sales_transactions r JOIN sales_transactions s ON s.line_id = r.returned_line_id "
     f"WHERE NOT {_same('r.order_id', 's.order_id')}"),
    ("a return reason on credit-note lines only", "lines",
     "SELECT count(*) FROM sales_transactions WHERE CASE WHEN quantity < 0 "
     f"THEN coalesce(return_reason, '') NOT IN ({_listed(RETURN_REASONS)}) ELSE return_reason IS NOT NULL END"),
    ("documents name the customer of their order", "documents",
     "SELECT (SELECT count(*) FROM deliveries d JOIN sales_orders o ON o.order_id = d.order_id "
     "WHERE d.customer_id <> o.customer_id) + (SELECT count(*) FROM invoices i JOIN sales_orders o "
     "ON o.order_id = i.order_id WHERE i.customer_id <> o.customer_id) + (SELECT count(*) FROM payments p "
     "JOIN invoices i ON i.invoice_id = p.invoice_id WHERE p.customer_id <> i.customer_id)"),
    ("ordered, shipped, delivered: dates in order", "deliveries",
     "SELECT count(*) FROM deliveries d JOIN sales_orders o ON o.order_id = d.order_id "
     "WHERE d.shipped_on < o.order_date OR d.delivered_on < d.shipped_on"),
    ("promised on or after shipping", "deliveries",
     "SELECT count(*) FROM deliveries WHERE promised_on < shipped_on"),
    # a sale invoice is made when its goods leave or arrive: never before they left, nor unshipped
    ("sale invoices on or after shipping", "invoices",
     "SELECT count(*) FROM invoices i LEFT JOIN deliveries d ON d.order_id = i.order_id "
     "WHERE i.is_credit = 0 AND (d.order_id IS NULL OR i.invoice_date < d.shipped_on)"),
    ("sale invoices on or after their order", "invoices",
     "SELECT count(*) FROM invoices i JOIN sales_orders o ON o.order_id = i.order_id "
     "WHERE i.is_credit = 0 AND i.invoice_date < o.order_date"),
    ("paid on or after invoicing", "payments",
     "SELECT count(*) FROM payments p JOIN invoices i ON i.invoice_id = p.invoice_id "
     "WHERE p.paid_on < i.invoice_date"),
    # a refund's amount is negative as its credit note's total
    ("a payment is the total of its invoice, in its currency", "payments",
     "SELECT count(*) FROM payments p JOIN invoices i ON i.invoice_id = p.invoice_id "
     "WHERE abs(p.amount - i.total) > 0.005 OR p.currency_code <> i.currency_code"),
    ("no invoice paid beyond its total", "invoices",
     "SELECT count(*) FROM invoices i JOIN (SELECT invoice_id, sum(abs(amount)) AS paid FROM payments "
     "GROUP BY invoice_id) p ON p.invoice_id = i.invoice_id WHERE p.paid > abs(i.total) + 0.005"),
    # where an order stands at the end of the data, against the documents it has
    ("cancelled orders: no invoice, no delivery", "orders",
     f"{_ORDER_DOCUMENTS} WHERE o.status = 'CANCELLED' AND (x.invoiced > 0 OR d.order_id IS NOT NULL)"),
    ("PAID orders: a paid invoice", "orders",
     f"{_ORDER_DOCUMENTS} WHERE o.status = 'PAID' AND coalesce(x.paid, 0) = 0"),
    ("INVOICED orders: an invoice, unpaid", "orders",
     f"{_ORDER_DOCUMENTS} WHERE o.status = 'INVOICED' AND (coalesce(x.invoiced, 0) = 0 OR x.paid > 0)"),
    ("SHIPPED orders: a delivery, no invoice", "orders",
     f"{_ORDER_DOCUMENTS} WHERE o.status = 'SHIPPED' AND (d.order_id IS NULL OR x.invoiced > 0)"),
    ("OPEN orders: no delivery, no invoice", "orders",
     f"{_ORDER_DOCUMENTS} WHERE o.status = 'OPEN' AND (d.order_id IS NOT NULL OR x.invoiced > 0)"),
    ("a rate for every order date", "orders",
     "SELECT count(*) FROM sales_orders o LEFT JOIN exchange_rates r "
     "ON r.currency_code = o.currency_code AND r.rate_date = o.order_date WHERE r.rate IS NULL"),
    ("a rate for every payment date", "payments",
     "SELECT count(*) FROM payments p LEFT JOIN exchange_rates r "
     "ON r.currency_code = p.currency_code AND r.rate_date = p.paid_on WHERE r.rate IS NULL"),
)  # fmt: skip


def _integrity(conn: Connection, q: _Sql, report: ValidationReport) -> None:
    group = "integrity"
    for table in TABLES:
        for fk in table.foreign_key_constraints:
            (col,) = [c.name for c in fk.columns]
            parent = fk.referred_table.name
            (pcol,) = [e.column.name for e in fk.elements]
            n = _one(
                conn,
                f"SELECT count(*) FROM {table.name} c LEFT JOIN {parent} p ON c.{col} = p.{pcol} "
                f"WHERE c.{col} IS NOT NULL AND p.{pcol} IS NULL",
            )
            report.add(group, f"orphans {table.name}.{col}", n, "0", n == 0)
    for name, unit, sql in INTEGRITY_RULES:
        n = _one(conn, sql)
        report.add(group, name, n, f"0 {unit}".strip(), n == 0)
    n = _one(conn, f"SELECT count(*) FROM sales_transactions WHERE {q.day_of('invoiced_at')} <> invoice_date")
    report.add(group, "invoiced at a moment of the invoice date", n, "0 lines", n == 0)
    _rates_every_day(conn, q, report)


def _rates_every_day(conn: Connection, q: _Sql, report: ValidationReport) -> None:
    """Every currency has a rate on every day from the first sale to the last, so that an amount of any
    document date converts: the (currency, day) pairs in that range with no exchange_rates row."""
    first, last = (f"(SELECT {f}(invoice_date) FROM sales_transactions)" for f in ("min", "max"))
    days = _one(
        conn, f"SELECT {q.days('max(invoice_date)', 'min(invoice_date)')} + 1 FROM sales_transactions"
    )
    currencies = _one(conn, "SELECT count(*) FROM currencies")
    present = _one(
        conn,
        "SELECT count(*) FROM exchange_rates r JOIN currencies c ON c.currency_code = r.currency_code "
        f"WHERE r.rate_date BETWEEN {first} AND {last}",
    )
    missing = int(days) * int(currencies) - int(present)
    report.add("integrity", "a rate for every currency every day of sales", missing, "0 days missing",
               missing == 0 and currencies > 0)  # fmt: skip


def _business(conn: Connection, q: _Sql, sc: Scenario, n_customers: int, report: ValidationReport) -> None:
    t = sc.targets
    group = "business (scenario targets)"
    active = (
        f"SELECT DISTINCT customer_id, {q.year('invoice_date')} AS y FROM sales_transactions WHERE {SALES}"
    )

    one_time = _one(
        conn,
        "SELECT sum(CASE WHEN n = 1 THEN 1 ELSE 0 END) * 1.0 / count(*) FROM (SELECT customer_id, "
        f"count(DISTINCT invoice_id) AS n FROM sales_transactions WHERE {SALES} GROUP BY customer_id) b",
    )
    _within(
        report, group, "one-time buyers (share of buyers)", one_time, t.one_time_share, t.one_time_tolerance
    )
    retention = _one(
        conn,
        f"WITH a AS ({active}) SELECT count(n.customer_id) * 1.0 / NULLIF(count(*), 0) FROM a "
        "LEFT JOIN a n ON n.customer_id = a.customer_id AND n.y = a.y + 1 WHERE a.y < (SELECT max(y) FROM a)",
    )
    _within(
        report,
        group,
        "yearly retention of active customers",
        retention,
        t.yearly_retention,
        t.retention_tolerance,
    )
    orders = _one(
        conn,
        f"WITH a AS ({active}) SELECT (SELECT count(DISTINCT invoice_id) FROM sales_transactions WHERE {SALES}) "
        "* 1.0 / (SELECT count(*) FROM a)",
    )
    _relative(report, group, "orders per active customer per year", orders, t.orders_per_active_customer_per_year,
              t.orders_tolerance)  # fmt: skip
    if t.total_orders > 0:
        per_customer = _one(
            conn,
            f"SELECT count(DISTINCT invoice_id) * 1.0 / :customers FROM sales_transactions WHERE {SALES}",
            customers=max(1, n_customers),
        )
        _relative(report, group, "orders per customer", per_customer, t.total_orders / sc.n_customers,
                  t.total_orders_tolerance)  # fmt: skip

    by_channel = conn.execute(
        text(
            "SELECT st.channel, sum(CASE WHEN s.quantity > 0 THEN s.revenue ELSE 0 END), "
            "count(DISTINCT CASE WHEN s.quantity > 0 THEN s.invoice_id END), "
            "-sum(CASE WHEN s.quantity < 0 THEN s.revenue ELSE 0 END) "
            "FROM sales_transactions s JOIN stores st USING (store_id) GROUP BY st.channel ORDER BY st.channel"
        )
    ).all()
    if t.order_share:
        orders_of = {channel: invoices or 0 for channel, _, invoices, _ in by_channel}
        all_orders = sum(orders_of.values())
        for channel, target in t.order_share.items():
            share = orders_of.get(channel, 0) / all_orders if all_orders else None
            _within(report, group, f"orders {channel} (share of orders)", share, target,
                    t.order_share_tolerance)  # fmt: skip
    for channel, revenue, invoices, returned in by_channel:
        revenue, returned = float(revenue or 0), float(returned or 0)
        if channel in t.aov and invoices:
            _relative(report, group, f"average order value {channel}", revenue / invoices, t.aov[channel],
                      t.aov_tolerance)  # fmt: skip
        if channel in sc.channels and revenue:
            _within(report, group, f"returns {channel} (share of sales value)", returned / revenue,
                    sc.channels[channel].return_rate, t.return_tolerance)  # fmt: skip
    coverage = _one(
        conn,
        f"SELECT (SELECT count(DISTINCT product_id) FROM sales_transactions WHERE {SALES}) * 1.0 / "
        "(SELECT count(*) FROM products)",
    )
    report.add(
        group,
        "products with sales (share)",
        coverage,
        f">= {t.min_sku_coverage:.2f}",
        coverage >= t.min_sku_coverage,
    )

    group = "shape (reference ranges)"
    top20 = _one(
        conn,
        "WITH c AS (SELECT customer_id, sum(revenue) AS rev FROM sales_transactions GROUP BY customer_id), "
        "r AS (SELECT rev, row_number() OVER (ORDER BY rev DESC) AS rn, count(*) OVER () AS n FROM c) "
        "SELECT sum(CASE WHEN rn <= 0.2 * n THEN rev ELSE 0 END) * 1.0 / sum(rev) FROM r",
    )
    lo, hi = t.top20_revenue_share
    report.add(group, "revenue share of the top 20% customers", top20, f"{lo:.2f}..{hi:.2f} (CDNOW ~0.68)",
               top20 is not None and lo <= float(top20) <= hi)  # fmt: skip
    gaps = (
        "WITH d AS (SELECT DISTINCT customer_id, invoice_date FROM sales_transactions WHERE quantity > 0), "
        f"g AS (SELECT {q.days('invoice_date', 'lag(invoice_date) OVER (PARTITION BY customer_id ORDER BY invoice_date)')}"
        " AS gap FROM d) "
    )
    median_gap = _one(
        conn,
        gaps + "SELECT gap FROM (SELECT gap, row_number() OVER (ORDER BY gap) AS rn, count(*) OVER () AS n "
        f"FROM g WHERE gap IS NOT NULL) r WHERE rn = {q.half('n')} + 1",
    )
    lo, hi = t.median_days_between_purchases
    report.add(group, "median days between purchases", median_gap, f"{lo:.0f}..{hi:.0f} (CDNOW ~34)",
               median_gap is not None and lo <= float(median_gap) <= hi)  # fmt: skip
    months = dict(
        conn.execute(
            text(
                f"SELECT {q.month('invoice_date')}, sum(revenue) FROM sales_transactions WHERE {SALES} GROUP BY 1"
            )
        ).all()
    )
    if months:
        avg = sum(float(v) for v in months.values()) / 12
        peak_revenue = sum(float(months.get(m, 0)) for m in t.peak_months) / len(t.peak_months)
        peak = peak_revenue / avg if avg else 0.0
        names = "-".join(
            ("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())[m - 1] for m in t.peak_months
        )
        report.add(group, f"{names} revenue vs the average month", peak, f">= {t.peak_index_min:.2f}",
                   peak >= t.peak_index_min)  # fmt: skip


# How far a share of orders may drift from the scenario's: a few points, or four standard errors of the
# share where a channel has too few orders for that (a small dataset)
ON_TIME_TOLERANCE = 0.03
CANCEL_TOLERANCE = 0.01
PAYMENT_DAYS_TOLERANCE = 2.0  # the mean days from invoice to payment, likewise


def _order_to_cash(conn: Connection, sc: Scenario, report: ValidationReport) -> None:
    """The chain's figures by channel beside the scenario's terms (scenario.Channel): how long an order
    takes to arrive, how many arrive on time and how many are cancelled, how long payers with terms take;
    and what is still owed at the end of the data."""
    group = "order to cash (scenario terms)"
    q = _Sql(conn.dialect.name)
    deliveries = {
        channel: (n, lead, on_time)
        for channel, n, lead, on_time in conn.execute(
            text(
                f"SELECT st.channel, count(*), avg({q.days('d.delivered_on', 'o.order_date')} * 1.0), "
                "sum(CASE WHEN d.delivered_on <= d.promised_on THEN 1 ELSE 0 END) "
                "FROM deliveries d JOIN sales_orders o ON o.order_id = d.order_id "
                "JOIN stores st ON st.store_id = o.store_id WHERE d.delivered_on IS NOT NULL GROUP BY st.channel"
            )
        )
    }
    orders = {
        channel: (n, cancelled)
        for channel, n, cancelled in conn.execute(
            text(
                "SELECT st.channel, count(*), sum(CASE WHEN o.status = 'CANCELLED' THEN 1 ELSE 0 END) "
                "FROM sales_orders o JOIN stores st ON st.store_id = o.store_id GROUP BY st.channel"
            )
        )
    }
    for channel, ch in sc.channels.items():
        if channel in deliveries:
            n, lead, on_time = deliveries[channel]
            # every delivery takes the order's lead and a transit, the longest abroad and late
            lo = ch.order_lead_days[0] + ch.transit_days[0]
            late = ch.late_days if ch.late_share else 0
            hi = ch.order_lead_days[1] + ch.transit_days[1] + ch.abroad_days + late
            report.add(group, f"days from order to delivery {channel} (mean)", lead, f"{lo:g}..{hi:g}",
                       lead is not None and lo <= float(lead) <= hi)  # fmt: skip
            _share(report, group, f"on-time deliveries {channel} (share)", int(on_time or 0), n,
                   1 - ch.late_share, ON_TIME_TOLERANCE)  # fmt: skip
        if channel in orders:
            n, cancelled = orders[channel]
            _share(report, group, f"cancelled orders {channel} (share)", int(cancelled or 0), n,
                   ch.cancel_share, CANCEL_TOLERANCE)  # fmt: skip
    payers = conn.execute(
        text(
            f"SELECT st.channel, count(*), avg({q.days('p.paid_on', 'i.invoice_date')} * 1.0), "
            f"avg({q.days('p.paid_on', 'i.invoice_date')} * {q.days('p.paid_on', 'i.invoice_date')} * 1.0) "
            "FROM payments p JOIN invoices i ON i.invoice_id = p.invoice_id "
            "JOIN stores st ON st.store_id = i.store_id WHERE i.is_credit = 0 GROUP BY st.channel"
        )
    ).all()
    for channel, n, mean, square in payers:
        ch = sc.channels.get(channel)
        if ch is None or not ch.payment_days:
            continue
        # paid around the due date, and a late_payment_share of invoices 1..late_payment_days after it
        late = ch.late_payment_share * (1 + ch.late_payment_days) / 2
        spread = max(0.0, float(square) - float(mean) ** 2) ** 0.5
        tolerance = max(PAYMENT_DAYS_TOLERANCE, 4 * spread / n**0.5)
        report.add(group, f"days from invoice to payment {channel} (mean, paid)", mean,
                   f"{ch.payment_days} + late {late:.2f} +- {tolerance:.2f}",
                   abs(float(mean) - ch.payment_days - late) <= tolerance)  # fmt: skip
    company = _one(conn, "SELECT min(currency_code) FROM currencies WHERE is_company = 1")
    n, owed = conn.execute(
        text(
            "SELECT count(*), sum(i.total_company) FROM invoices i LEFT JOIN payments p "
            "ON p.invoice_id = i.invoice_id WHERE i.is_credit = 0 AND p.invoice_id IS NULL"
        )
    ).one()
    report.add(group, "open receivables at the end (invoices)", n, "information", True)
    report.add(group, f"open receivables at the end ({company})", owed or 0, "information", True)


def _share(
    report: ValidationReport, group: str, name: str, k: int, n: int, target: float, tolerance: float
) -> None:
    """k of n beside a target share: within `tolerance`, or four standard errors of n draws."""
    tolerance = max(tolerance, 4 * (target * (1 - target) / max(n, 1)) ** 0.5)
    share = k / n if n else None
    ok = share is not None and abs(share - target) <= tolerance
    report.add(group, name, share, f"{target:g} +- {tolerance:.3f}", ok)


def _within(
    report: ValidationReport, group: str, name: str, measured, target: float, tolerance: float
) -> None:
    ok = measured is not None and abs(float(measured) - target) <= tolerance
    report.add(group, name, measured, f"{target:.2f} +- {tolerance:.2f}", ok)


def _relative(
    report: ValidationReport, group: str, name: str, measured, target: float, tolerance: float
) -> None:
    ok = measured is not None and abs(float(measured) / target - 1) <= tolerance
    report.add(group, name, measured, f"{target:,.2f} +- {tolerance:.0%}", ok)
