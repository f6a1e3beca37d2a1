"""Turning a simulated block into table rows.

Some columns are not simulated but derived from those that are: a fact line's invoice_id comes from its
customer_id and invoice_seq. They are made here, once per batch, for every target and the digest alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from erpgen.sinks.base import Batch

INVOICE_ID_WIDTH = 19  # 'INV-' + 8 digits + '-' + 6 digits


def batch_invoice_ids(b: Batch) -> np.ndarray:
    """invoice_ids of a batch of fact lines, made once and kept in the batch for the other sinks and the
    digest (the key `invoice_id`)."""
    ids = b.get("invoice_id")
    if ids is None:
        ids = b["invoice_id"] = invoice_ids(b["customer_id"], b["invoice_seq"], b["is_credit"])
    return ids  # type: ignore[return-value]


def invoice_ids(
    customer_id: np.ndarray, invoice_seq: np.ndarray, is_credit: np.ndarray | None = None
) -> np.ndarray:
    """'INV-<customer_id:08d>-<seq:06d>' (credit notes: 'CRN-...') as a fixed-width bytes array, written
    digit by digit into a byte matrix rather than formatted number by number."""
    chars = np.empty((len(customer_id), INVOICE_ID_WIDTH), dtype=np.uint8)
    chars[:, :4] = np.frombuffer(b"INV-", dtype=np.uint8)
    if is_credit is not None:
        chars[np.asarray(is_credit, dtype=bool), :3] = np.frombuffer(b"CRN", dtype=np.uint8)
    chars[:, 12] = ord("-")
    for number, first, width in ((customer_id, 4, 8), (invoice_seq, 13, 6)):
        number = np.asarray(number, dtype=np.int64)
        if len(number) and (number.min() < 0 or number.max() >= 10**width):
            raise ValueError(f"an invoice number part does not fit in {width} digits")
        chars[:, first : first + width] = digits(number, width)
    return chars.view(f"S{INVOICE_ID_WIDTH}").ravel()


def digits(values: np.ndarray, width: int) -> np.ndarray:
    """Non-negative integers as `width` ASCII digits each, zero-padded on the left: a (n, width) matrix."""
    out = np.empty((len(values), width), dtype=np.uint8)
    rest = values
    for position in range(width - 1, -1, -1):
        rest, digit = np.divmod(rest, 10)
        out[:, position] = digit + ord("0")
    return out
