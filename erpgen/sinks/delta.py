"""Delta Lake tables, one per erpgen table, typed like the Parquet export (sinks.arrow); the fact table
partitioned by invoice year (a `year` column, as Delta partitions by a column of the table).

Each table is one Delta commit, written by deltalake's write_deltalake from a stream of Arrow batches: a
thread runs the writer and takes the batches as the load hands them over, so the fact table is never
held whole. All tables are written under a scratch folder in the directory and moved into place on
commit, as the Parquet export's files are: a run that fails leaves the directory as it was, and a
reader opens each table whole, old or new. A table replaced by a new run starts a new history (version
0); the previous run's versions go with it. deltalake is imported lazily: it is an optional dependency
(erpgen[delta]).
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from erpgen.errors import ConfigError
from erpgen.schema import FACT, TABLES
from erpgen.scratch import discard, folder_beside
from erpgen.sinks.base import Batch, Sink

_BY_NAME = {t.name: t for t in TABLES}
SCRATCH = ".erpgen-delta-*.partial"
PARTITION = "year"  # of the fact table: the year of invoice_date
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


class DeltaSink(Sink):
    def __init__(self, directory: Path):
        _deltalake()  # fail before anything is simulated
        self.directory = directory
        self.scratch = directory / SCRATCH.replace("*", str(os.getpid()))
        self.made_directory = False

    def describe(self) -> str:
        return f"{self.directory}/ (Delta)"

    def begin(self) -> None:
        self.made_directory = not self.directory.exists()
        self.scratch = folder_beside(self.directory, SCRATCH, what="Delta tables", flag="--delta-dir")

    @contextlib.contextmanager
    def table_writer(self, table: str) -> Iterator[_DeltaWriter]:
        writer = _DeltaWriter(self.scratch / table, _BY_NAME[table])
        try:
            yield writer
        except BaseException:
            writer.close(failed=True)
            raise
        writer.close(failed=False)

    def commit(self) -> None:
        for table in TABLES:
            place, old = self.directory / table.name, self.scratch / f"{table.name}.old"
            if place.is_dir():
                os.replace(place, old)  # moved aside, not deleted, so the new one takes its place at once
            elif place.exists():
                place.unlink()
            os.replace(self.scratch / table.name, place)
        shutil.rmtree(self.scratch, ignore_errors=True)

    def abort(self) -> None:
        discard(self.scratch, made_directory=self.made_directory)


_END = object()


class _DeltaWriter:
    """Batches in, one Delta commit out: write_deltalake runs on a thread and reads the batches from a
    queue as a RecordBatchReader."""

    def __init__(self, path: Path, table):
        import pyarrow as pa

        self.table, self.schema = table, delta_schema(table)
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUED)
        self.error: BaseException | None = None
        reader = pa.RecordBatchReader.from_batches(self.schema, self._batches())
        partition = [PARTITION] if table is FACT else None
        self.thread = threading.Thread(
            target=self._write, args=(str(path), reader, partition), name=f"delta-{table.name}", daemon=True
        )
        self.thread.start()

    def _batches(self):
        while (batch := self.queue.get()) is not _END:
            if isinstance(batch, BaseException):
                raise batch  # the load failed: the writer stops, and the table is never committed
            yield batch

    def _write(self, path: str, reader, partition) -> None:
        try:
            _deltalake().write_deltalake(path, reader, partition_by=partition, mode="error")
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
        self._put(batch)

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
