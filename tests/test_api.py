"""The Python API: erpgen.generate, estimate, validate, verify and report return typed results and raise
erpgen's errors (never SystemExit); their parameters are the CLI's options; docs/api.md's script runs."""

from __future__ import annotations

import datetime as dt
import inspect
import os
import pydoc
import re
import shutil
import sqlite3
import subprocess
import sys

import click
import pytest

import erpgen
from erpgen.cli import cli

from .conftest import REPO

API_DOC = (REPO / "docs" / "api.md").read_text()
TINY = {"n_customers": 300, "date_from": "2022-01-01", "date_till": "2024-12-31", "seed": 3}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[str, erpgen.RunSummary]:
    """A 300-customer SQLite database loaded through the API, and what generate() returned."""
    url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'erpgen.db'}"
    return url, erpgen.generate(database_url=url, **TINY)


def python(code: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


# -- docs/api.md ---------------------------------------------------------------------------------------
def test_the_api_doc_script_runs_as_written(tmp_path):
    m = re.search(r"<!-- api:example -->\s*```python\n(.+?)\n```", API_DOC, re.S)
    assert m, "docs/api.md has no api:example script"
    r = python(m.group(1), cwd=tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r
    assert list(tmp_path.iterdir()) == []  # its database was a temporary file, its estimate wrote nothing
    # what it prints is what the doc says it prints, but for the temporary path and the seconds
    shown = re.search(r"It prints.*?```text\n(.+?)\n```", API_DOC, re.S).group(1)

    def steady(text: str) -> list[str]:
        text = re.sub(r"sqlite:///\S+/shop\.db", "sqlite:///TMP/shop.db", text)
        return re.sub(r" in [\d.]+ s$", " in N s", text, flags=re.M).splitlines()

    assert steady(r.stdout.strip()) == steady(shown)


def test_the_api_doc_names_every_public_function():
    for name in ("generate", "estimate", "validate", "verify", "report"):
        assert f"`erpgen.{name}(" in API_DOC
    for name in ("RunSummary", "Estimate", "ValidationReport", "VerifyResult", "ReportSummary"):
        assert f"`{name}`" in API_DOC


# -- typed results on a tiny run -----------------------------------------------------------------------
def test_generate_returns_a_run_summary(tiny):
    url, summary = tiny
    assert isinstance(summary, erpgen.RunSummary)
    assert summary.target == url and summary.outputs == [] and summary.seed == 3
    assert summary.rows["customers"] == 300 and summary.rows["sales_transactions"] > 300
    assert summary.seconds > 0 and summary.lines_per_second > 0


def test_estimate_returns_an_estimate_and_writes_nothing(tmp_path, tiny):
    _, summary = tiny
    target = tmp_path / "never.db"
    guess = erpgen.estimate(database_url=f"sqlite:///{target}", **TINY)
    assert isinstance(guess, erpgen.Estimate)
    assert guess.rows["customers"] == 300
    real = summary.rows["sales_transactions"]
    assert abs(guess.rows["sales_transactions"] - real) <= 0.25 * real
    assert set(guess.bytes) == {"sqlite"} and guess.seconds > 0
    assert not target.exists()


def test_verify_returns_a_verify_result(tiny):
    url, _ = tiny
    result = erpgen.verify(database_url=url)
    assert isinstance(result, erpgen.VerifyResult)
    assert result.ok and result.differing == [] and result.recorded == result.actual
    assert {"customers", "sales_transactions"} <= set(result.actual)
    assert result.target == url and result.seed == 3 and result.scenario == "air-freshener"
    assert isinstance(result.loaded_at, dt.datetime)
    assert result.render().endswith("content matches the recorded digest")


def test_verify_detects_a_changed_row(tiny, tmp_path):
    url, _ = tiny
    copy = tmp_path / "changed.db"
    shutil.copyfile(url.removeprefix("sqlite:///"), copy)
    with sqlite3.connect(copy) as raw:
        raw.execute("UPDATE customers SET first_name = 'Mallory' WHERE customer_id = 7")
    result = erpgen.verify(database_url=f"sqlite:///{copy}")
    assert not result.ok and result.differing == ["customers"]
    assert result.recorded["customers"] != result.actual["customers"]
    assert result.recorded["sales_transactions"] == result.actual["sales_transactions"]


def test_validate_returns_a_validation_report(tiny):
    url, _ = tiny
    report = erpgen.validate(database_url=url)
    assert isinstance(report, erpgen.ValidationReport)
    assert report.target == url and report.scenario == "air-freshener" and report.checks
    integrity = [c for c in report.checks if c.group == "integrity"]
    assert integrity and all(c.ok for c in integrity)
    assert report.ok == all(c.ok for c in report.checks)


def test_report_returns_a_report_summary(tiny, tmp_path):
    pytest.importorskip("plotly")
    url, _ = tiny
    out = tmp_path / "page.html"
    summary = erpgen.report(database_url=url, output=out)
    assert isinstance(summary, erpgen.ReportSummary)
    assert summary.output == out and out.stat().st_size == summary.size_bytes
    assert summary.charts > 0 and summary.target == url
    assert summary.checks_failed == sum(not c.ok for c in erpgen.validate(database_url=url).checks)


# -- errors: raised, never printed or exited -----------------------------------------------------------
@pytest.mark.parametrize(
    "bad",
    [
        {"n_customers": 0},
        {"date_from": "2024-13-01"},
        {"p_email": 1.5},
        {"engine": "spark"},
        {"scenario": "no-such-scenario"},
        {"no_database": True},
    ],
    ids=lambda bad: next(iter(bad)),
)
@pytest.mark.parametrize("function", [erpgen.generate, erpgen.estimate], ids=["generate", "estimate"])
def test_bad_parameters_raise_config_error(function, bad, tmp_path):
    target = tmp_path / "erpgen.db"
    with pytest.raises(erpgen.ConfigError) as caught:
        function(database_url=f"sqlite:///{target}", **bad)
    assert isinstance(caught.value, erpgen.ErpGenError) and caught.value.message
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_parameter_is_a_type_error():
    with pytest.raises(TypeError, match="n_customer"):
        erpgen.generate(n_customer=10)


def test_nothing_to_check_raises_target_error(tmp_path):
    missing = f"sqlite:///{tmp_path / 'missing.db'}"
    for function in (erpgen.verify, erpgen.validate):
        with pytest.raises(erpgen.TargetError, match="does not exist"):
            function(database_url=missing)
    assert list(tmp_path.iterdir()) == []
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(erpgen.TargetError, match="no completed erpgen load") as caught:
        erpgen.verify(database_url=f"sqlite:///{empty}")
    assert caught.value.hint == "run erpgen generate first"


def test_report_to_a_missing_directory_raises_config_error(tiny, tmp_path):
    pytest.importorskip("plotly")
    url, _ = tiny
    with pytest.raises(erpgen.ConfigError, match="does not exist"):
        erpgen.report(database_url=url, output=tmp_path / "no" / "page.html")


# -- the API and the CLI agree ------------------------------------------------------------------------
def options(command: str) -> dict[str, click.Option]:
    return {p.name: p for p in cli.commands[command].params if isinstance(p, click.Option)}


def cli_defaults(command: str) -> dict[str, object]:
    """The options' defaults. (Not make_context(): click would cache a --help option made without the
    group's -h, and docs/cli.md would then look stale.)"""
    ctx = click.Context(cli.commands[command])
    return {name: option.get_default(ctx) for name, option in options(command).items()}


def test_generate_takes_every_generate_option_with_its_default():
    cli_only = {"dry_run", "quiet"}  # the CLI's ways of calling estimate() and of printing nothing
    params = inspect.signature(erpgen.generate).parameters
    assert set(params) == set(options("generate")) - cli_only | {"on_progress"}
    doc, defaults = inspect.getdoc(erpgen.generate), cli_defaults("generate")
    for name, option in options("generate").items():
        if name in cli_only:
            continue
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert f"same as {option.opts[0]}" in doc, name
        if name != "database_url":  # the CLI's default comes from $DATABASE_URL, else sqlite:///erpgen.db
            assert params[name].default == defaults[name], name


def test_estimate_takes_generates_parameters():
    generate = inspect.signature(erpgen.generate).parameters
    assert list(inspect.signature(erpgen.estimate).parameters.values()) == [
        p for name, p in generate.items() if name != "on_progress"
    ]


@pytest.mark.parametrize("command", ["validate", "verify", "report"])
def test_the_other_functions_take_their_commands_options(command):
    params = inspect.signature(getattr(erpgen, command)).parameters
    assert set(params) == set(options(command))
    doc, defaults = inspect.getdoc(getattr(erpgen, command)), cli_defaults(command)
    for name, option in options(command).items():
        assert f"same as {option.opts[0]}" in doc
        if name != "database_url":
            assert params[name].default == defaults[name]


def test_extend_takes_its_commands_options():
    cli_only = {"quiet"}  # printing nothing
    params = inspect.signature(erpgen.extend).parameters
    assert set(params) == set(options("extend")) - cli_only | {"on_progress"}
    doc = inspect.getdoc(erpgen.extend)
    for name, option in options("extend").items():
        if name not in cli_only:
            assert f"same as {option.opts[0]}" in doc, name
            assert params[name].default is None and params[name].kind is inspect.Parameter.KEYWORD_ONLY


def test_help_shows_the_real_parameters():
    for name in ("generate", "estimate", "extend", "validate", "verify", "report"):
        text = pydoc.render_doc(getattr(erpgen, name), renderer=pydoc.plaintext)
        assert f"{name}(*, database_url" in text, text[:300]
    text = pydoc.render_doc(erpgen.generate, renderer=pydoc.plaintext)
    assert "n_customers: 'int | None' = None" in text and "same as --n-customers" in text


def test_the_cli_prints_what_the_api_returns(tiny, erpgen_cli):
    url, _ = tiny
    r = erpgen_cli("verify", "--database-url", url)
    assert r.code == 0 and r.out.strip() == erpgen.verify(database_url=url).render()


@pytest.fixture
def erpgen_cli(erpgen):  # conftest's in-process CLI runner, under a name that does not hide the package
    return erpgen


# -- import -------------------------------------------------------------------------------------------
def test_import_erpgen_is_cheap(tmp_path):
    r = python(
        "import sys, erpgen; erpgen.generate, erpgen.validate, erpgen.ConfigError; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'numpy', 'sqlalchemy', 'faker', 'click', 'tqdm', 'pyarrow', 'plotly', 'importlib_metadata'})); "
        "print(sorted(m for m in sys.modules if m.startswith('erpgen')))",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r
    heavy, ours = r.stdout.splitlines()
    assert heavy == "[]"
    assert ours == "['erpgen', 'erpgen.errors']"


def test_the_functions_stay_functions_whatever_is_imported_first(tmp_path):
    """The modules behind the API are named for what they hold (validation, verification, html_report,
    estimation), not like the functions, so importing them never replaces erpgen.validate and friends
    (a package's attribute is set to each submodule the import system loads)."""
    r = python(
        "import erpgen.estimation, erpgen.validation, erpgen.verification, erpgen.html_report, erpgen.pipeline\n"
        "import inspect, erpgen, pkgutil\n"
        "for f in (erpgen.generate, erpgen.estimate, erpgen.validate, erpgen.verify, erpgen.report):\n"
        "    assert inspect.isfunction(f) and 'database_url' in str(inspect.signature(f)), f\n"
        "modules = {m.name for m in pkgutil.iter_modules(erpgen.__path__)}\n"
        "assert not modules & {'generate', 'estimate', 'validate', 'verify', 'report'}, modules\n"
        "assert erpgen.ValidationReport is erpgen.validation.ValidationReport\n"
        "print('ok')",
        cwd=tmp_path,
    )
    assert r.returncode == 0 and r.stdout.strip() == "ok", r
