"""Fuzzed scenario files (issue 17): Hypothesis writes random scenarios, built from the air-freshener file
with values in and out of range, odd types, unicode, sections and keys missing or unknown, and now and
then text that is no TOML at all, and erpgen runs each with a small size. Every run ends within a
bounded time, either with a load whose integrity checks pass or with one clean line and exit 2: never a
traceback, an internal error or a hang. Most examples run in this process (cheap); a few through the
real command line."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import math
import re
import signal
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import erpgen
from erpgen.cli import main
from erpgen.scenario import builtin_text

from .conftest import REPO, run_process
from .helpers import assert_one_clean_line

BASE = tomllib.loads(builtin_text("air-freshener"))
SMALL = ["--n-customers", "40", "-q"]
SECONDS = 120  # a run longer than this is a hang
BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


# -- a small TOML writer (tomllib only reads) ---------------------------------------------------------
def _key(k: str) -> str:
    return k if BARE_KEY.fullmatch(k) else json.dumps(k, ensure_ascii=False)


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, (int, dt.date)):
        return str(v) if isinstance(v, int) else v.isoformat()
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(map(_value, v)) + "]"
    return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"


def to_toml(data: dict) -> str:
    top = [f"{_key(k)} = {_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    tables = [
        f"[{_key(k)}]\n" + "\n".join(f"{_key(kk)} = {_value(vv)}" for kk, vv in v.items())
        for k, v in data.items()
        if isinstance(v, dict)
    ]
    return "\n".join(top) + "\n\n" + "\n\n".join(tables) + "\n"


# -- random scenarios ---------------------------------------------------------------------------------
names = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12)
odd_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1, 2, 1e-9, 0.5, 1e12, -0.01, 366, 10**20]),
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    names,
    st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)),
    st.lists(st.floats(-2, 3, allow_nan=False), max_size=14),
    st.dictionaries(names, st.floats(-1, 2, allow_nan=False), max_size=3),
)


def _paths(data: dict, prefix=()) -> list[tuple]:
    out = []
    for k, v in data.items():
        out.append((*prefix, k))
        if isinstance(v, dict):
            out += _paths(v, (*prefix, k))
    return out


@st.composite
def scenarios(draw) -> str:
    if draw(st.integers(0, 9)) == 0:  # no TOML at all, or nearly
        return draw(st.text(max_size=60))
    data = json.loads(json.dumps(BASE, default=str))  # a deep copy, dates as text
    for k in ("date_from", "date_till"):
        data[k] = dt.date.fromisoformat(data[k])
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for k in path[:-1]:
            parent = parent[k]
        action = draw(st.sampled_from(["set", "set", "set", "delete", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "add":
            parent[draw(names)] = draw(odd_values)
        else:
            parent[path[-1]] = draw(odd_values)
    return to_toml(data)


# -- one run ------------------------------------------------------------------------------------------
class _Hang(Exception):
    pass


@contextlib.contextmanager
def _deadline(seconds: int):
    def ring(*_):
        raise _Hang(f"erpgen ran for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _check(code: int, out: str, err: str, target: Path, text: str) -> None:
    shown = f"exit {code}\nstderr: {err}\nscenario:\n{text}"
    assert "Traceback" not in out + err and "internal error" not in err, shown
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("erpgen: error: "), shown
        assert not target.exists(), shown
        return
    assert code == 0, shown
    try:
        report = erpgen.validate(database_url=f"sqlite:///{target}")
    except erpgen.TargetError as exc:  # a scenario may sell nothing at all
        assert "no sales to check" in str(exc), shown
        return
    failed = [c.name for c in report.checks if c.group == "integrity" and not c.ok]
    assert failed == [], shown


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_fuzzed_scenarios_in_process(text):
    with tempfile.TemporaryDirectory() as tmp:
        path, target = Path(tmp) / "fuzz.toml", Path(tmp) / "erpgen.db"
        path.write_text(text, encoding="utf-8")
        out, err = io.StringIO(), io.StringIO()
        with _deadline(SECONDS), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(
                ["generate", "--scenario", str(path), "--database-url", f"sqlite:///{target}", *SMALL]
            )
        _check(code, out.getvalue(), err.getvalue(), target, text)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_fuzzed_scenarios_through_the_command_line(text):
    with tempfile.TemporaryDirectory() as tmp:
        path, target = Path(tmp) / "fuzz.toml", Path(tmp) / "erpgen.db"
        path.write_text(text, encoding="utf-8")
        r = run_process([sys.executable, str(REPO / "cli.py"), "generate", "--scenario", str(path),
                         "--database-url", f"sqlite:///{target}", *SMALL], cwd=Path(tmp), timeout=SECONDS)  # fmt: skip
        _check(r.code, r.out, r.err, target, text)


# What the fuzzer found, kept as fixed cases: each gave an internal error or a message on two lines.
FOUND = {
    "zero consumption": (
        "[lifecycle]\nconsumption_g_per_day = 0.0\n",
        "lifecycle.consumption_g_per_day must be",
    ),
    "a country without a share": (
        '[countries]\nUS = { locale = "en_US" }\n',
        "countries.US.share is missing",
    ),
    "a line break in a key": ('"a\\nb" = 1\n', "unknown key a\\nb"),
    "a date with a time": (
        "date_from = 2015-01-01T10:00:00\n",
        "date_from must be a date (YYYY-MM-DD) without",
    ),
    "an infinite weight": (
        "[seasonality]\nmonth_weights = [inf, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n",
        "finite",
    ),
    "prices up 1000 % a year": (
        "[seasonality]\nprice_increase_per_year = 10.0\n",
        "must be from -0.25 to 0.25",
    ),
}


@pytest.mark.parametrize("case", sorted(FOUND))
def test_what_the_fuzzer_found(erpgen, tmp_path, case):
    text, message = FOUND[case]
    (tmp_path / "found.toml").write_text(text)
    target = tmp_path / "erpgen.db"
    r = erpgen(
        "generate", "--scenario", tmp_path / "found.toml", "--database-url", f"sqlite:///{target}", *SMALL
    )
    assert_one_clean_line(r, message)
    assert not target.exists()
