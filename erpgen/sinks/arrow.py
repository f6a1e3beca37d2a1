"""Batches (sinks.base) as Arrow columns with the schema's real types (date32, decimal128, int16/32/64,
timestamp): what the Parquet export writes and what the DuckDB and Delta targets take. Columns are built
from the numpy batches without a Python loop over the fact rows. pyarrow is imported by the caller, which
says which extra to install when it is missing.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import BigInteger, Date, DateTime, Integer, Numeric, SmallInteger, Table

from erpgen.dates import NO_DAY, known
from erpgen.schema import FACT
from erpgen.sinks.base import Batch
from erpgen.tables import batch_invoice_ids, batch_order_ids, batch_return_reasons


def record_batch(table: Table, b: Batch, schema=None):
    """The batch as an Arrow RecordBatch of `table` (schema: arrow_schema(table), when the caller has it)."""
    import pyarrow as pa

    schema = schema if schema is not None else arrow_schema(table)
    arrays = [arrow_column(table, col.name, b, f.type) for col, f in zip(table.columns, schema)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def arrow_schema(table: Table):
    """The Arrow schema of an erpgen table: its columns in order, typed after the SQLAlchemy types."""
    import pyarrow as pa

    fields = []
    for col in table.columns:
        t = col.type
        if isinstance(t, BigInteger):  # before Integer: BigInteger and SmallInteger are Integers too
            typ = pa.int64()
        elif isinstance(t, SmallInteger):
            typ = pa.int16()
        elif isinstance(t, Integer):
            typ = pa.int32()
        elif isinstance(t, Numeric):
            typ = pa.decimal128(t.precision, t.scale)
        elif isinstance(t, Date):
            typ = pa.date32()
        elif isinstance(t, DateTime):
            typ = pa.timestamp("s")  # Parquet has no seconds unit: the file holds (exact) milliseconds
        else:
            typ = pa.string()
        fields.append(pa.field(col.name, typ, nullable=col.nullable))
    return pa.schema(fields)


def arrow_column(table: Table, name: str, b: Batch, typ):
    """One Arrow column from the batch; what the batch holds for it is documented in sinks.base."""
    import pyarrow as pa

    if table is FACT and name == "invoice_id":
        return _fixed_width_strings(pa, batch_invoice_ids(b))
    if table is FACT and name == "order_id":
        return _fixed_width_strings(pa, batch_order_ids(b))
    if table is FACT and name == "return_reason":  # b'': a sale's, NULL
        reasons = batch_return_reasons(b)
        return pa.array(reasons.astype("U"), type=typ, mask=np.char.str_len(reasons) == 0)
    values = b.get(name)
    if pa.types.is_timestamp(typ) and isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        # seconds since 1970-01-01 (invoiced_at), as timestamp[s] stores them
        return pa.array(values.astype(np.int64)).view(typ)
    if isinstance(values, np.ndarray) and values.dtype.kind == "S":  # invoice ids, currency codes
        full = len(values) == 0 or int(np.char.str_len(values).min()) == values.dtype.itemsize
        return _fixed_width_strings(pa, values) if full else pa.array(values.astype("U"), type=typ)
    if table is FACT and name == "returned_line_id":  # 0: a sale, which gives nothing back
        ids = np.asarray(b[name], dtype=np.int64)
        return pa.array(ids, type=typ, mask=ids == 0)
    if pa.types.is_decimal(typ):
        # money arrives in cents (`<name>_cents`), rates in units of the column's scale (`<name>_units`),
        # quantities as whole units
        if f"{name}_units" in b:
            units = np.asarray(b[f"{name}_units"], dtype=np.int64)
        elif f"{name}_cents" in b:
            units = np.asarray(b[f"{name}_cents"], dtype=np.int64) * 10 ** (typ.scale - 2)
        else:
            units = np.asarray(b[name], dtype=np.int64) * 10**typ.scale
        return _decimals(pa, units, typ)
    if pa.types.is_date32(typ):  # days since 1970-01-01, as date32 stores them; NO_DAY: NULL
        days = np.asarray(b[name], dtype=np.int32)
        return pa.array(days, type=pa.int32(), mask=~known(days)).view(typ)
    if pa.types.is_timestamp(typ):  # 'YYYY-MM-DD HH:MM:SS', which Arrow parses
        return pa.array(b[name], type=pa.string()).cast(typ)
    return pa.array(b[name], type=typ)  # integers (range-checked on the way down) and text (None: NULL)


def _decimals(pa, units: np.ndarray, typ):
    """Exact decimal128 from integer minor units: each value as a little-endian 128-bit two's complement
    (low word the value, high word its sign), which is Arrow's layout on the little-endian machines it
    supports, with no per-row Decimal objects."""
    words = np.empty((len(units), 2), dtype="<i8")
    words[:, 0] = units
    words[:, 1] = units >> 63
    return pa.Array.from_buffers(typ, len(units), [None, pa.py_buffer(words)])


def _fixed_width_strings(pa, values: np.ndarray):
    """A numpy 'S<n>' array of ASCII values that all fill n bytes (as invoice ids do) -> Arrow strings
    over the same bytes: only the offsets are new."""
    width = values.dtype.itemsize
    offsets = np.arange(0, (len(values) + 1) * width, width, dtype=np.int32)
    data = pa.py_buffer(np.ascontiguousarray(values))
    return pa.Array.from_buffers(pa.string(), len(values), [None, pa.py_buffer(offsets), data])


def batch_of(table: Table, data) -> Batch:
    """An Arrow table of `table`'s integer, date and text columns back as a batch (sinks.base): what an
    extension rewrites of a file it updates (customer_lifecycle, sales_orders, deliveries). Dates become day
    numbers (NULL: NO_DAY), moments seconds since 1970-01-01."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out: Batch = {}
    for col in table.columns:
        values = data.column(col.name)
        if pa.types.is_date32(values.type):
            days = pc.fill_null(values.cast(pa.int32()), NO_DAY)
            out[col.name] = days.to_numpy().astype(np.int64)
        elif pa.types.is_integer(values.type) and not values.null_count:
            out[col.name] = values.to_numpy().astype(np.int64)
        elif pa.types.is_timestamp(values.type) and not values.null_count:  # seconds since 1970-01-01
            out[col.name] = values.cast(pa.timestamp("s")).cast(pa.int64()).to_numpy().astype(np.int64)
        elif pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            out[col.name] = values.to_pylist()
        else:
            raise TypeError(f"{table.name}.{col.name}: {values.type} is not read back into a batch")
    return out


def joined(batches: list[Batch]) -> Batch:
    """Batches of one table's same columns (numpy) as one."""
    return {name: np.concatenate([np.asarray(b[name]) for b in batches]) for name in batches[0]}


def with_updates(table: Table, data, update: Batch):
    """The Arrow table `data` of `table` with the update's columns (a batch whose first column is the key)
    set on the rows whose key it names; None when it names none of them."""
    import pyarrow as pa

    key, *columns = list(update)
    wanted = np.asarray(update[key])
    if wanted.dtype.kind == "S":  # fixed-width keys (order ids) against the file's strings
        wanted = wanted.astype("U")
    ids = data.column(key).to_numpy(zero_copy_only=False)
    if not len(wanted) or not len(ids):
        return None
    order = np.argsort(wanted, kind="stable")
    at = np.minimum(np.searchsorted(wanted, ids, sorter=order), len(order) - 1)
    hit = wanted[order[at]] == ids
    if not hit.any():
        return None
    b = batch_of(table, data)
    for name in columns:
        values = np.asarray(b[name], dtype=object if isinstance(b[name], list) else None).copy()
        new = np.asarray(update[name])
        values[hit] = (new.astype("U") if new.dtype.kind == "S" else new)[order[at[hit]]]
        b[name] = values
    schema = arrow_schema(table)
    return pa.Table.from_batches([record_batch(table, b, schema)], schema=schema)
