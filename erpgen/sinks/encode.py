"""Column batches (see sinks.base) turned into what each bulk path takes: the text of PostgreSQL's COPY
and MySQL's LOAD DATA (tab-separated, \\N for NULL, backslash escapes), CSV lines, and Python values for
executemany. Dates become ISO text, cents become '12.50'.

Everything works column by column on numpy arrays; the fact table's lines are written as fixed-width
byte matrices, so that no value is formatted or joined on its own.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Date, DateTime

from erpgen.dates import EPOCH, known
from erpgen.schema import TABLES
from erpgen.simulation.times import SECONDS_PER_DAY
from erpgen.sinks.base import Batch
from erpgen.tables import (
    INVOICE_ID_WIDTH,
    ORDER_ID_WIDTH,
    batch_invoice_ids,
    batch_order_ids,
    batch_return_reasons,
    digits,
)

_BY_NAME = {t.name: t for t in TABLES}


class IsoDates:
    """Day number -> 'YYYY-MM-DD' through a lookup table (far cheaper than formatting every row)."""

    def __init__(self) -> None:
        self._start = 0
        self._table: np.ndarray = np.zeros(0, dtype=object)

    def __call__(self, days: np.ndarray) -> np.ndarray:
        if len(days) == 0:
            return np.zeros(0, dtype=object)
        lo, hi = int(days.min()), int(days.max())
        if lo < self._start or hi >= self._start + len(self._table):
            start = min(lo, self._start) if len(self._table) else lo
            end = max(hi + 1, self._start + len(self._table))
            dates = EPOCH + np.arange(start, end).astype("timedelta64[D]")
            self._start, self._table = start, np.datetime_as_string(dates).astype(object)
        return self._table[days - self._start]


def cents_to_text(cents: np.ndarray) -> np.ndarray:
    """Integer cents -> '12.50' / '-3.05' as a bytes array: _cents_text's rows without their padding
    (a loop per row, for the small tables only; the fact table's prices go through fact_lines)."""
    return np.array([row[row != 0].tobytes() for row in _cents_text(cents)], dtype=bytes)


def units_to_text(units: np.ndarray, scale: int) -> list[str]:
    """Integer units of 10^-scale -> exact decimal text, '0.7912345678' (for the small tables: a value at
    a time)."""
    out = []
    for u in np.asarray(units, dtype=np.int64).tolist():
        whole, frac = divmod(abs(u), 10**scale)
        out.append(f"{'-' if u < 0 else ''}{whole}.{frac:0{scale}d}")
    return out


def table_rows(table: str, b: Batch, dates: IsoDates):
    """Rows of any table but the fact table as Python tuples in the schema's column order.

    Day numbers become ISO dates (NO_DAY: NULL), `unit_price_cents` becomes the text '12.50', and None
    stays NULL, so the same rows suit executemany, COPY text and CSV.
    """
    return zip(*table_columns(table, b, dates))


def table_columns(table: str, b: Batch, dates: IsoDates, *, money_as_float: bool = False) -> list[list]:
    """The values of table_rows, column by column; money (a NUMERIC(p, 2) in cents) as floats rather than
    exact text when `money_as_float`, for SQLite, which keeps a NUMERIC as a REAL either way and takes a
    float without parsing it (as its fact lines' revenue)."""
    columns = []
    for col in _BY_NAME[table].columns:
        cents = b.get(f"{col.name}_units") if money_as_float else None
        if cents is not None and col.type.scale == 2:
            columns.append((np.asarray(cents) / 100).tolist())
            continue
        values = _converted(col, b, dates, null=None)
        if values is None:
            v = b[col.name]
            values = v.tolist() if isinstance(v, np.ndarray) else v
        columns.append(values)
    return columns


def _converted(col, b: Batch, dates: IsoDates, null: str | None) -> list[str | None] | None:
    """The text of a column that the batch holds in another form: unit_price as `unit_price_cents`, a
    number as `<name>_units`, a date as day numbers (NO_DAY: NULL, written as `null`). None for a column the batch holds as it is."""
    if col.name == "unit_price" and "unit_price_cents" in b:
        return cents_to_text(np.asarray(b["unit_price_cents"])).astype("U").tolist()
    if f"{col.name}_units" in b:  # a NUMERIC(p, s) in integer units of 10^-s
        return units_to_text(np.asarray(b[f"{col.name}_units"]), col.type.scale)
    v = b.get(col.name)
    if _fixed_ascii(v):  # invoice ids, currency codes
        return v.astype("U").tolist()  # type: ignore[union-attr]
    if isinstance(col.type, DateTime) and _integers(v):  # seconds since 1970-01-01
        return moment_text(v, dates).view("S19").ravel().astype("U19").tolist()
    if isinstance(col.type, Date):
        days = np.asarray(b[col.name])
        dated = known(days)
        iso = dates(np.where(dated, days, 0))
        iso[~dated] = null
        return iso.tolist()
    return None


# the text format of PostgreSQL's COPY and MySQL's LOAD DATA: tab-separated, \N for NULL, backslash escapes
_TEXT_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _escaped_text(values) -> list[str]:
    """A text column for COPY text / LOAD DATA: NULL as \\N, escapes only when a value needs them (one
    scan of the joined column decides, so the common case costs no call per value)."""
    try:
        joined = "".join([x for x in values if x is not None])
    except TypeError:  # not all text (numbers, say): the general path
        joined = "\\"
    if any(ch in joined for ch in "\\\t\n\r"):
        return ["\\N" if x is None else str(x).translate(_TEXT_ESCAPES) for x in values]
    return ["\\N" if x is None else x for x in values]


def _integers(v) -> bool:
    return isinstance(v, np.ndarray) and v.dtype.kind in "iu"


def _fixed_ascii(v) -> bool:
    """A numpy bytes array ('S<n>'), as invoice ids and currency codes come."""
    return isinstance(v, np.ndarray) and v.dtype.kind == "S"


def _matrix(
    col, b: Batch, dates: IsoDates, null: bytes = b"\\N", unsafe: bytes = b"\\\t\n\r"
) -> np.ndarray | None:
    """A column as a byte matrix of text (zero bytes are padding), as fact_lines writes its fields; None
    for a column whose values need a value-by-value path (NULL text, text with a byte of `unsafe`, other
    scales). A NULL date reads `null`."""
    units = b.get(f"{col.name}_units")
    if units is not None:
        return _cents_text(units) if col.type.scale == 2 else None
    v = b.get(col.name)
    if _fixed_ascii(v):
        m = v.view(np.uint8).reshape(len(v), v.dtype.itemsize)  # type: ignore[union-attr]
        return None if np.isin(m, np.frombuffer(unsafe, dtype=np.uint8)).any() else m
    if not _integers(v):
        return None
    if isinstance(col.type, DateTime):
        return moment_text(v, dates)
    if isinstance(col.type, Date):
        dated = known(v)
        m = np.zeros((len(v), 10), dtype=np.uint8)
        m[dated] = dates(v[dated]).astype("S10").view(np.uint8).reshape(-1, 10)  # type: ignore[index]
        if null and not dated.all():
            m[~dated, : len(null)] = np.frombuffer(null, dtype=np.uint8)
        return m
    return _int_text(v)


def text_lines(table: str, b: Batch, dates: IsoDates) -> bytes:
    """Rows of any table but the fact table as tab-separated text lines (the values of table_rows), built
    column by column: one join per batch, not one call per row; a table whose every column is numbers,
    dates or fixed-width codes (invoices, orders, payments) as one byte matrix, as fact_lines does."""
    fast = matrix_lines(table, b, dates, b"\t", b"\\N", b"\\\t\n\r")
    if fast is not None:
        return fast
    columns = []
    for col in _BY_NAME[table].columns:
        values = _converted(col, b, dates, null="\\N")
        if values is None:
            v = b[col.name]
            integers = isinstance(v, np.ndarray) and v.dtype.kind in "iu"
            values = v.astype(str).tolist() if integers else _escaped_text(v)
        columns.append(values)
    if not columns[0]:
        return b""
    return ("\n".join(map("\t".join, zip(*columns))) + "\n").encode()


def matrix_lines(
    table: str, b: Batch, dates: IsoDates, sep: bytes, null: bytes, unsafe: bytes
) -> bytes | None:
    """Rows of a table whose every column is numbers, dates (NULL: `null`) or fixed-width codes with no
    byte of `unsafe`, as lines of `sep`-separated fields in one byte matrix; None for any other."""
    fast = [_matrix(col, b, dates, null, unsafe) for col in _BY_NAME[table].columns]
    if not fast or any(m is None for m in fast):
        return None
    n = len(fast[0])  # type: ignore[arg-type]
    if not n:
        return b""
    gap = np.broadcast_to(np.frombuffer(sep, dtype=np.uint8), (n, len(sep)))
    parts = [p for m in fast for p in (m, gap)]
    parts[-1] = np.full((n, 1), ord("\n"), dtype=np.uint8)
    matrix = np.concatenate(parts, axis=1)
    return matrix[matrix != 0].tobytes()


def fact_lines(b: Batch, dates: IsoDates, columns: tuple[str, ...], sep: bytes) -> bytes:
    """Lines of sales_transactions as delimited text, the given columns in order (NULL returned_line_id
    as \\N): LOAD DATA's text and the CSV export.

    Every field is written into fixed-width slots of one byte matrix, a row per line, numbers right-aligned
    after zero bytes; the zero bytes are then cut out in one pass. No per-value formatting or joining."""
    n = len(b["line_id"])
    if n == 0:
        return b""
    returned = np.asarray(b["returned_line_id"])
    fields = {
        "line_id": lambda: _int_text(b["line_id"]),
        "invoice_id": lambda: batch_invoice_ids(b).view(np.uint8).reshape(n, INVOICE_ID_WIDTH),
        "customer_id": lambda: _int_text(b["customer_id"]),
        "invoice_date": lambda: dates(b["invoice_date"]).astype("S10").view(np.uint8).reshape(n, 10),
        "product_id": lambda: _int_text(b["product_id"]),
        "quantity": lambda: _int_text(b["quantity"]),  # negative on credit notes
        "revenue": lambda: _cents_text(b["revenue_cents"]),
        "store_id": lambda: _int_text(b["store_id"]),
        "unit_price": lambda: _cents_text(b["unit_price_cents"]),
        "returned_line_id": lambda: _int_text(returned, null=returned <= 0),
        "invoiced_at": lambda: moment_text(b["invoiced_at"], dates),
        "order_id": lambda: batch_order_ids(b).view(np.uint8).reshape(n, ORDER_ID_WIDTH),
        "return_reason": lambda: _null_padded(batch_return_reasons(b)),
    }
    gap = np.frombuffer(sep, dtype=np.uint8)
    parts = []
    for k, name in enumerate(columns):
        if k:
            parts.append(np.broadcast_to(gap, (n, len(gap))))
        parts.append(fields[name]())
    parts.append(np.full((n, 1), ord("\n"), dtype=np.uint8))
    matrix = np.concatenate(parts, axis=1)
    return matrix[matrix != 0].tobytes()


def _null_padded(texts: np.ndarray) -> np.ndarray:
    """Fixed-width bytes (b'' for NULL) as a byte matrix of text, \\N where empty."""
    m = np.zeros((len(texts), texts.dtype.itemsize + 2), dtype=np.uint8)
    m[:, 2:] = texts.view(np.uint8).reshape(len(texts), texts.dtype.itemsize)
    empty = np.char.str_len(texts) == 0
    m[empty, :2] = np.frombuffer(b"\\N", dtype=np.uint8)
    return m


def moment_text(seconds, dates: IsoDates) -> np.ndarray:
    """Seconds since 1970-01-01 as 'YYYY-MM-DD HH:MM:SS': a (n, 19) byte matrix."""
    day, second = np.divmod(np.asarray(seconds, dtype=np.int64), SECONDS_PER_DAY)
    out = np.empty((len(day), 19), dtype=np.uint8)
    out[:, :10] = dates(day).astype("S10").view(np.uint8).reshape(-1, 10)
    out[:, 10] = ord(" ")
    hour, rest = np.divmod(second, 3600)
    for first, part in ((11, hour), (14, rest // 60), (17, rest % 60)):
        out[:, first : first + 2] = digits(part, 2)
    out[:, 13] = out[:, 16] = ord(":")
    return out


def _int_text(values, null: np.ndarray | None = None) -> np.ndarray:
    """Integers as decimal text, right-aligned in a byte matrix after zero bytes ('-' before the first
    digit); rows where `null` is set read \\N."""
    v = np.asarray(values, dtype=np.int64)
    a = np.abs(v)
    width = len(str(int(a.max()))) if len(a) else 1
    out = np.empty((len(v), width + 1), dtype=np.uint8)
    out[:, 1:] = digits(a, width)
    # leading zeros (all but the last digit) become padding, and the sign goes just before the number
    padding = np.cumsum(out[:, 1:] != ord("0"), axis=1) == 0
    padding[:, -1] = False
    out[:, 1:][padding] = 0
    out[:, 0] = 0
    negative = np.flatnonzero(v < 0)
    if len(negative):
        first = padding[negative].sum(axis=1)  # the sign's slot: just before the first digit
        out[negative, first] = ord("-")
    if null is not None and null.any():
        out[null] = 0
        out[null, -2:] = np.frombuffer(b"\\N", dtype=np.uint8)
    return out


def _cents_text(cents) -> np.ndarray:
    """Integer cents as '12.50' / '-3.05', in the matrix form of _int_text."""
    c = np.asarray(cents, dtype=np.int64)
    whole = _int_text(np.where(c < 0, -(np.abs(c) // 100), np.abs(c) // 100))
    # -0.05: the sign is lost on a whole part of 0, so it is put back by hand
    small_negative = np.flatnonzero((c < 0) & (np.abs(c) < 100))
    if len(small_negative):
        whole[small_negative, -2] = ord("-")
    frac = np.empty((len(c), 3), dtype=np.uint8)
    frac[:, 0] = ord(".")
    tens, ones = np.divmod(np.abs(c) % 100, 10)
    frac[:, 1], frac[:, 2] = tens + ord("0"), ones + ord("0")
    return np.concatenate([whole, frac], axis=1)
