"""The vectorised text encoders, against lines written out by hand."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from erpgen.sinks.encode import IsoDates, fact_lines
from erpgen.tables import invoice_ids

COLUMNS = ("line_id", "invoice_id", "customer_id", "invoice_date", "product_id", "quantity", "revenue",
           "store_id", "unit_price", "returned_line_id")  # fmt: skip


def _day(text: str) -> int:
    return (dt.date.fromisoformat(text) - dt.date(1970, 1, 1)).days


def test_fact_lines_signs_nulls_and_widths():
    b = {
        "line_id": np.array([1, 1234567890123, 10]),
        "customer_id": np.array([1, 99_999_999, 10]),
        "invoice_seq": np.array([1, 999_999, 10]),
        "is_credit": np.array([False, True, True]),
        "invoice_date": np.array([_day("2015-01-01"), _day("2025-12-31"), _day("2020-02-29")]),
        "product_id": np.array([7, 120, 1]),
        "quantity": np.array([3, -2, -10]),
        "revenue_cents": np.array([1050, -5, -100]),
        "unit_price_cents": np.array([350, 101, 10]),
        "store_id": np.array([101, 102, 1001]),
        "returned_line_id": np.array([0, 1, 1234567890123]),
    }
    assert fact_lines(b, IsoDates(), COLUMNS, b",").decode().splitlines() == [
        "1,INV-00000001-000001,1,2015-01-01,7,3,10.50,101,3.50,\\N",
        "1234567890123,CRN-99999999-999999,99999999,2025-12-31,120,-2,-0.05,102,1.01,1",
        "10,CRN-00000010-000010,10,2020-02-29,1,-10,-1.00,1001,0.10,1234567890123",
    ]
    assert fact_lines(b, IsoDates(), ("quantity", "revenue"), b"\t") == b"3\t10.50\n-2\t-0.05\n-10\t-1.00\n"


def test_invoice_ids_are_fixed_width_and_refuse_what_does_not_fit():
    ids = invoice_ids(np.array([5, 12_345_678]), np.array([42, 7]), np.array([False, True]))
    assert ids.tolist() == [b"INV-00000005-000042", b"CRN-12345678-000007"]
    with pytest.raises(ValueError):  # a 9-digit customer id must not be cut to 8 digits
        invoice_ids(np.array([100_000_000]), np.array([1]))
