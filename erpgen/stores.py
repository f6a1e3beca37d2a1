"""The stores master: every (country, channel) of the scenario has its own numbered stores."""

from __future__ import annotations

import numpy as np

from erpgen.config import GenerateConfig
from erpgen.sinks.base import Batch

FIRST_STORE_ID = 101  # every store id follows from it: changing it changes the data
STORE_NAMES = {"ONLINE": "Web Shop", "RETAIL": "Store", "B2B": "Business Sales"}


def store_table(cfg: GenerateConfig) -> np.ndarray:
    """(country index, channel index) -> first store id and store count, in a (countries, channels, 2) array.

    Stores are numbered from FIRST_STORE_ID in the order: country, then channel, then store.
    """
    s = cfg.scenario
    out = np.zeros((len(s.countries), len(s.channels), 2), dtype=np.int64)
    next_id = FIRST_STORE_ID
    for i in range(len(s.countries)):
        for j, ch in enumerate(s.channels.values()):
            out[i, j] = (next_id, ch.stores_per_country)
            next_id += ch.stores_per_country
    return out


def stores_batch(cfg: GenerateConfig) -> Batch:
    """The stores table: one row per store, named after its channel and country."""
    stores = store_table(cfg)
    rows = [
        (int(stores[i, j, 0]) + k, country, channel)
        for i, country in enumerate(cfg.scenario.countries)
        for j, channel in enumerate(cfg.scenario.channels)
        for k in range(int(stores[i, j, 1]))
    ]
    return {
        "store_id": np.array([r[0] for r in rows], dtype=np.int64),
        "store_name": [f"{STORE_NAMES[ch]} {country} {sid}" for sid, country, ch in rows],
        "channel": [r[2] for r in rows],
        "country": [r[1] for r in rows],
    }
