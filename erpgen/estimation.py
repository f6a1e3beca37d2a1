"""`erpgen generate --dry-run`: rows per table, size and time, before anything is written.

Every customer's history depends only on the seed and its id, so simulating an evenly spread sample of
customer ids and scaling up estimates the whole run without bias. Sizes and times per row come from
bench/bench.py on the 2-core machine the benchmarks run on (bench/README.md); other machines scale them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SAMPLE = 2000
# bytes on disk per fact line and per customer (customer, lifecycle and event rows), indexes included.
# A line carries its share of an invoice header (about 0.55 headers a line): SQLite and PostgreSQL
# measured (about 90 bytes a line more, tests/test_estimate.py); the others scaled from their line's size.
BYTES = {
    "sqlite": (386, 320),
    "duckdb": (424, 205),
    "postgresql": (462, 500),
    "mysql": (704, 320),
    "parquet": (61, 120),
    "delta": (74, 75),
    "csv": (203, 110),  # the original's three files and the order-to-cash documents
}
# seconds per fact line and per customer, end to end, and fixed seconds (start, calibration, keys)
SECONDS = {
    "sqlite": (10.5e-6, 8e-6, 1.0),
    "duckdb": (16.4e-6, 9e-6, 1.0),
    "postgresql": (8.2e-6, 8e-6, 1.0),
    "mysql": (26e-6, 8e-6, 1.0),
    "parquet": (3.1e-6, 1.5e-6, 1.0),
    "delta": (3.2e-6, 4e-6, 1.0),
}


@dataclass
class Estimate:
    rows: dict[str, int]
    bytes: dict[str, int]
    seconds: float
    target: str
    shortfalls: list[str] = field(default_factory=list)  # targets out of reach (generate would refuse)

    def render(self) -> str:
        width = max(len(t) for t in self.rows)
        lines = [f"erpgen --dry-run: estimate for {self.target} (nothing written)"]
        lines += [f"  {table:<{width}}  {n:>12,} rows" for table, n in self.rows.items()]
        for where, size in self.bytes.items():
            lines.append(f"  size ({where}): about {size / 1e6:,.0f} MB")
        lines.append(f"  time: about {self.seconds:,.0f} s on 2 cores")
        lines += [f"  target out of reach: {s}" for s in self.shortfalls]
        return "\n".join(lines)


def estimate(**params: object) -> Estimate:
    """Rows per table, size on disk and time of the run generate(**params) would make, writing nothing
    and needing no server. Same keyword arguments as erpgen.generate; raises ConfigError likewise."""
    from erpgen.calibrate import calibrate
    from erpgen.config import make_run
    from erpgen.masters import catalog_for, master_batches
    from erpgen.simulation import Model
    from erpgen.sinks import sinks_for

    cfg, options = make_run(**params)
    catalog = catalog_for(cfg)
    model = Model(cfg, catalog, calibrate(cfg, catalog))
    n = cfg.n_customers
    f, scale = _sample(model)
    lines = int(round(len(f) * scale))
    m = master_batches(cfg, catalog)
    rows = {
        "stores": len(m["stores"]["store_id"]),
        "categories": len(m["categories"]["category"]),
        "products": len(m["products"]["product_id"]),
        "currencies": len(m["currencies"]["currency_code"]),
        "exchange_rates": len(m["exchange_rates"]["rate_date"]),
        "customers": n,
        "sales_transactions": lines,
        **{table: int(round(count * scale)) for table, count in _header_counts(f, model).items()},
        "customer_lifecycle": n,
        "lifecycle_events": int(round(len(f.event_customer) * scale)),
        "erpgen_runs": 1,
    }
    backend = None
    if not options.no_database:
        from erpgen import urls

        backend = urls.parse(options.database_url or urls.DEFAULT_URL).get_backend_name()
        backend = "mysql" if backend == "mariadb" else backend  # one server family, one set of figures
    exports = (options.csv_dir and "csv", options.parquet_dir and "parquet", options.delta_dir and "delta")
    outputs = [b for b in (backend, *exports) if b]
    size = {o: output_bytes(o, lines, n) for o in outputs}
    files_only = "delta" if options.delta_dir and not options.parquet_dir else "parquet"
    per_line, per_customer, fixed = SECONDS[backend or files_only]
    seconds = fixed + per_line * lines + per_customer * n
    shortfalls = [s.describe() for s in model.rates.shortfalls]
    return Estimate(rows, size, seconds, sinks_for(options)[0].describe(), shortfalls)


def _header_counts(f, model) -> dict[str, int]:
    """Rows of the invoice headers and the order-to-cash documents of a simulated sample."""
    from erpgen.tables import header_batches

    return {table: len(next(iter(b.values()))) for table, b in header_batches(f, model).items()}


def _sample(model):
    """An evenly spread sample of the run's customers simulated, and the factor that scales it up."""
    from erpgen.rng import Draws
    from erpgen.simulation import simulate_block

    n = model.cfg.n_customers
    ids = np.unique(np.linspace(1, n, min(n, SAMPLE)).round().astype(np.int64))
    return simulate_block(model, ids, Draws(model.cfg.seed)), n / len(ids)


def output_bytes(output: str, lines: int, customers: int) -> int:
    """Bytes on disk of a run's `output` (sqlite, postgresql, mysql, duckdb, csv, parquet, delta)."""
    per_line, per_customer = BYTES["mysql" if output == "mariadb" else output]
    return per_line * lines + per_customer * customers


def fact_lines(model) -> int:
    """About how many sales lines the run of `model` (calibrated) makes."""
    f, scale = _sample(model)
    return int(round(len(f) * scale))
