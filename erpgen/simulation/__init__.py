"""The customer lifecycle simulation, vectorised over a block of customers.

Each customer has a home country and channel, a segment and its own rates:
  ONE_TIME    buys once and decides there and then never to come back;
  LOYAL       buys refills when the last ones run out;
  OCCASIONAL  buys at a personal rate, more in the scenario's peak months;
  B2B         a company reordering on a steady cycle, in bulk, at a standing discount.
Every repeat customer's frequency drifts up or down over the years, may pause in dormant spells and come
back, and leaves for good at its lost-decision date. Sales may come back as credit notes that reference
the line they return.

simulate_block (block.py) runs a block of customers through the stages, each a module that takes what it
needs and returns a small dataclass: traits -> purchase_days -> invoices -> lines -> prices -> returns ->
lifecycle -> times (of day); documents.py places the order-to-cash chain around each invoice, which
erpgen.tables turns into rows. The purchase days run a few days past the end, for the orders placed by
then and invoiced later (Model.lookahead). model.py holds what all blocks share, facts.py what a block gives back, plan.py how customers
are cut into blocks. Every draw is keyed by (customer, its own counters) (erpgen.rng), so a customer's
history never depends on its block.
"""

from erpgen.simulation.block import simulate_block
from erpgen.simulation.facts import (
    ACQUIRED,
    B2B,
    DORMANT,
    FIRST_PURCHASE,
    LOST,
    LOYAL,
    OCCASIONAL,
    ONE_TIME,
    REACTIVATED,
    BlockFacts,
    compact,
    lifecycle_only,
)
from erpgen.simulation.model import Model, Rates

__all__ = [
    "ACQUIRED",
    "B2B",
    "DORMANT",
    "FIRST_PURCHASE",
    "LOST",
    "LOYAL",
    "OCCASIONAL",
    "ONE_TIME",
    "REACTIVATED",
    "BlockFacts",
    "Model",
    "Rates",
    "compact",
    "lifecycle_only",
    "simulate_block",
]
