"""Delta Lake tables, one per erpgen table, typed like the Parquet export (sinks.arrow); the fact table
partitioned by invoice year (a `year` column, as Delta partitions by a column of the table).

Each table is one Delta commit, written by deltalake's write_deltalake from a stream of Arrow batches: a
thread runs the writer and takes the batches as the load hands them over, so the fact table is never
held whole. All tables are written under a scratch folder in the directory and moved into place on
commit, as the Parquet export's files are: a run that fails leaves the directory as it was, and a
reader opens each table whole, old or new. A table replaced by a new run starts a new history (version
0); the previous run's versions go with it.

Extended (append=True): each table the extension adds to is mirrored into the scratch folder by hard
links (Delta never writes a file of a table again: data files and log entries are only ever added, and
deltalake replaces _last_checkpoint by a rename), and gets one more commit there: an append of the new
rows (the fact table's go into their year= partitions, as new files); customer_lifecycle, whose later
truth is set on rows written before, gets one overwrite commit holding the whole (small) table instead.
On commit each mirrored table takes the place of the old one, its history carried on (version n + 1): a
failed or killed extension leaves the directory as it was. deltalake is imported lazily: it is an
optional dependency (erpgen[delta]).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from erpgen import runlog
from erpgen.errors import ConfigError
from erpgen.schema import FACT, TABLES
from erpgen.scratch import mirror
from erpgen.sinks.base import Batch
from erpgen.sinks.folder import FolderSink

_BY_NAME = {t.name: t for t in TABLES}
PARTITION = "year"  # of the fact table: the year of invoice_date
# the tables an extension overwrites (their later truth: lifecycle dates, where documents stand), each in
# one commit
REWRITTEN = ("customer_lifecycle", "sales_orders", "deliveries")
# batches waiting for the writer thread: enough to keep it busy, few enough to bound the memory
QUEUED = 4
STOP_WAIT_S = 30  # what a failed load waits for the writer thread to stop


def _deltalake():
    try:
        import deltalake
        import pyarrow  # noqa: F401  (the batches' form)
    except ImportError:
        raise ConfigError("--delta-dir needs deltalake", "pip install 'erpgen[delta]'") from None
    return deltalake


def delta_schema(table):
    """The Arrow schema of the Delta table: arrow_schema, and the fact table's partition column."""
    import pyarrow as pa

    from erpgen.sinks.arrow import arrow_schema

    schema = arrow_schema(table)
    return schema.append(pa.field(PARTITION, pa.int32(), nullable=False)) if table is FACT else schema


class DeltaSink(FolderSink):
    SCRATCH = ".erpgen-delta-*.partial"
    KIND, FLAG = "Delta", "--delta-dir"

    def __init__(self, directory: Path, *, append: bool = False):
        _deltalake()  # fail before anything is simulated
        super().__init__(directory, append=append)
        self.written: set[str] = set()  # the tables this run has put in the scratch folder
        # an extension's new rows of the tables it overwrites (Arrow), and their updates, by table
        self.new_rows: dict[str, list] = {table: [] for table in REWRITTEN}
        self.updates: dict[str, list[Batch]] = {}

    def run_record(self) -> dict | None:
        """The latest completed record in the erpgen_runs table (before begin() too: a read)."""
        deltalake = _deltalake()
        path = self.directory / "erpgen_runs"
        if not (path / "_delta_log").is_dir():
            return None
        return runlog.latest_of(deltalake.DeltaTable(str(path)).to_pyarrow_table().to_pylist())

    def content_digests(self) -> dict[str, str]:
        from erpgen.digest import delta_digests

        return delta_digests(self.directory)

    def update_rows(self, table: str, batch: Batch) -> None:
        """Kept until commit, when the table's overwrite commit carries them."""
        assert table in REWRITTEN, table
        self.updates.setdefault(table, []).append(batch)

    @contextlib.contextmanager
    def table_writer(self, table: str) -> Iterator[object]:
        self.written.add(table)
        place = self.scratch / table
        if self.append and (self.directory / table).is_dir():
            mirror(self.directory / table, place)
            if table in REWRITTEN:
                yield _Kept(self.new_rows[table], _BY_NAME[table])
                return
            writer = _DeltaWriter(place, _BY_NAME[table], mode="append")
        else:
            writer = _DeltaWriter(place, _BY_NAME[table])
        try:
            yield writer
        except BaseException:
            writer.close(failed=True)
            raise
        writer.close(failed=False)

    def _overwrite(self, name: str) -> None:
        """A table as it is now, with the truth learnt and the new rows: one overwrite commit."""
        import pyarrow as pa

        from erpgen.sinks.arrow import arrow_schema, joined, with_updates

        deltalake, table = _deltalake(), _BY_NAME[name]
        place = self.scratch / name
        data = deltalake.DeltaTable(str(place)).to_pyarrow_table().select([c.name for c in table.columns])
        if self.updates.get(name):
            updated = with_updates(table, data, joined(self.updates[name]))
            data = data if updated is None else updated
        schema = arrow_schema(table)
        whole = pa.concat_tables(
            [data.cast(schema), *(pa.Table.from_batches([b], schema=schema) for b in self.new_rows[name])]
        )
        deltalake.write_deltalake(str(place), whole, mode="overwrite")

    def commit(self) -> None:
        for name in REWRITTEN:
            if self.append and name in self.written:
                self._overwrite(name)
        for table in TABLES:
            if table.name not in self.written:
                continue
            place, old = self.directory / table.name, self.scratch / f"{table.name}.old"
            if place.is_dir():
                os.replace(place, old)  # moved aside, not deleted, so the new one takes its place at once
            elif place.exists():
                place.unlink()
            os.replace(self.scratch / table.name, place)
        self._committed()


class _Kept:
    """An extension's new customer_lifecycle rows, kept (as Arrow) for the table's overwrite commit."""

    def __init__(self, rows: list, table):
        self.rows, self.table = rows, table

    def write(self, b: Batch) -> None:
        from erpgen.sinks.arrow import record_batch

        self.rows.append(record_batch(self.table, b))


_END = object()


class _DeltaWriter:
    """Batches in, one Delta commit out: write_deltalake runs on a thread and reads the batches from a
    queue as a RecordBatchReader."""

    def __init__(self, path: Path, table, *, mode: str = "error"):
        import pyarrow as pa

        self.table, self.schema = table, delta_schema(table)
        if mode == "append":  # the table's own types (Delta keeps timestamps in microseconds)
            self.schema = pa.schema(_deltalake().DeltaTable(str(path)).schema().to_arrow())
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUED)
        self.error: BaseException | None = None
        reader = pa.RecordBatchReader.from_batches(self.schema, self._batches())
        partition = [PARTITION] if table is FACT else None
        self.thread = threading.Thread(
            target=self._write,
            args=(str(path), reader, partition, mode),
            name=f"delta-{table.name}",
            daemon=True,
        )
        self.thread.start()

    def _batches(self):
        while (batch := self.queue.get()) is not _END:
            if isinstance(batch, BaseException):
                raise batch  # the load failed: the writer stops, and the table is never committed
            yield batch

    def _write(self, path: str, reader, partition, mode: str) -> None:
        try:
            _deltalake().write_deltalake(path, reader, partition_by=partition, mode=mode)
        except BaseException as exc:  # handed to the loading thread
            self.error = exc

    def _put(self, item) -> None:
        while self.thread.is_alive():
            with contextlib.suppress(queue.Full):
                self.queue.put(item, timeout=0.5)
                return
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error
        raise RuntimeError("the Delta writer stopped early")

    def write(self, b: Batch) -> None:
        import pyarrow as pa

        from erpgen.sinks.arrow import record_batch

        batch = record_batch(self.table, b)
        if not batch.num_rows:
            return
        if self.table is FACT:
            days = np.asarray(b["invoice_date"], dtype=np.int64)
            years = days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int32) + 1970
            batch = batch.append_column(self.schema.field(PARTITION), pa.array(years, type=pa.int32()))
        self._put(batch.cast(self.schema))

    def close(self, *, failed: bool) -> None:
        if failed:
            with contextlib.suppress(BaseException):
                self._put(RuntimeError("the load failed"))
            # bounded: a second interruption may have kept the stop from reaching the thread, which then
            # waits on the queue (a daemon, it ends with the process; its files go with the scratch folder)
            self.thread.join(timeout=STOP_WAIT_S)
            return
        self._put(_END)
        self.thread.join()
        if self.error is not None:
            self._raise()
