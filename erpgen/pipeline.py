"""Orchestration only: validate -> masters -> customers by block -> facts by block -> sinks -> commit."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from erpgen import urls
from erpgen.behaviour import EVENTS, SEGMENTS, BlockFacts, Model, simulate_block, store_table
from erpgen.calibrate import calibrate
from erpgen.catalog import Catalog, build_catalog
from erpgen.config import GenerateConfig, make_config
from erpgen.customers import build_customers
from erpgen.errors import ConfigError
from erpgen.rng import Draws
from erpgen.sinks import Sink, csv_sink, database_sink
from erpgen.sinks.base import Batch

DEFAULT_BLOCK_SIZE = 25_000  # customers simulated together; changes speed and memory, never the data
DEFAULT_BATCH_SIZE = 100_000  # rows handed to a sink per write; changes speed and memory, never the data


@dataclass
class RunSummary:
    target: str
    outputs: list[str]
    seed: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def lines_per_second(self) -> float:
        return self.rows.get("sales_transactions", 0) / self.seconds if self.seconds else 0.0


def _blocks(n_customers: int, block_size: int) -> Iterator[np.ndarray]:
    for start in range(1, n_customers + 1, block_size):
        yield np.arange(start, min(start + block_size, n_customers + 1), dtype=np.int64)


def _chunks(batch: Batch, size: int) -> Iterator[Batch]:
    n = len(next(iter(batch.values())))  # type: ignore[arg-type]
    if n <= size:
        yield batch
        return
    for lo in range(0, n, size):
        yield {k: v[lo : lo + size] for k, v in batch.items()}  # type: ignore[index]


def catalog_for(cfg: GenerateConfig) -> Catalog:
    c = cfg.scenario.catalog
    return build_catalog(
        seed=cfg.seed,
        n_devices=c.n_devices,
        n_accessories=c.n_accessories,
        n_spare_parts=c.n_spare_parts,
        n_refills=c.n_refills,
        n_bulk_refills=c.n_bulk_refills,
        universe=c.universe,
    )


def masters(cfg: GenerateConfig, catalog: Catalog) -> dict[str, Batch]:
    ps = catalog.products
    stores = store_table(cfg)
    store_rows = [
        (int(stores[i, j, 0]) + k, country, channel)
        for i, country in enumerate(cfg.scenario.countries)
        for j, channel in enumerate(cfg.scenario.channels)
        for k in range(int(stores[i, j, 1]))
    ]
    names = {"ONLINE": "Web Shop", "RETAIL": "Store", "B2B": "Business Sales"}
    return {
        "stores": {
            "store_id": np.array([r[0] for r in store_rows], dtype=np.int64),
            "store_name": [f"{names[ch]} {country} {sid}" for sid, country, ch in store_rows],
            "channel": [r[2] for r in store_rows],
            "country": [r[1] for r in store_rows],
        },
        "categories": {
            "category": [c for c, _ in catalog.categories],
            "role": [r for _, r in catalog.categories],
        },
        "products": {
            "product_id": np.array([p.product_id for p in ps], dtype=np.int64),
            "product_name": [p.product_name for p in ps],
            "brand": [p.brand for p in ps],
            "category": [p.category for p in ps],
            "gramm_g": [p.gramm_g for p in ps],
            "unit_price_cents": np.array([p.unit_price_cents for p in ps], dtype=np.int64),
        },
    }


def generate(
    *,
    database_url: str | None = None,
    csv_dir: str | None = None,
    replace: bool = False,
    block_size: int = DEFAULT_BLOCK_SIZE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: Callable[[str, int], None] | None = None,
    **params: object,
) -> RunSummary:
    """Simulate and load a dataset. `params` are named like the CLI flags (scenario=..., n_customers=...,
    seed=...).

    database_url: same as --database-url (default sqlite:///erpgen.db); csv_dir: same as --csv-dir;
    replace: same as --replace. The load is one transaction: it completes, or the target is unchanged.
    """
    cfg = make_config(**params)
    if block_size < 1 or batch_size < 1:
        raise ConfigError("--block-size and --batch-size must be at least 1")
    url = urls.parse(database_url or urls.DEFAULT_URL)
    sinks: list[Sink] = [database_sink(url, replace=replace)]
    if csv_dir:
        sinks.append(csv_sink(csv_dir))
    summary = RunSummary(target=sinks[0].describe(), outputs=[s.describe() for s in sinks[1:]], seed=cfg.seed)
    started = time.perf_counter()
    begun: list[Sink] = []
    try:
        for sink in sinks:
            sink.begin()
            begun.append(sink)
        _load(cfg, sinks, summary, block_size, batch_size, on_progress)
        for sink in sinks:
            sink.commit()
    except BaseException:
        for sink in begun:
            sink.abort()
        raise
    summary.seconds = time.perf_counter() - started
    return summary


def _load(cfg, sinks, summary, block_size, batch_size, on_progress) -> None:
    draws = Draws(cfg.seed)
    catalog = catalog_for(cfg)
    model = Model(cfg, catalog, calibrate(cfg, catalog))

    def fan_out(table: str, batches) -> None:
        with contextlib.ExitStack() as stack:
            writers = [stack.enter_context(s.table_writer(table)) for s in sinks]
            count = 0
            for batch in batches:
                for chunk in _chunks(batch, batch_size):
                    for w in writers:
                        w.write(chunk)
                count += len(next(iter(batch.values())))  # type: ignore[arg-type]
                if on_progress:
                    on_progress(table, count)
        summary.rows[table] = count

    for table, batch in masters(cfg, catalog).items():
        fan_out(table, [batch])
    fan_out("customers", (build_customers(cfg, ids, draws) for ids in _blocks(cfg.n_customers, block_size)))

    # The lifecycle tables are a few rows per customer: kept from the fact pass and written after it.
    lifecycle: list[Batch] = []
    events: list[Batch] = []

    def facts() -> Iterator[Batch]:
        next_line = 1
        for ids in _blocks(cfg.n_customers, block_size):
            f = simulate_block(model, ids, draws)
            lifecycle.append(_lifecycle_batch(ids, f))
            events.append(_events_batch(f))
            n = len(f)
            yield {
                "line_id": np.arange(next_line, next_line + n, dtype=np.int64),
                "customer_id": f.customer_id,
                "invoice_seq": f.invoice_seq,
                "is_credit": f.is_credit,
                "invoice_date": f.invoice_date,
                "product_id": f.product_id,
                "quantity": f.quantity,
                "unit_price_cents": f.unit_price_cents,
                "revenue_cents": f.revenue_cents,
                "store_id": f.store_id,
                "returned_line_id": np.where(f.returned >= 0, f.returned + next_line, 0),
            }
            next_line += n

    fan_out("sales_transactions", facts())
    fan_out("customer_lifecycle", lifecycle)
    fan_out("lifecycle_events", events)
    fan_out("erpgen_runs", [_run_record(cfg)])


def _lifecycle_batch(ids: np.ndarray, f: BlockFacts) -> Batch:
    return {
        "customer_id": ids.astype(np.int64),
        "segment": [SEGMENTS[s] for s in f.segment.tolist()],
        "acquired_on": f.created,
        "first_purchase_on": f.first_purchase,
        "lost_on": f.lost,
    }


def _events_batch(f: BlockFacts) -> Batch:
    cust = f.event_customer
    starts = np.flatnonzero(np.r_[True, cust[1:] != cust[:-1]]) if len(cust) else np.zeros(0, dtype=np.int64)
    first_of = np.repeat(starts, np.diff(np.r_[starts, len(cust)]))
    return {
        "customer_id": cust,
        "event_no": np.arange(len(cust), dtype=np.int64) - first_of + 1,
        "event": [EVENTS[c] for c in f.event_code.tolist()],
        "event_date": f.event_day,
    }


def _run_record(cfg: GenerateConfig) -> Batch:
    import datetime as dt
    import json

    from erpgen import __version__

    return {
        "run_id": np.array([1], dtype=np.int64),
        "erpgen_version": [__version__],
        "scenario": [cfg.scenario.name],
        "scenario_toml": [cfg.scenario_text],
        "seed": np.array([cfg.seed], dtype=np.int64),
        "parameters": [json.dumps(cfg.public_parameters(), sort_keys=True)],
        "loaded_at": [dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0).isoformat(sep=" ")],
    }
