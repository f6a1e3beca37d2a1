"""The simulation (provisional: re-exports erpgen.behaviour until it is split into stages here)."""

from erpgen.behaviour import (  # noqa: F401
    B2B,
    DORMANT,
    LOST,
    LOYAL,
    OCCASIONAL,
    ONE_TIME,
    REACTIVATED,
    BlockFacts,
    Model,
    Rates,
    compact,
    lifecycle_only,
    simulate_block,
)  # fmt: skip
