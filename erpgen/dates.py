"""Days as erpgen carries them: whole days since 1970-01-01, in every block, batch and digest.

A day number is an integer, so numpy can compute with whole columns of them; the sinks turn it into each
target's date type only when they write.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

EPOCH = np.datetime64("1970-01-01", "D")
EPOCH_DATE = dt.date(1970, 1, 1)


def day_number(date: dt.date) -> int:
    """The day number of a date."""
    return (date - EPOCH_DATE).days
