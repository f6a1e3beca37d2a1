"""Parquet files with the schema's columns and real types (date32, decimal128, int32/64): the small tables
one file each (<table>.parquet), the tables keyed by customer and exchange_rates (the tables that grow)
a dataset directory each, which pyarrow.parquet.read_table (DuckDB, Spark, pandas) reads whole: <table>/part-<n>.parquet, and the fact
table hive-partitioned by invoice year, sales_transactions/year=YYYY/part-<n>.parquet. One layout for both
engines (--engine dask's workers write a part per block, PartWriter; the local engine one per table and
year), and the one an extension adds part files to (`erpgen extend`, below).

Columns are built from the numpy batches without a Python loop over the fact rows, and each batch is
appended to its file as it arrives. Files are written under a scratch directory and moved into place on
commit, so the directory never holds a half-written export.

Extended (append=True): each dataset directory is mirrored into the scratch folder by hard links (the
files are never written again, so the links share them safely) and the new rows go into new part files
there, part-run<run id>.parquet (a year that has lines already gets one more file in its year=
directory); only the customer_lifecycle parts holding customers whose later truth became known are
written again (as new files, in the mirror), and erpgen_runs.parquet, one small file, with the new
record added. On commit each mirrored directory takes the place of the old one: a failed or killed
extension leaves the directory as it was. pyarrow is imported lazily: it is an optional dependency
(erpgen[parquet]).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from sqlalchemy import Table

from erpgen import runlog
from erpgen.errors import ConfigError, TargetError
from erpgen.schema import CUSTOMER_TABLES, DATED_MASTERS, FACT, TABLES
from erpgen.scratch import mirror
from erpgen.sinks.arrow import arrow_column, arrow_schema, joined, record_batch, with_updates
from erpgen.sinks.base import Batch
from erpgen.sinks.folder import FolderSink

_BY_NAME = {t.name: t for t in TABLES}
# the tables written as dataset directories: those that grow, so that an extension adds files to them
DATASETS = frozenset(t.name for t in (*CUSTOMER_TABLES, *DATED_MASTERS))
LOCAL_PART = "part-000000.parquet"  # the local engine's one part per table (and year)
# rows of one invoice year gathered before they go to its file as a row group: the local engine's batches
# hold lines of every year, and a row group per batch and year would be small
YEAR_ROWS = 65_536
WAITING_ROWS = 2 * YEAR_ROWS  # rows of all years held back at most


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401  (loads the submodule)
    except ImportError:
        raise ConfigError("--parquet-dir needs pyarrow", "pip install 'erpgen[parquet]'") from None
    return pyarrow


class ParquetSink(FolderSink):
    # this process's folder; not the CSV sink's name: both may share one directory, and CSV's commit
    # removes its own
    SCRATCH = ".erpgen-parquet-*.partial"
    KIND, FLAG = "Parquet", "--parquet-dir"

    def __init__(self, directory: Path, *, append: bool = False):
        _pyarrow()  # fail before anything is simulated
        super().__init__(directory, append=append)
        self.written: set[str] = set()  # the tables this run has put in the scratch folder
        self.part = LOCAL_PART  # the name of the part files this run adds
        self.updates: dict[str, list[Batch]] = {}

    def parallel_writer(self) -> PartWriter:
        """--engine dask: each table keyed by customer as a dataset written by the workers, a file per block
        (<table>/part-<block>.parquet; the fact table by invoice year,
        sales_transactions/year=YYYY/part-<block>.parquet), in a directory they all can reach."""
        for table in CUSTOMER_TABLES:
            (self.scratch / table.name).mkdir()
            self.written.add(table.name)
        return PartWriter(str(self.scratch))

    # -- the record, and extending (ExtendableSink) ----------------------------------------------------
    def run_record(self) -> dict | None:
        """The latest completed record in erpgen_runs.parquet (before begin() too: a file read)."""
        pa = _pyarrow()
        path = self.directory / "erpgen_runs.parquet"
        if not path.is_file():
            return None
        if (self.directory / f"{FACT.name}.parquet").is_file():
            raise TargetError(
                f"{self.describe()} holds an export of an older erpgen (one file per table), which extend "
                "cannot add part files to",
                "generate it again with this erpgen",
            )
        runs = pa.parquet.read_table(path).to_pylist()
        record = runlog.latest_of(runs)
        if record is not None:
            self.part = f"part-run{record['run_id'] + 1:06d}.parquet"
        return record

    def content_digests(self) -> dict[str, str]:
        from erpgen.digest import parquet_digests

        return parquet_digests(self.directory)

    def update_rows(self, table: str, batch: Batch) -> None:
        """Kept until commit: the parts they touch are written again once, with every update."""
        self.updates.setdefault(table, []).append(batch)

    def _mirrored(self, table: str) -> Path:
        """The table's dataset directory in the scratch folder: the old one's files linked, on first use."""
        place = self.scratch / table
        if table not in self.written:
            self.written.add(table)
            if (self.directory / table).is_dir():
                mirror(self.directory / table, place)
            else:
                place.mkdir()
        return place

    def _apply_updates(self) -> None:
        for table, batches in self.updates.items():
            for part in sorted(self._mirrored(table).rglob("*.parquet")):
                _update_part(_BY_NAME[table], part, joined(batches))
        self.updates = {}

    # -- writing ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def table_writer(self, table: str) -> Iterator[object]:
        pa = _pyarrow()
        t = _BY_NAME[table]
        schema = arrow_schema(t)
        if table in DATASETS:
            folder = self._mirrored(table) if self.append else self.scratch / table
            folder.mkdir(exist_ok=True)
            self.written.add(table)
            if t is FACT:
                years = _YearParts(folder, self.part, schema)
                try:
                    yield years
                finally:
                    years.close()
                return
            path = folder / self.part
        else:
            path = self.scratch / f"{table}.parquet"
            self.written.add(table)
        kept = None
        if self.append and (self.directory / f"{table}.parquet").is_file():
            kept = pa.parquet.read_table(self.directory / f"{table}.parquet")  # erpgen_runs: a few rows
        with pa.parquet.ParquetWriter(path, schema, use_dictionary=dictionary_columns(t)) as writer:
            if kept is not None:
                writer.write_table(kept.cast(schema))
            yield _ParquetWriter(writer, table, schema)

    def commit(self) -> None:
        if self.updates:
            self._apply_updates()
        for table in TABLES:
            if table.name not in self.written:
                continue
            name = table.name if table.name in DATASETS else f"{table.name}.parquet"
            aside = self.scratch / f"{table.name}.old"
            # one layout per table: an older export's single file goes too
            for old in (self.directory / table.name, self.directory / f"{table.name}.parquet"):
                if old.is_dir():
                    os.replace(old, aside)  # moved aside, not deleted, so the new one takes its place at once
                else:
                    old.unlink(missing_ok=True)
            os.replace(self.scratch / name, self.directory / name)
        self._committed()


def _update_part(table: Table, part: Path, update: Batch) -> None:
    """Write `part` again, as a new file (the old one may be a link to the published one), with the
    update's columns set on the rows it names; untouched when it names none of its rows."""
    pa = _pyarrow()
    data = with_updates(table, pa.parquet.read_table(part), update)
    if data is None:
        return
    fresh = part.with_name(f".{part.name}.new")
    pa.parquet.write_table(data, fresh, use_dictionary=dictionary_columns(table))
    os.replace(fresh, part)  # the link in the mirror is replaced; the published file keeps its bytes


class _YearParts:
    """The fact lines of the local engine (or of an extension) as one part file per invoice year,
    year=YYYY/<part>, each year's lines in the order they arrive."""

    def __init__(self, folder: Path, part: str, schema):
        self.folder, self.part, self.schema = folder, part, schema
        self.writers: dict[int, object] = {}
        self.waiting: dict[int, list] = {}

    def write(self, b: Batch) -> None:
        pa = _pyarrow()
        lines = pa.Table.from_batches([record_batch(FACT, b, self.schema)])
        for year, rows in _by_year(np.asarray(b["invoice_date"], dtype=np.int64), lines):
            waiting = self.waiting.setdefault(year, [])
            waiting.append(rows)
            if sum(len(r) for r in waiting) >= YEAR_ROWS:
                self._flush(year)
        # Every year fills at once (lines come in customer order): held back to YEAR_ROWS each, a long range
        # would hold most of the table. Past WAITING_ROWS in all, the fullest year goes out as it is.
        while sum(len(r) for rows in self.waiting.values() for r in rows) > WAITING_ROWS:
            self._flush(max(self.waiting, key=lambda y: sum(len(r) for r in self.waiting[y])))

    def _flush(self, year: int) -> None:
        pa = _pyarrow()
        rows = self.waiting.pop(year, [])
        if not rows:
            return
        if year not in self.writers:
            (self.folder / f"year={year}").mkdir(exist_ok=True)
            self.writers[year] = pa.parquet.ParquetWriter(
                self.folder / f"year={year}" / self.part, self.schema, use_dictionary=dictionary_columns(FACT)
            )
        self.writers[year].write_table(pa.concat_tables(rows))  # type: ignore[attr-defined]

    def close(self) -> None:
        try:
            for year in list(self.waiting):
                self._flush(year)
        finally:
            for writer in self.writers.values():
                writer.close()  # type: ignore[attr-defined]


def _by_year(days: np.ndarray, lines) -> Iterator[tuple[int, object]]:
    """(year, its rows) of an Arrow table of fact lines, the lines' order kept within a year. Each year's
    rows are a copy of their own (a gather): a slice would keep the whole batch alive while its year
    waits, and the other years' rows with it."""
    years = days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    order = np.argsort(years, kind="stable")
    years_sorted = years[order]
    bounds = np.flatnonzero(np.r_[True, years_sorted[1:] != years_sorted[:-1], True])
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        yield int(years_sorted[lo]), lines.take(order[lo:hi])


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
        lines = pa.Table.from_arrays(arrays, schema=schema)
        for year, rows in _by_year(np.asarray(b["invoice_date"], dtype=np.int64), lines):
            (folder / f"year={year}").mkdir(exist_ok=True)
            pa.parquet.write_table(
                rows,
                folder / f"year={year}" / f"part-{block_no:06d}.parquet",
                use_dictionary=dictionary_columns(FACT),
            )


# Near-unique columns: a dictionary would only fill up and be dropped page after page (slower to write,
# and larger files).
_PLAIN = {"invoice_id", "order_id", "payment_id", "returned_line_id", "email", "phone"}


def dictionary_columns(table: Table) -> list[str]:
    """The columns worth dictionary encoding: all but a one-column primary key and the near-unique ones."""
    key = [c.name for c in table.primary_key.columns]
    plain = _PLAIN | (set(key) if len(key) == 1 else set())
    return [c.name for c in table.columns if c.name not in plain]
