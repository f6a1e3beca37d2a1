"""CSV files with exactly the seed README's columns: products.csv, customers.csv, sales_transactions.csv.

ISO dates, empty fields for missing values, revenue with two decimals. Files are written under a scratch
directory and moved into place on commit, so the directory never holds a half-written export.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from erpgen.schema import SEED_COLUMNS
from erpgen.scratch import discard, folder_beside
from erpgen.sinks.base import Batch, Sink
from erpgen.sinks.encode import IsoDates, fact_lines, table_rows

SCRATCH = ".erpgen-*.partial"  # this process's folder; files move out of it at commit
FILES = {
    "products": "products.csv",
    "customers": "customers.csv",
    "sales_transactions": "sales_transactions.csv",
}


class CsvSink(Sink):
    tables = frozenset(FILES)  # the tables of the seed's CSV export, the files its users expect

    def __init__(self, directory: Path):
        self.directory = directory
        self.scratch = directory / SCRATCH.replace("*", str(os.getpid()))
        self.made_directory = False  # whether this run made the directory (begin)
        self.dates = IsoDates()

    def describe(self) -> str:
        return f"{self.directory}/ (CSV)"

    def begin(self) -> None:
        self.made_directory = not self.directory.exists()
        self.scratch = folder_beside(self.directory, SCRATCH, what="CSV files", flag="--csv-dir")

    @contextlib.contextmanager
    def table_writer(self, table: str) -> Iterator[object]:
        with open(self.scratch / FILES[table], "wb") as f:
            f.write((",".join(SEED_COLUMNS[table]) + "\n").encode())
            yield _CsvWriter(f, table, self.dates)

    def commit(self) -> None:
        for name in FILES.values():
            os.replace(self.scratch / name, self.directory / name)
        shutil.rmtree(self.scratch, ignore_errors=True)

    def abort(self) -> None:
        discard(self.scratch, made_directory=self.made_directory)


class _CsvWriter:
    def __init__(self, f, table: str, dates: IsoDates):
        self.f, self.table, self.dates = f, table, dates

    def write(self, b: Batch) -> None:
        if self.table == "sales_transactions":
            self.f.write(fact_lines(b, self.dates, SEED_COLUMNS["sales_transactions"], b","))
            return
        import io

        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        width = len(SEED_COLUMNS[self.table])  # the seed's columns come first in the schema
        for row in table_rows(self.table, b, self.dates):
            writer.writerow(["" if v is None else v for v in row[:width]])
        self.f.write(text.getvalue().encode())
