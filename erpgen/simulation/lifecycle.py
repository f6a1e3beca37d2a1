"""Stage 7, lifecycle truth: each customer's lifecycle events, as the lifecycle tables record them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from erpgen.dates import known
from erpgen.simulation.facts import ACQUIRED, LOST
from erpgen.simulation.purchase_days import History
from erpgen.simulation.traits import CustomerTraits


@dataclass(frozen=True)
class LifecycleEvents:
    """Sorted by (customer, day, event)."""

    customer: np.ndarray  # the customer's id
    code: np.ndarray  # ACQUIRED, FIRST_PURCHASE, DORMANT, REACTIVATED or LOST
    day: np.ndarray


def lifecycle_events(customers: CustomerTraits, history: History) -> LifecycleEvents:
    """Every customer's creation and lost decision (when within the range), and the events its purchases
    started or ended."""
    n = len(customers.ids)
    lost = np.flatnonzero(known(history.lost))
    row = np.concatenate((np.arange(n), lost, history.event_row))
    code = np.concatenate((np.full(n, ACQUIRED), np.full(len(lost), LOST), history.event_code))
    day = np.concatenate((customers.created, history.lost[lost], history.event_day))
    order = np.lexsort((code, day, row))
    return LifecycleEvents(customers.ids[row[order]], code[order], day[order])
