"""CSV files with exactly the seed README's columns: products.csv, customers.csv, sales_transactions.csv;
the order-to-cash documents with all their columns: invoices.csv, sales_orders.csv, deliveries.csv,
payments.csv; and erpgen_runs.csv, the run record (every column of erpgen_runs), which `erpgen extend`
reads the scenario, seed and parameters from.

ISO dates, empty fields for missing values, revenue with two decimals. Files are written under a scratch
directory and moved into place on commit, so the directory never holds a half-written export.

Extended (append=True): the files that grow (customers.csv, sales_transactions.csv, erpgen_runs.csv) are
copied into the scratch directory (a copy_file_range copy, which shares the blocks where the file system
can), the new rows appended to the copies, and the copies moved into place on commit: a failed or killed
extension leaves the files as they were, and the rows of a file are its old rows, byte for byte, then the
new ones. CSV holds no lifecycle table; what an extension learns of documents written before (an order's
status, a delivery's day) is set in the copies of sales_orders.csv and deliveries.csv before they move.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from sqlalchemy import Date, DateTime, Integer

from erpgen import runlog
from erpgen.dates import known
from erpgen.schema import SEED_COLUMNS, TABLES, erpgen_runs
from erpgen.sinks.base import Batch
from erpgen.sinks.encode import IsoDates, fact_lines, matrix_lines, table_rows
from erpgen.sinks.folder import FolderSink

# the order-to-cash documents (every column; the seed's three files keep exactly its columns)
DOCUMENT_FILES = ("invoices", "sales_orders", "deliveries", "payments")
FILES = {
    "products": "products.csv",
    "customers": "customers.csv",
    "sales_transactions": "sales_transactions.csv",
    **{table: f"{table}.csv" for table in DOCUMENT_FILES},
    "erpgen_runs": "erpgen_runs.csv",
}
COLUMNS = {
    **SEED_COLUMNS,
    **{
        t.name: tuple(c.name for c in t.columns) for t in TABLES if t.name in (*DOCUMENT_FILES, "erpgen_runs")
    },
}


class CsvSink(FolderSink):
    SCRATCH = ".erpgen-*.partial"  # this process's folder; files move out of it at commit
    KIND, FLAG = "CSV", "--csv-dir"

    tables = frozenset(FILES)  # the tables of the seed's CSV export, the files its users expect; the record

    def __init__(self, directory: Path, *, append: bool = False):
        super().__init__(directory, append=append)
        self.dates = IsoDates()
        self.written: list[str] = []  # the files of this run in the scratch directory
        self.updates: dict[str, list[Batch]] = {}

    def run_record(self) -> dict | None:
        """The latest completed record in erpgen_runs.csv (before begin() too: a file read)."""
        path = self.directory / FILES["erpgen_runs"]
        if not path.is_file():
            return None
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = tuple(next(reader, ()))
            if header != COLUMNS["erpgen_runs"]:
                return {"format_version": 1}  # a record this erpgen cannot read: not its format
            return runlog.latest_of([_typed_run(dict(zip(header, row))) for row in reader])

    def recomputed(self, record: dict) -> tuple[dict[str, str], dict[str, str]]:
        """Row counts, not digests: the record's digests cover every column of a table, and the files keep
        only the seed README's columns."""
        recorded = json.loads(record["row_counts"])
        tables = [t for t in FILES if t != "erpgen_runs"]
        actual = {}
        for table in tables:
            path = self.directory / FILES[table]
            with open(path, newline="", encoding="utf-8") as f:
                actual[table] = f"{sum(1 for _ in csv.reader(f)) - 1:,} rows"  # a field may hold a newline
        return {t: f"{recorded[t]:,} rows" for t in tables if t in recorded}, actual

    def update_rows(self, table: str, batch: Batch) -> None:
        """Kept until commit, when the file is written again once with every update (an extension's
        orders that moved on and deliveries that arrived: a few rows of files without a lifecycle table)."""
        self.updates.setdefault(table, []).append(batch)

    def _apply_updates(self) -> None:
        for table, batches in self.updates.items():
            path = self.scratch / FILES[table]
            columns = COLUMNS[table]
            changes: dict[str, dict[int, str]] = {}
            for batch in batches:
                key, *names = list(batch)
                texts = [_texts(batch[name], self.dates) for name in names]
                at = [columns.index(name) for name in names]
                for k, values in zip(_texts(batch[key], self.dates), zip(*texts)):
                    changes.setdefault(k, {}).update(zip(at, values))
            with open(path, newline="", encoding="utf-8") as f:
                rows = list(csv.reader(f))
            for row in rows[1:]:
                for k, v in changes.get(row[0], {}).items():
                    row[k] = v
            with open(path, "w", newline="", encoding="utf-8") as f:
                csv.writer(f, lineterminator="\n").writerows(rows)
        self.updates = {}

    @contextlib.contextmanager
    def table_writer(self, table: str) -> Iterator[object]:
        path = self.scratch / FILES[table]
        old = self.directory / FILES[table]
        if self.append and old.is_file():
            shutil.copyfile(old, path)
            mode = "ab"
        else:
            mode = "wb"
        with open(path, mode) as f:
            if mode == "wb":
                f.write((",".join(COLUMNS[table]) + "\n").encode())
            self.written.append(FILES[table])
            yield _CsvWriter(f, table, self.dates)

    def commit(self) -> None:
        if self.updates:
            self._apply_updates()
        for name in self.written:
            os.replace(self.scratch / name, self.directory / name)
        self._committed()


def _typed_run(row: dict[str, str]) -> dict:
    """A row of erpgen_runs.csv with the types a database returns (empty fields: NULL)."""
    out: dict = {}
    for col in erpgen_runs.columns:
        text = row[col.name]
        if text == "" and col.nullable:
            out[col.name] = None
        elif isinstance(col.type, Integer):
            out[col.name] = int(text)
        elif isinstance(col.type, Date):
            out[col.name] = dt.date.fromisoformat(text)
        elif isinstance(col.type, DateTime):
            out[col.name] = dt.datetime.fromisoformat(text)
        else:
            out[col.name] = text
    return out


def _texts(values, dates: IsoDates) -> list[str]:
    """A batch's column as CSV text: day numbers as ISO dates (NO_DAY: empty), bytes and text as they are."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        days = np.asarray(values, dtype=np.int64)
        iso = dates(np.where(known(days), days, 0)).tolist()
        return [d if ok else "" for d, ok in zip(iso, known(days).tolist())]
    return [v.decode() if isinstance(v, bytes) else ("" if v is None else str(v)) for v in values]


class _CsvWriter:
    def __init__(self, f, table: str, dates: IsoDates):
        self.f, self.table, self.dates = f, table, dates

    def write(self, b: Batch) -> None:
        if self.table == "sales_transactions":
            self.f.write(fact_lines(b, self.dates, SEED_COLUMNS["sales_transactions"], b","))
            return
        if self.table in DOCUMENT_FILES:  # ids, codes, numbers and dates: no field a CSV reader needs quoted
            fast = matrix_lines(self.table, b, self.dates, b",", b"", b',"\n\r')
            if fast is not None:
                self.f.write(fast)
                return
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        width = len(COLUMNS[self.table])  # the seed's columns come first in the schema
        for row in table_rows(self.table, b, self.dates):
            writer.writerow(["" if v is None else v for v in row[:width]])
        self.f.write(text.getvalue().encode())
