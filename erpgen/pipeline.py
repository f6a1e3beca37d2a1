"""Orchestration only: validate -> masters -> customers by block -> facts by block -> sinks -> commit."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from erpgen import urls
from erpgen.behaviour import FIRST_STORE_ID, BehaviourTables, simulate_block
from erpgen.catalog import build_catalog
from erpgen.config import GenerateConfig, make_config
from erpgen.customers import build_customers
from erpgen.errors import ConfigError
from erpgen.rng import Draws
from erpgen.sinks import Sink, csv_sink, database_sink
from erpgen.sinks.base import Batch

DEFAULT_BLOCK_SIZE = 5_000  # customers simulated together; changes speed and memory, never the data
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


def masters(cfg: GenerateConfig) -> dict[str, Batch]:
    catalog = build_catalog(
        seed=cfg.seed,
        n_devices=cfg.n_devices,
        n_accessories=cfg.n_accessories,
        n_spare_parts=cfg.n_spare_parts,
        n_refills=cfg.n_refills,
        n_bulk_refills=cfg.n_bulk_refills,
    )
    ps = catalog.products
    store_ids = np.arange(FIRST_STORE_ID, FIRST_STORE_ID + cfg.n_stores, dtype=np.int64)
    return {
        "stores": {"store_id": store_ids, "store_name": [f"Store {i}" for i in store_ids.tolist()]},
        "products": {
            "product_id": np.array([p.product_id for p in ps], dtype=np.int64),
            "product_name": [p.product_name for p in ps],
            "brand": [p.brand for p in ps],
            "category": [p.category for p in ps],
            "gramm_g": [p.gramm_g for p in ps],
            "unit_price_cents": np.array([p.unit_price_cents for p in ps], dtype=np.int64),
        },
        "_catalog": catalog,  # type: ignore[dict-item]
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
    """Simulate and load a dataset. `params` are named like the CLI flags (n_customers=..., seed=...).

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
    m = masters(cfg)
    catalog = m.pop("_catalog")
    tables = BehaviourTables.from_behaviour(cfg.behaviour)

    def fan_out(table: str, batches) -> None:
        with contextlib.ExitStack() as stack:
            writers = [stack.enter_context(s.table_writer(table)) for s in sinks]
            count = 0
            for batch in batches:
                for chunk in _chunks(batch, batch_size):
                    for w in writers:
                        w.write(chunk)
                count += len(batch["customer_id" if "customer_id" in batch else next(iter(batch))])
                if on_progress:
                    on_progress(table, count)
        summary.rows[table] = count

    for table in ("stores", "products"):
        fan_out(table, [m[table]])
    fan_out("customers", (build_customers(cfg, ids, draws) for ids in _blocks(cfg.n_customers, block_size)))

    def facts() -> Iterator[Batch]:
        next_line = 1
        for ids in _blocks(cfg.n_customers, block_size):
            f = simulate_block(cfg, catalog, tables, ids, draws)
            n = len(f)
            yield {
                "line_id": np.arange(next_line, next_line + n, dtype=np.int64),
                "customer_id": f.customer_id,
                "invoice_seq": f.invoice_seq,
                "invoice_date": f.invoice_date,
                "product_id": f.product_id,
                "quantity": f.quantity,
                "revenue_cents": f.revenue_cents,
                "store_id": f.store_id,
            }
            next_line += n

    fan_out("sales_transactions", facts())
