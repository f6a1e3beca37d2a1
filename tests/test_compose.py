"""The dashboard demo in docker-compose.yml holds together, although Docker cannot run here.

The structure is read from the file: PostgreSQL with a health check, a one-shot loader that waits for it,
Grafana that waits for the loader and is provisioned inline. The loader's erpgen arguments are run for
real against PostgreSQL, and every dashboard panel's SQL is run on what they load, so the dashboard and
the schema cannot drift apart.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from erpgen import html_report
from erpgen.database import connect
from erpgen.urls import parse

from .helpers import (
    check_compose_file,
    dashboard,
    dashboard_range,
    interpolated,
    load_compose,
    loader_args,
    with_option,
)


def panel_queries(board: dict) -> list[tuple[str, str, str]]:
    """(panel title, format, SQL) of every query of every panel."""
    return [(p["title"], t["format"], t["rawSql"]) for p in board["panels"] for t in p["targets"]]


def expand_macros(sql: str, time_from: datetime, time_to: datetime) -> str:
    """Grafana's PostgreSQL macros as its backend expands them (pkg/tsdb/grafana-postgresql-datasource/
    macros.go), for the ones the dashboard may use; any other macro or variable fails the test."""
    stamp = {"from": f"'{time_from.isoformat().replace('+00:00', 'Z')}'"}
    stamp["to"] = f"'{time_to.isoformat().replace('+00:00', 'Z')}'"
    macros = {
        "__timeFilter": lambda column: f"{column} BETWEEN {stamp['from']} AND {stamp['to']}",
        "__timeFrom": lambda: stamp["from"],
        "__timeTo": lambda: stamp["to"],
    }

    def expand(m: re.Match) -> str:
        assert m.group(1) in macros, f"the test cannot expand ${m.group(1)}: add it to expand_macros"
        args = [a.strip() for a in m.group(2).split(",") if a.strip()]
        return macros[m.group(1)](*args)

    expanded = re.sub(r"\$([_a-zA-Z0-9]+)\(([^)]*)\)", expand, sql)
    assert "$" not in expanded, f"unexpanded Grafana variable in {expanded}"
    return expanded


def test_compose_file_structure():
    check_compose_file()


def test_interpolation_rejects_a_compose_variable():
    with pytest.raises(AssertionError, match="unescaped"):
        interpolated({"sql": "WHERE $__timeFilter(invoice_date)"})
    assert interpolated(['exec erpgen "$$@"']) == ['exec erpgen "$@"']


def test_macro_expansion_is_grafanas():
    start, end = datetime(2016, 1, 1, tzinfo=UTC), datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
    sql = "SELECT 1 FROM t WHERE $__timeFilter(t.invoice_date) AND x < $__timeTo()"
    assert expand_macros(sql, start, end) == (
        "SELECT 1 FROM t WHERE t.invoice_date BETWEEN '2016-01-01T00:00:00Z' AND '2025-12-31T23:59:59Z'"
        " AND x < '2025-12-31T23:59:59Z'"
    )
    with pytest.raises(AssertionError, match="cannot expand"):
        expand_macros("SELECT $__timeGroupAlias(d, '1d')", start, end)
    with pytest.raises(AssertionError, match="unexpanded"):
        expand_macros("SELECT $channel", start, end)


def test_the_loader_command_is_a_valid_erpgen_invocation(erpgen, pg_url):
    args = with_option(loader_args(load_compose()), "--database-url", pg_url)
    r = erpgen(*args, "--dry-run")
    assert r.code == 0, r
    assert "nothing written" in r.out and "sales_transactions" in r.out, r


def test_the_live_service_moves_the_loaders_data_on(erpgen, pg_url):
    """The live service's own command, for two seconds, after the loader's (with fewer customers)."""
    compose = load_compose()
    load = with_option(loader_args(compose), "--database-url", pg_url)
    assert erpgen(*with_option(load, "--n-customers", "300"), "-q").code == 0
    live = with_option([str(a) for a in compose["services"]["live"]["command"]], "--database-url", pg_url)
    r = erpgen(*live, "--for", "2")
    assert r.code == 0, r
    assert "erpgen: extended" in r.out and "erpgen: live on" in r.out, r
    with psycopg.connect(pg_url) as conn:
        (covers,) = conn.execute(
            "SELECT covers_till FROM erpgen_runs ORDER BY run_id DESC LIMIT 1"
        ).fetchone()
    assert covers >= datetime.now(UTC).date()  # past the load's end, up to the clock


def test_every_dashboard_panel_query_returns_rows_on_the_loaders_data(erpgen, pg_url):
    """The loader's own command with fewer customers loads a real database; each panel's SQL must run
    on it and give rows, time series ordered by time, no column left all NULL."""
    compose = load_compose()
    args = with_option(loader_args(compose), "--database-url", pg_url)
    r = erpgen(*with_option(args, "--n-customers", "400"), "-q")
    assert r.code == 0, r

    board = dashboard(compose)
    start, end = dashboard_range(board)
    queries = panel_queries(board)
    assert len(queries) >= 8
    failures = []
    results = {}
    with psycopg.connect(pg_url) as conn:
        for title, fmt, sql in queries:
            try:
                cur = conn.execute(expand_macros(sql, start, end))
                columns, rows = [d.name for d in cur.description], cur.fetchall()
            except psycopg.Error as e:
                conn.rollback()
                failures.append(f"{title}: {e}")
                continue
            if not rows:
                failures.append(f"{title}: no rows")
                continue
            results[title] = [dict(zip(columns, row)) for row in rows]
            empty = [c for i, c in enumerate(columns) if all(row[i] is None for row in rows)]
            if empty:
                failures.append(f"{title}: column(s) {empty} all NULL")
            if fmt == "time_series":
                times = [row[0] for row in rows]
                if columns[0] != "time" or times != sorted(times):
                    failures.append(f"{title}: a time series needs a first column `time`, ordered")
                values = [row[-1] for row in rows]
                if not all(isinstance(v, int | Decimal | float) for v in values):
                    failures.append(f"{title}: its last column is not numeric")
    assert not failures, "\n".join(failures)
    _order_to_cash_panels_show_the_reports_figures(board, results, pg_url)


def _order_to_cash_panels_show_the_reports_figures(board: dict, results: dict, pg_url: str) -> None:
    """The order-to-cash panels are there, and show what `erpgen report` works out on the same data (its
    SQL in its own, portable spelling)."""
    used = {table: [t for t, _, sql in panel_queries(board) if table in sql]
            for table in ("sales_orders", "deliveries", "payments", "total_company")}  # fmt: skip
    assert all(used.values()), used
    with connect(parse(pg_url)) as conn:
        o2c = html_report.collect(conn).o2c
    kpis = dict(html_report._o2c_kpis(o2c))

    def panel(start: str) -> list[dict]:
        (title,) = [t for t in results if t.startswith(start)]
        return results[title]

    lead = panel("Order to delivery")
    assert {r["metric"] for r in lead} == {"ONLINE", "RETAIL", "B2B"}
    assert all(r["days"] >= 0 for r in lead) and max(r["days"] for r in lead) > 0
    on_time = panel("Delivered by the promised day")
    assert all(0 <= r["on time"] <= 100 for r in on_time) and any(r["on time"] < 100 for r in on_time)

    backlog = {r["metric"]: r["orders"] for r in panel("Order backlog")}  # the last month's end wins
    assert backlog["ordered, not shipped"] == int(kpis["open orders (not shipped)"].replace(",", ""))
    assert backlog["shipped, not delivered"] == int(kpis["shipments on their way"].replace(",", ""))
    waiting = panel("Orders not yet paid")
    statuses = {(ch, s): n for ch, s, n in o2c.statuses}
    assert [r["invoiced, not paid"] for r in waiting] == [
        statuses.get((r["channel"], "INVOICED"), 0) for r in waiting
    ]

    (dso,) = panel("Days sales outstanding")
    assert f"{dso['all sales']:.1f}" == kpis[f"DSO, last {html_report.DSO_DAYS} days"]
    assert dso["B2B"] > dso["all sales"] > 0  # only B2B buys on terms

    ageing = [float(r["open receivables"]) for r in panel("B2B receivables ageing")]
    assert len(ageing) == len(html_report.AGEING) and sum(ageing) > 0
    assert ageing == pytest.approx(
        [sum(a for b, _, a, _ in o2c.ageing if b == i) for i in range(len(ageing))], abs=0.01
    )

    net = {(str(r["time"])[:7], r["metric"]): float(r["net invoiced"]) for r in panel("Monthly net invoiced")}
    assert {r[1] for r in net} == {"AUD", "EUR", "GBP", "USD"}  # the loader's gym-coffee sells in four
    assert net == pytest.approx({(ym, cur): v for ym, cur, v, _ in o2c.currencies}, abs=0.01)
