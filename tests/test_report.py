"""erpgen report: one offline HTML page whose charts a real browser draws, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import text

from erpgen import html_report
from erpgen.cli import main
from erpgen.database import connect
from erpgen.urls import parse
from erpgen.validation import validate

from .conftest import REPO
from .helpers import PASSWORD, assert_one_clean_line

CHARTS = (
    "revenue_by_channel",
    "revenue_by_category",
    "customers",
    "cohort_retention",
    "segment_mix",
    "return_rates",
    "top_products",
    "country_mix",
    "hour_of_day",
    "o2c_lead_time",
    "o2c_on_time",
    "o2c_backlog",
    "o2c_open_orders",
    "o2c_dso",
    "o2c_ageing",
    "o2c_revenue_by_currency",
)
DATASET = ["--n-customers", "300", "--date-from", "2021-01-01", "--date-till", "2024-12-31", "--seed", "7"]
SCREENSHOT = REPO / ".artifacts" / "report.png"
WINDOW = (1400, 4000)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'erpgen.db'}"
    assert main(["generate", "--database-url", url, *DATASET, "-q"]) == 0
    return url


@pytest.fixture(scope="module")
def page(dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("page") / "report.html"
    assert main(["report", "--database-url", dataset, "-o", str(out)]) == 0
    return out


class _Page(HTMLParser):
    """Every src/href of the page, and for each chart div the marks plotly drew in it: paths with
    geometry inside a trace (bars, lines, pie slices) and rendered heatmap images."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}

    def __init__(self, text: str):
        super().__init__()
        self.links: list[str] = []
        self.marks: dict[str, int] = {}
        self.stack: list[tuple[str, str | None, bool]] = []  # tag, chart, inside a trace
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.links += [v for k, v in a.items() if k in ("src", "href") and v]
        classes = (a.get("class") or "").split()
        chart = a.get("data-chart") or (self.stack[-1][1] if self.stack else None)
        in_trace = "trace" in classes or "hm" in classes or bool(self.stack and self.stack[-1][2])
        if chart:
            image = a.get("xlink:href") or a.get("href") or ""
            drawn = (tag == "path" and re.search(r"[LlHhVvAaCc]", a.get("d") or "")) or (
                tag == "image" and image.startswith("data:image/png")
            )
            self.marks[chart] = self.marks.get(chart, 0) + bool(in_trace and drawn)
        if tag not in self.VOID:
            self.stack.append((tag, chart, in_trace))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return


@pytest.fixture
def chromium(tmp_path):
    """Run headless Chromium on a page, offline and with a fresh profile; skip if it is not installed
    (fail instead with ERPGEN_REQUIRE_CHROMIUM=1, as in CI)."""
    binary = shutil.which("chromium")
    if binary is None:
        if os.environ.get("ERPGEN_REQUIRE_CHROMIUM") == "1":
            pytest.fail("headless Chromium is required but no chromium is on PATH (apt-get install chromium)")
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")

    def run(page: Path, *args: str) -> str:
        proc = subprocess.run(
            [
                binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
                f"--window-size={WINDOW[0]},{WINDOW[1]}", *args, page.as_uri(),
            ],
            capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    return run


def test_report_is_one_offline_file_with_every_chart_and_the_validation(page, dataset):
    text = page.read_text()
    parsed = _Page(text)
    remote = [link for link in parsed.links if re.match(r"(https?:)?//", link)]
    assert remote == []
    assert "Plotly.newPlot" in text and text.count("<script") == 1 + len(CHARTS)  # plotly.js once
    assert sorted(re.findall(r'<div class="chart" data-chart="(\w+)"', text)) == sorted(CHARTS)
    assert "seed <b>7</b>" in text and "<b>300</b> customers" in text and "2021-01-01" in text

    checks = validate(database_url=dataset).checks
    rows = re.findall(r'<tr class="(ok|fail)"><td>(ok|FAIL)</td><td>[^<]*</td><td>([^<]*)</td>', text)
    assert [(status, name) for status, _, name in rows] == [
        ("ok" if c.ok else "fail", c.name.replace("&", "&amp;")) for c in checks
    ]


def test_chromium_draws_every_chart_offline(page, chromium):
    drawn = _Page(chromium(page, "--dump-dom")).marks
    assert set(drawn) == set(CHARTS)
    assert [chart for chart, marks in drawn.items() if marks == 0] == []


def test_screenshot_of_the_report(page, chromium):
    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    chromium(page, f"--screenshot={SCREENSHOT}")
    png = SCREENSHOT.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(png[16:20]), int.from_bytes(png[20:24])) == WINDOW
    # Filtered PNG rows are all zero where the image repeats the row above: a blank page has ~1% rows
    # with detail, the page without its charts ~20%, the report ~55%.
    rows = zlib.decompress(b"".join(_chunks(png, b"IDAT")))
    stride = len(rows) // WINDOW[1]
    detail = sum(any(rows[r * stride + 1 : (r + 1) * stride]) for r in range(WINDOW[1])) / WINDOW[1]
    assert detail > 0.35, f"the screenshot is (nearly) blank: {detail:.0%} of rows show anything"


def _chunks(png: bytes, kind: bytes):
    at = 8
    while at < len(png):
        size = int.from_bytes(png[at : at + 4])
        if png[at + 4 : at + 8] == kind:
            yield png[at + 8 : at + 8 + size]
        at += 12 + size


def test_postgres_gives_the_same_figures_as_sqlite(dataset, pg_url, erpgen, tmp_path):
    assert erpgen("generate", "--database-url", pg_url, *DATASET, "-q").code == 0
    out = tmp_path / "pg.html"
    r = erpgen("report", "--database-url", pg_url, "-o", out)
    assert r.code == 0, r
    assert f"wrote {out}" in r.out and f"{len(CHARTS)} charts" in r.out
    with connect(parse(pg_url)) as pg, connect(parse(dataset)) as lite:
        assert html_report.collect(pg) == html_report.collect(lite)


def test_mariadb_gives_the_same_figures_as_sqlite(dataset, mysql_url, erpgen, tmp_path):
    assert erpgen("generate", "--database-url", mysql_url, *DATASET, "-q").code == 0
    r = erpgen("report", "--database-url", mysql_url, "-o", tmp_path / "maria.html")
    assert r.code == 0, r
    with connect(parse(mysql_url)) as maria, connect(parse(dataset)) as lite:
        assert html_report.collect(maria) == html_report.collect(lite)


def _traces(page: str, chart: str) -> list[dict]:
    """The data plotly draws in a chart, as the page hands it to Plotly.newPlot."""
    at = re.search(rf'Plotly\.newPlot\(\s*"chart-{chart}",\s*', page).end()
    return json.JSONDecoder().raw_decode(page, at)[0]


def _documents(url: str) -> dict[str, list[tuple]]:
    """The order-to-cash tables' rows as they are, for figures worked out here in Python."""
    queries = {
        "orders": "SELECT o.order_id, st.channel, o.order_date, o.status FROM sales_orders o "
        "JOIN stores st ON st.store_id = o.store_id",
        "deliveries": "SELECT order_id, shipped_on, promised_on, delivered_on FROM deliveries",
        "invoices": "SELECT i.invoice_id, st.channel, i.is_credit, i.invoice_date, i.due_on, i.currency_code, "
        "i.total_company FROM invoices i JOIN stores st ON st.store_id = i.store_id",
        "paid": "SELECT invoice_id FROM payments",
        "end": "SELECT max(rate_date) FROM exchange_rates",
    }
    with connect(parse(url)) as conn:
        return {name: [tuple(r) for r in conn.execute(text(sql))] for name, sql in queries.items()}


def test_the_order_to_cash_charts_draw_the_documents_figures(page, dataset):
    """The section's figures, worked out here from the documents row by row, are what its charts and
    KPIs show: lead time and on-time share by channel, the backlog at the end, DSO, the B2B ageing and
    net invoiced by currency."""
    text_ = page.read_text()
    doc = _documents(dataset)
    day = datetime.date.fromisoformat
    end = day(str(doc["end"][0][0]))
    assert f"Order to cash, on {end}" in text_
    orders = {oid: (ch, day(str(d)), status) for oid, ch, d, status in doc["orders"]}

    # lead time and on-time share by channel, in the year of delivery
    lead: dict[tuple[str, str], list[int]] = {}
    for oid, _, promised, delivered in doc["deliveries"]:
        if delivered is not None:
            ch, ordered, _ = orders[oid]
            on_time = day(str(delivered)) <= day(str(promised))
            lead.setdefault((ch, str(delivered)[:4]), []).append(
                ((day(str(delivered)) - ordered).days, on_time)
            )
    for chart, figure in (("o2c_lead_time", lambda v: sum(d for d, _ in v) / len(v)),
                          ("o2c_on_time", lambda v: sum(t for _, t in v) / len(v))):  # fmt: skip
        drawn = {(t["name"], x[:4]): y for t in _traces(text_, chart) for x, y in zip(t["x"], t["y"])}
        assert drawn.keys() == lead.keys(), chart
        assert all(drawn[k] == pytest.approx(figure(v), abs=0.01) for k, v in lead.items()), chart
    assert {ch for ch, _ in lead} == {"ONLINE", "RETAIL", "B2B"}
    assert max(d for (ch, _), v in lead.items() for d, _ in v if ch == "B2B") > 0

    # the backlog at the last month's end is where the orders and deliveries stand at the end
    backlog = {t["name"]: t["y"][-1] for t in _traces(text_, "o2c_backlog")}
    assert backlog["ordered, not shipped"] == sum(s == "OPEN" for *_, s in orders.values())
    assert backlog["shipped, not delivered"] == sum(d is None for *_, d in doc["deliveries"])
    open_orders = {t["name"]: dict(zip(t["x"], t["y"])) for t in _traces(text_, "o2c_open_orders")}
    assert open_orders["invoiced, not paid"]["B2B"] == sum(
        1 for ch, _, s in orders.values() if ch == "B2B" and s == "INVOICED"
    )
    assert open_orders["invoiced, not paid"]["B2B"] > 0

    # DSO at the end (a KPI) and the B2B ageing, in the company's currency
    paid = {pid for (pid,) in doc["paid"]}
    sales = [(i, ch, day(str(d)), day(str(due)), cur, float(t))
             for i, ch, credit, d, due, cur, t in doc["invoices"] if not credit]  # fmt: skip
    receivable = sum(t for i, *_, t in sales if i not in paid)
    last_year = sum(t for _, _, d, *_, t in sales if (end - d).days < html_report.DSO_DAYS)
    dso = receivable / last_year * html_report.DSO_DAYS
    assert f"<b>{dso:.1f}</b><span>DSO, last {html_report.DSO_DAYS} days</span>" in text_
    ageing = [0.0] * len(html_report.AGEING)
    for i, ch, _, due, _, t in sales:
        if ch == "B2B" and i not in paid:
            late = (end - due).days
            ageing[0 if late < 0 else 1 if late <= 30 else 2 if late <= 60 else 3 if late <= 90 else 4] += t
    drawn = [sum(t["y"][b] for t in _traces(text_, "o2c_ageing")) for b in range(len(html_report.AGEING))]
    assert drawn == pytest.approx(ageing, abs=0.01) and sum(ageing) > 0

    # net invoiced by currency and month: sales less credit notes, in the company's currency
    net: dict[tuple[str, str], float] = {}
    for _, _, _, d, _, cur, t in doc["invoices"]:
        net[(cur, str(d)[:7])] = net.get((cur, str(d)[:7]), 0.0) + float(t)
    drawn = {
        (t["name"], x): y for t in _traces(text_, "o2c_revenue_by_currency") for x, y in zip(t["x"], t["y"])
    }
    assert {k: v for k, v in drawn.items() if v} == pytest.approx(net, abs=0.01)


def test_a_dataset_without_orders_gets_the_sales_charts_and_a_note(dataset, erpgen, tmp_path):
    """As one loaded before revision 0009 and upgraded: its order-to-cash tables are there, but empty."""
    copy = tmp_path / "old.db"
    shutil.copy(dataset.removeprefix("sqlite:///"), copy)
    with connect(parse(f"sqlite:///{copy}"), sqlite_foreign_keys=False) as conn, conn.begin():
        for sql in ("DELETE FROM payments", "DELETE FROM deliveries", "UPDATE sales_transactions SET order_id = NULL",
                    "UPDATE invoices SET order_id = NULL", "DELETE FROM sales_orders"):  # fmt: skip
            conn.execute(text(sql))
    r = erpgen("report", "--database-url", f"sqlite:///{copy}", "-o", tmp_path / "old.html")
    assert r.code == 0 and f"{len([c for c in CHARTS if not c.startswith('o2c_')])} charts" in r.out, r
    page = (tmp_path / "old.html").read_text()
    assert "no orders to report on" in page and 'data-chart="o2c_' not in page


def test_report_needs_plotly(erpgen, dataset, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly", None)  # as if it were not installed
    r = erpgen("report", "--database-url", dataset, "-o", tmp_path / "r.html")
    assert_one_clean_line(r, "pip install 'erpgen[report]'")
    assert not (tmp_path / "r.html").exists()


def test_bad_input_is_one_line(erpgen, dataset, tmp_path):
    out = tmp_path / "r.html"
    r = erpgen("report", "--database-url", f"sqlite:///{tmp_path / 'none.db'}", "-o", out)
    assert_one_clean_line(r, "does not exist")
    assert not (tmp_path / "none.db").exists()

    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    assert erpgen("db", "upgrade", "--database-url", empty).code == 0
    assert_one_clean_line(erpgen("report", "--database-url", empty, "-o", out), "holds no sales")

    (tmp_path / "other.db").write_bytes(b"")
    r = erpgen("report", "--database-url", f"sqlite:///{tmp_path / 'other.db'}", "-o", out)
    assert_one_clean_line(r, "holds no erpgen tables")

    r = erpgen("report", "--database-url", dataset, "-o", tmp_path / "no" / "such" / "dir.html")
    assert_one_clean_line(r, "directory", "does not exist")
    assert_one_clean_line(erpgen("report", "--database-url", dataset, "-o", tmp_path), "is a directory")

    r = erpgen("report", "--database-url", f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/erpgen", "-o", out)
    assert_one_clean_line(r, "cannot connect to postgresql://postgres:***@127.0.0.1:1/erpgen")
    assert not out.exists()
