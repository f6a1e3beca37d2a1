"""Parquet files, one per table, with the schema's columns and real types (date32, decimal128, int32/64).

Columns are built from the numpy batches without a Python loop over the fact rows, and each batch is
appended to the table's file as it arrives. Files are written under a scratch directory and moved into
place on commit, so the directory never holds a half-written export. With --engine dask the tables keyed
by customer are datasets instead, a directory of part files written by the workers (PartWriter), which
pyarrow.parquet.read_table reads whole. pyarrow is imported lazily: it is an optional dependency
(erpgen[parquet]).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from sqlalchemy import Table

from erpgen.errors import ConfigError
from erpgen.schema import CUSTOMER_TABLES, FACT, TABLES
from erpgen.scratch import discard, folder_beside
from erpgen.sinks.arrow import arrow_column, arrow_schema, record_batch
from erpgen.sinks.base import Batch, Sink

_BY_NAME = {t.name: t for t in TABLES}
# this process's folder; not the CSV sink's name: both may share one directory, and CSV's commit removes
# its own
SCRATCH = ".erpgen-parquet-*.partial"


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401  (loads the submodule)
    except ImportError:
        raise ConfigError("--parquet-dir needs pyarrow", "pip install 'erpgen[parquet]'") from None
    return pyarrow


class ParquetSink(Sink):
    def __init__(self, directory: Path):
        _pyarrow()  # fail before anything is simulated
        self.directory = directory
        self.from_workers = False  # the tables keyed by customer are datasets written by an engine's workers
        self.scratch = directory / SCRATCH.replace("*", str(os.getpid()))
        self.made_directory = False  # whether this run made the directory (begin)

    def describe(self) -> str:
        return f"{self.directory}/ (Parquet)"

    def begin(self) -> None:
        self.made_directory = not self.directory.exists()
        self.scratch = folder_beside(self.directory, SCRATCH, what="Parquet files", flag="--parquet-dir")

    def parallel_writer(self) -> PartWriter:
        """--engine dask: each table keyed by customer as a dataset written by the workers, a file per block
        (<table>/part-<block>.parquet; the fact table hive-partitioned by invoice year,
        sales_transactions/year=YYYY/part-<block>.parquet), in a directory they all can reach."""
        self.from_workers = True
        for table in CUSTOMER_TABLES:
            (self.scratch / table.name).mkdir()
        return PartWriter(str(self.scratch))

    @contextlib.contextmanager
    def table_writer(self, table: str) -> Iterator[object]:
        pa = _pyarrow()
        schema = arrow_schema(_BY_NAME[table])
        path = self.scratch / f"{table}.parquet"
        with pa.parquet.ParquetWriter(
            path, schema, use_dictionary=dictionary_columns(_BY_NAME[table])
        ) as writer:
            yield _ParquetWriter(writer, table, schema)

    def commit(self) -> None:
        for table in TABLES:
            # one layout per table: a file, or (from --engine dask's workers) a dataset directory
            name = table.name if self.from_workers and table in CUSTOMER_TABLES else f"{table.name}.parquet"
            for old in (self.directory / table.name, self.directory / f"{table.name}.parquet"):
                if old.is_dir():
                    shutil.rmtree(old)
                else:
                    old.unlink(missing_ok=True)
            os.replace(self.scratch / name, self.directory / name)
        shutil.rmtree(self.scratch, ignore_errors=True)

    def abort(self) -> None:
        discard(self.scratch, made_directory=self.made_directory)


class _ParquetWriter:
    def __init__(self, writer, table: str, schema):
        self.writer, self.table, self.schema = writer, table, schema

    def write(self, b: Batch) -> None:
        self.writer.write_batch(record_batch(_BY_NAME[self.table], b, self.schema))


class PartWriter:
    """Runs on a Dask worker: one block's rows of a table keyed by customer as one file, in key order (the
    fact table's as one file per invoice year, in line order)."""

    def __init__(self, root: str):
        self.root = root

    def write(self, table: str, b: Batch, block_no: int) -> None:
        pa = _pyarrow()
        t = _BY_NAME[table]
        schema = arrow_schema(t)
        arrays = [arrow_column(t, col.name, b, f.type) for col, f in zip(t.columns, schema)]
        folder = Path(self.root) / table
        if t is not FACT:
            pa.parquet.write_table(
                pa.Table.from_arrays(arrays, schema=schema),
                folder / f"part-{block_no:06d}.parquet",
                use_dictionary=dictionary_columns(t),
            )
            return
        days = np.asarray(b["invoice_date"], dtype=np.int64)
        years = days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
        # one gather into year order (stable: line order within a year), then a zero-copy slice per year
        order = np.argsort(years, kind="stable")
        lines = pa.Table.from_arrays(arrays, schema=schema).take(order)
        years = years[order]
        bounds = np.flatnonzero(np.r_[True, years[1:] != years[:-1], True])
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            (folder / f"year={years[lo]}").mkdir(exist_ok=True)
            pa.parquet.write_table(
                lines.slice(lo, hi - lo),
                folder / f"year={years[lo]}" / f"part-{block_no:06d}.parquet",
                use_dictionary=dictionary_columns(FACT),
            )


# Near-unique columns: a dictionary would only fill up and be dropped page after page (slower to write,
# and larger files).
_PLAIN = {"invoice_id", "returned_line_id", "email", "phone"}


def dictionary_columns(table: Table) -> list[str]:
    """The columns worth dictionary encoding: all but a one-column primary key and the near-unique ones."""
    key = [c.name for c in table.primary_key.columns]
    plain = _PLAIN | (set(key) if len(key) == 1 else set())
    return [c.name for c in table.columns if c.name not in plain]
