"""Block -> table rows: what a simulated block (erpgen.simulation.BlockFacts) becomes in each table, as the
batches the sinks write (erpgen.sinks.base)."""

from __future__ import annotations

import numpy as np

from erpgen.simulation import BlockFacts


def fact_batch(f: BlockFacts, first_line_id: int) -> dict[str, np.ndarray]:
    """The block's lines as a sales_transactions batch, line ids from first_line_id."""
    n = len(f)
    return {
        "line_id": np.arange(first_line_id, first_line_id + n, dtype=np.int64),
        "customer_id": f.customer_id,
        "invoice_seq": f.invoice_seq,
        "is_credit": f.is_credit,
        "invoice_date": f.invoice_date,
        "product_id": f.product_id,
        "quantity": f.quantity,
        "unit_price_cents": f.unit_price_cents,
        "revenue_cents": f.revenue_cents,
        "store_id": f.store_id,
        "returned_line_id": np.where(f.returned >= 0, f.returned.astype(np.int64) + first_line_id, 0),
    }
