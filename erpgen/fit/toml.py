"""A fitted scenario as TOML text, in the layout of the built-in scenario files, headed by what was
measured (comments; aggregates only, as the scenario itself)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from erpgen.fit.measures import Measures
from erpgen.scenario import Scenario


def scenario_toml(
    scenario: Scenario, measures: Measures, notes: tuple[str, ...], money: Callable[[float], float]
) -> str:
    lines = [
        "# A synthetic twin, written by erpgen fit: every value below is an aggregate of the source",
        "# (shares, rates, means, spreads); no customer, product, document or single amount of it.",
        "# What it measured:",
    ]
    rows = measures.rows(money)
    width = max(len(name) for name, _ in rows)
    lines += [f"#   {name:<{width}}  {value}" for name, value in rows]
    if notes:
        lines.append("# What the twin's model sets differently, or could not read off the source:")
        lines += [f"#   {note}" for note in notes]
    lines.append("")
    top = {f.name: getattr(scenario, f.name) for f in dataclasses.fields(scenario)}
    tables = {k: v for k, v in top.items() if dataclasses.is_dataclass(v) or isinstance(v, dict)}
    for key, value in top.items():
        if key not in tables:
            lines.append(f"{key} = {_value(value)}")
    for key, value in tables.items():
        if isinstance(value, dict):  # countries, channels: one table each
            for name, item in value.items():
                lines += ["", f"[{key}.{name}]", *_fields(item)]
        else:
            lines += ["", f"[{key}]", *_fields(value)]
    return "\n".join(lines) + "\n"


def _fields(obj) -> list[str]:
    return [f"{f.name} = {_value(getattr(obj, f.name))}" for f in dataclasses.fields(obj)]


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, dt.date):
        return v.isoformat()
    if hasattr(v, "item") and not isinstance(v, (str, tuple)):  # a numpy scalar
        v = v.item()
    if isinstance(v, float):
        return repr(round(v, 6))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"no TOML for {type(v).__name__}")
