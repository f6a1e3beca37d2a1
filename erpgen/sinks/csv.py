"""CSV files with exactly the seed README's columns: products.csv, customers.csv, sales_transactions.csv;
and erpgen_runs.csv, the run record (every column of erpgen_runs), which `erpgen extend` reads the
scenario, seed and parameters from.

ISO dates, empty fields for missing values, revenue with two decimals. Files are written under a scratch
directory and moved into place on commit, so the directory never holds a half-written export.

Extended (append=True): the files that grow (customers.csv, sales_transactions.csv, erpgen_runs.csv) are
copied into the scratch directory (a copy_file_range copy, which shares the blocks where the file system
can), the new rows appended to the copies, and the copies moved into place on commit: a failed or killed
extension leaves the files as they were, and the rows of a file are its old rows, byte for byte, then the
new ones. CSV holds no lifecycle table, so nothing in it is rewritten.
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

from sqlalchemy import Date, DateTime, Integer

from erpgen import runlog
from erpgen.schema import SEED_COLUMNS, erpgen_runs
from erpgen.sinks.base import Batch
from erpgen.sinks.encode import IsoDates, fact_lines, table_rows
from erpgen.sinks.folder import FolderSink

FILES = {
    "products": "products.csv",
    "customers": "customers.csv",
    "sales_transactions": "sales_transactions.csv",
    "erpgen_runs": "erpgen_runs.csv",
}
COLUMNS = {**SEED_COLUMNS, "erpgen_runs": tuple(c.name for c in erpgen_runs.columns)}


class CsvSink(FolderSink):
    SCRATCH = ".erpgen-*.partial"  # this process's folder; files move out of it at commit
    KIND, FLAG = "CSV", "--csv-dir"

    tables = frozenset(FILES)  # the tables of the seed's CSV export, the files its users expect; the record

    def __init__(self, directory: Path, *, append: bool = False):
        super().__init__(directory, append=append)
        self.dates = IsoDates()
        self.written: list[str] = []  # the files of this run in the scratch directory

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
        raise NotImplementedError(f"a CSV export holds no {table}")  # it keeps no lifecycle table

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


class _CsvWriter:
    def __init__(self, f, table: str, dates: IsoDates):
        self.f, self.table, self.dates = f, table, dates

    def write(self, b: Batch) -> None:
        if self.table == "sales_transactions":
            self.f.write(fact_lines(b, self.dates, SEED_COLUMNS["sales_transactions"], b","))
            return
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        width = len(COLUMNS[self.table])  # the seed's columns come first in the schema
        for row in table_rows(self.table, b, self.dates):
            writer.writerow(["" if v is None else v for v in row[:width]])
        self.f.write(text.getvalue().encode())
