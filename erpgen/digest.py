"""Content digests: one SHA-256 per table over canonical text, equal whatever the target or format.

Canonical values: integers as digits, NUMERIC(p, s) with exactly s decimals, dates ISO, text as is,
NULL as the empty string (as in the CSV files). Rows are taken in primary-key order.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Date, Integer, Numeric
from sqlalchemy.engine import Connection

from erpgen.schema import SEED_COLUMNS, TABLES

_BY_NAME = {t.name: t for t in TABLES}


def _canon(column, value) -> str:
    if value is None or value == "":
        return ""
    t = column.type
    if isinstance(t, Numeric) and not isinstance(t, Integer):
        return str(Decimal(str(value)).quantize(Decimal(1).scaleb(-(t.scale or 0))))
    if isinstance(t, Integer):
        return str(int(value))
    if isinstance(t, Date):
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    return str(value)


def _digest(table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> str:
    cols = [_BY_NAME[table].c[name] for name in columns]
    h = hashlib.sha256((table + "\x1e" + "\x1f".join(columns) + "\n").encode())
    for row in rows:
        h.update(("\x1f".join(_canon(c, v) for c, v in zip(cols, row)) + "\n").encode())
    return h.hexdigest()


def database_digests(conn: Connection, *, seed_columns_only: bool = False) -> dict[str, str]:
    """Digest of every erpgen table in the connected database."""
    out = {}
    for table in TABLES:
        if table.name == "erpgen_runs":  # when and by which version, not what
            continue
        if seed_columns_only and table.name not in SEED_COLUMNS:
            continue
        columns = SEED_COLUMNS[table.name] if seed_columns_only else tuple(c.name for c in table.columns)
        order = ", ".join(c.name for c in table.primary_key.columns)
        sql = f"SELECT {', '.join(columns)} FROM {table.name} ORDER BY {order}"
        # per statement: Connection.execution_options() would change the connection for good
        result = conn.exec_driver_sql(sql, execution_options={"stream_results": True, "yield_per": 50_000})
        out[table.name] = _digest(table.name, columns, result)
    return out


def csv_digests(directory: str | Path) -> dict[str, str]:
    """Digest of the CSV export, comparable with database_digests(seed_columns_only=True)."""
    out = {}
    for table, columns in SEED_COLUMNS.items():
        with open(Path(directory) / f"{table}.csv", newline="") as f:
            reader = csv.reader(f)
            header = tuple(next(reader))
            if header != columns:
                raise ValueError(f"{table}.csv has columns {header}, expected {columns}")
            out[table] = _digest(table, columns, reader)
    return out


def parquet_digests(directory: str | Path) -> dict[str, str]:
    """Digest of the Parquet export, comparable with database_digests(conn): the files hold every column,
    rows in primary-key order."""
    import pyarrow.parquet as pq

    out = {}
    for table in TABLES:
        if table.name == "erpgen_runs":  # as in database_digests
            continue
        columns = tuple(c.name for c in table.columns)
        data = pq.read_table(Path(directory) / f"{table.name}.parquet")
        if tuple(data.column_names) != columns:
            raise ValueError(f"{table.name}.parquet has columns {data.column_names}, expected {columns}")
        out[table.name] = _digest(table.name, columns, zip(*(c.to_pylist() for c in data.columns)))
    return out


class LoadDigests:
    """The digests of what a load writes, computed from the batches on their way to the sinks.

    It produces exactly the bytes database_digests reads back (same canonical text, same row order),
    so `erpgen verify` can recompute the digest from the database and compare. The fact table's text
    is built column-wise with numpy; the smaller tables go row by row.
    """

    def __init__(self) -> None:
        from erpgen.sinks.base import IsoDates

        self.dates = IsoDates()
        self._hashers: dict[str, hashlib._Hash] = {}

    def describe(self) -> str:
        return "digest"

    def begin(self) -> None:
        pass

    def commit(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def digests(self) -> dict[str, str]:
        return {name: h.hexdigest() for name, h in self._hashers.items()}

    @contextlib.contextmanager
    def table_writer(self, table: str):
        if table == "erpgen_runs":  # not content (see database_digests)
            yield self
            return
        columns = tuple(c.name for c in _BY_NAME[table].columns)
        h = self._hashers[table] = hashlib.sha256((table + "\x1e" + "\x1f".join(columns) + "\n").encode())
        yield _DigestWriter(h, table, self.dates)

    def write(self, batch) -> None:  # the erpgen_runs writer
        pass


class _DigestWriter:
    def __init__(self, h, table: str, dates) -> None:
        self.h, self.table, self.dates = h, table, dates

    def write(self, b) -> None:
        from erpgen.sinks.base import table_rows

        if self.table == "sales_transactions":
            self.h.update(_fact_text(b, self.dates))
            return
        text = "".join(
            "\x1f".join("" if v is None else str(v) for v in row) + "\n"
            for row in table_rows(self.table, b, self.dates)
        )
        self.h.update(text.encode())


def _fact_text(b, dates) -> bytes:
    """sales_transactions rows as database_digests canonicalises them, built column-wise."""
    import numpy as np

    from erpgen.sinks.base import cents_to_text, invoice_ids

    if len(b["line_id"]) == 0:
        return b""
    quantity = np.asarray(b["quantity"])
    returned = np.asarray(b["returned_line_id"])
    parts = [
        b["line_id"].astype("S20"),
        invoice_ids(b["customer_id"], b["invoice_seq"], b["is_credit"]),
        b["customer_id"].astype("S20"),
        dates(b["invoice_date"]).astype("S10"),
        b["product_id"].astype("S20"),
        np.strings.add(quantity.astype("S20"), b".000"),  # NUMERIC(12, 3) of whole units
        cents_to_text(np.asarray(b["revenue_cents"])),
        b["store_id"].astype("S20"),
        cents_to_text(np.asarray(b["unit_price_cents"])),
        np.where(returned > 0, returned.astype("S20"), b""),
    ]
    line = parts[0]
    for p in parts[1:]:
        line = np.strings.add(np.strings.add(line, b"\x1f"), p)
    return b"\n".join(line.tolist()) + b"\n"
