"""The master tables, made before any customer: stores, product categories, products, currencies and
their exchange rates, as batches."""

from __future__ import annotations

import dataclasses

import numpy as np

from erpgen.catalog import Catalog, build_catalog
from erpgen.config import GenerateConfig
from erpgen.dates import day_number
from erpgen.exchange_rates import currencies_batch, rates_batch
from erpgen.sinks.base import Batch
from erpgen.stores import stores_batch


def catalog_for(cfg: GenerateConfig) -> Catalog:
    """The run's product catalog, as the scenario and the flags size it."""
    return build_catalog(seed=cfg.seed, **dataclasses.asdict(cfg.scenario.catalog))


def master_batches(cfg: GenerateConfig, catalog: Catalog) -> dict[str, Batch]:
    """stores, categories, products, currencies and exchange_rates, parents first."""
    ps = catalog.products
    return {
        "stores": stores_batch(cfg),
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
        "currencies": currencies_batch(cfg),
        "exchange_rates": rates_batch(cfg, day_number(cfg.date_till)),
    }
