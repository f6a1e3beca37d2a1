"""erpgen report: one offline HTML page whose charts a real browser draws, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

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
    assert f"wrote {out}" in r.out and "9 charts" in r.out
    with connect(parse(pg_url)) as pg, connect(parse(dataset)) as lite:
        assert html_report.collect(pg) == html_report.collect(lite)


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
