"""Month and year of a day number, from lookup tables over the block's days."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from erpgen.dates import EPOCH


@dataclass(frozen=True)
class Calendar:
    """Month (0-11) and year of the days first..last (days since 1970-01-01).

    Lookup tables, because numpy's datetime64 conversions cost far more per element and the purchase-day
    loop asks every iteration."""

    first: int
    month_of: np.ndarray  # indexed by day - first
    year_of: np.ndarray

    @classmethod
    def spanning(cls, first: int, last: int) -> Calendar:
        days = EPOCH + np.arange(first, last + 1).astype("timedelta64[D]")
        month = (days.astype("datetime64[M]").astype(np.int64) % 12).astype(np.int64)
        return cls(first, month, days.astype("datetime64[Y]").astype(np.int64) + 1970)

    def month(self, day: np.ndarray) -> np.ndarray:
        return self.month_of[day - self.first]

    def year(self, day: np.ndarray) -> np.ndarray:
        return self.year_of[day - self.first]
