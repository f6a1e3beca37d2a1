"""`erpgen fit`: a scenario fitted to a real sales history (its synthetic twin), and the side-by-side
comparison of two histories.

source.py reads a history (a database table, CSV, Parquet) into compact columns; measures.py computes
the figures fit and compare print, with one code for both sides; twin.py turns the figures into a
scenario whose targets erpgen's calibration then meets; toml.py writes it.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from erpgen.errors import ConfigError
from erpgen.fit.source import DEFAULT_MAX_ROWS, SourceSpec


@dataclass(frozen=True)
class FitResult:
    """What fit() measured and wrote: the scenario file, its figures, the notes on what the model sets
    differently, the twin's figures on the search's pilot, and how long it took."""

    output: str
    source: str
    rows: int
    sampled: float
    columns: dict[str, str]
    measured: list[tuple[str, str]]
    pilot: list[tuple[str, str]]
    notes: tuple[str, ...]
    seconds: float

    def render(self) -> str:
        lines = [f"erpgen fit: {self.source}: {self.rows:,} rows in {self.seconds:.1f} s -> {self.output}"]
        lines.append("  columns: " + ", ".join(f"{role}={col}" for role, col in self.columns.items()))
        if self.sampled < 1.0:
            lines.append(f"  sampled: {self.sampled:.1%} of the customers (seeded; see --max-rows)")
        lines.append(_side_by_side(self.measured, self.pilot, "source", "twin (pilot)"))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass(frozen=True)
class Comparison:
    """Two histories' figures, measured alike."""

    real: str
    twin: str
    real_rows: list[tuple[str, str]]
    twin_rows: list[tuple[str, str]]

    def render(self) -> str:
        head = f"erpgen fit --compare: {self.real} vs {self.twin}"
        return head + "\n" + _side_by_side(self.real_rows, self.twin_rows, "real", "twin")


WIDE = 26  # characters of the widest value that sets its column's width


def _side_by_side(left: list[tuple[str, str]], right: list[tuple[str, str]], a: str, b: str) -> str:
    rights = dict(right)
    names = [name for name, _ in left] + [name for name, _ in right if name not in dict(left)]
    lefts = dict(left)
    w0 = max(len(n) for n in names)
    # a long value (twelve months of seasonality) overflows its row rather than widen every row to it
    w1 = max(len(a), *(len(v) for v in lefts.values() if len(v) <= WIDE))
    w2 = max(len(b), *(len(v) for v in rights.values() if len(v) <= WIDE))
    out = [f"  {'':<{w0}}  {a:>{w1}}  {b:>{w2}}"]
    out += [f"  {n:<{w0}}  {lefts.get(n, '-'):>{w1}}  {rights.get(n, '-'):>{w2}}" for n in names]
    return "\n".join(out)


def spec_of(
    *,
    database_url: str | None = None,
    table: str | None = None,
    csv: str | None = None,
    parquet: str | None = None,
    **columns: str | None,
) -> SourceSpec:
    return SourceSpec(database_url=database_url, table=table, csv=csv, parquet=parquet, columns=columns)


def fit(
    *,
    database_url: str | None = None,
    table: str | None = None,
    csv: str | None = None,
    parquet: str | None = None,
    customer: str | None = None,
    date: str | None = None,
    amount: str | None = None,
    quantity: str | None = None,
    product: str | None = None,
    channel: str | None = None,
    country: str | None = None,
    document: str | None = None,
    returns: str | None = None,
    output: str = "twin.toml",
    name: str | None = None,
    seed: int = 42,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> FitResult:
    """Fit a scenario to the sales history of a table (database_url and table), a CSV file or a Parquet
    file or folder, and write it to `output`: `erpgen fit`. Each keyword is the flag of the same name.

    The columns not given are found by name (customer_id, invoice_date, revenue, ...). Raises ConfigError
    (or TargetError for a database it cannot open) in one line for a source it cannot fit."""
    from erpgen.fit import source as sources
    from erpgen.fit.measures import measure
    from erpgen.fit.toml import scenario_toml
    from erpgen.fit.twin import check_fittable, fit_twin

    start = time.monotonic()
    if max_rows < 1:
        raise ConfigError(f"--max-rows must be at least 1, got {max_rows}")
    spec = spec_of(
        database_url=database_url, table=table, csv=csv, parquet=parquet, customer=customer, date=date,
        amount=amount, quantity=quantity, product=product, channel=channel, country=country,
        document=document, returns=returns,
    )  # fmt: skip
    if database_url and not (table or csv or parquet):
        # an erpgen dataset: its sales with their store's channel and country, as `--compare` reads it
        dataset = sources.erpgen_dataset_spec(database_url, None)
        if dataset is not None:
            spec = dataclasses.replace(dataset, columns=spec.columns)
    history = sources.read(spec, max_rows=max_rows, seed=seed)
    check_fittable(measure(history), history, spec.describe())
    stem = Path(output).stem
    twin = fit_twin(history, seed=seed, name=name or (stem if stem.isidentifier() else "twin"))
    text = scenario_toml(twin.scenario, twin.measures, twin.notes, twin.money)
    _check_parses(text)
    try:
        Path(output).write_text(text)
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror}") from None
    return FitResult(
        output=output,
        source=spec.describe(),
        rows=history.source_rows,
        sampled=history.sampled,
        columns=history.columns,
        measured=twin.measures.rows(),
        pilot=twin.pilot.rows(),
        notes=twin.notes,
        seconds=time.monotonic() - start,
    )


def _check_parses(text: str) -> None:
    """A written twin must load as a scenario; one that does not is erpgen's bug, not the source's."""
    from erpgen.scenario import parse

    parse(text, "the fitted scenario")


def compare(
    *,
    real: str,
    twin: str,
    table: str | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    seed: int = 42,
    **columns: str | None,
) -> Comparison:
    """The figures of two histories side by side: `erpgen fit --compare REAL TWIN`. Each is a database
    URL (an erpgen dataset, or a table named by `table`), a .csv file or a Parquet file or folder; the
    column keywords name the real side's columns, as for fit()."""
    from erpgen.fit import source as sources
    from erpgen.fit.measures import measure

    specs = [_compare_spec(where, table, columns) for where in (real, twin)]
    histories = [sources.read(spec, max_rows=max_rows, seed=seed) for spec in specs]
    for spec, history in zip(specs, histories):
        if not (~history.is_return).any():
            raise ConfigError(f"{spec.describe()} holds no sales")
    _alike(*histories)
    real_rows, twin_rows = (measure(h).rows() for h in histories)
    return Comparison(specs[0].describe(), specs[1].describe(), real_rows, twin_rows)


def _alike(a, b) -> None:
    """Both histories measured from the same kinds of column: a column one side lacks (a source without
    documents, whose orders are then a customer's day) is left out on the other side too."""
    for role in ("quantity", "product", "document", "channel", "country"):
        if getattr(a, role) is None or getattr(b, role) is None:
            setattr(a, role, None)
            setattr(b, role, None)


def _compare_spec(where: str, table: str | None, columns: dict) -> SourceSpec:
    from erpgen.fit.source import erpgen_dataset_spec

    if "://" in where:
        dataset = erpgen_dataset_spec(where, table)
        if dataset is not None:
            return dataset
        return spec_of(database_url=where, table=table, **columns)
    if where.lower().endswith(".csv"):
        return spec_of(csv=where, **columns)
    return spec_of(parquet=where, **columns)
