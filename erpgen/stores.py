"""The stores master: every (country, channel) of the scenario has its own numbered stores."""

from __future__ import annotations

import numpy as np

from erpgen.config import GenerateConfig

FIRST_STORE_ID = 101  # every store id follows from it: changing it changes the data


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
