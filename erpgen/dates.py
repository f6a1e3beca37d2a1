"""Days as erpgen carries them: whole days since 1970-01-01, in every block, batch and digest.

A day number is an integer, so numpy can compute with whole columns of them; the sinks turn it into each
target's date type only when they write. Days before 1970 are negative, so a missing date (a customer
who never bought, one not lost within the range) is NO_DAY, which no supported date can be, and never a
sign test.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

EPOCH = np.datetime64("1970-01-01", "D")
EPOCH_DATE = dt.date(1970, 1, 1)
SECONDS_PER_DAY = 86_400

# The dates a run may span: what a business can mean, and what every target's date type holds (MariaDB's
# DATE from year 1000, Parquet's date32 and PostgreSQL's date far beyond). config.py refuses the rest.
FIRST_DATE = dt.date(1900, 1, 1)
LAST_DATE = dt.date(2199, 12, 31)
# "No date": int32's smallest value, as the blocks carry days in 32 bits (simulation.facts.compact),
# millions of years before FIRST_DATE.
NO_DAY = int(np.iinfo(np.int32).min)


def day_number(date: dt.date) -> int:
    """The day number of a date."""
    return (date - EPOCH_DATE).days


def date_of(day: int) -> dt.date:
    """The date of a day number."""
    return EPOCH_DATE + dt.timedelta(days=int(day))


def known(days: np.ndarray) -> np.ndarray:
    """Which of the day numbers are dates (not NO_DAY)."""
    return np.asarray(days) != NO_DAY
