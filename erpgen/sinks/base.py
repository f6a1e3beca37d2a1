"""The sink interface and the column batches that flow into it.

A batch is some rows of one table: a dict of equally long columns named after the table's columns,
each a numpy integer array or a list (text, or any column that may hold None for NULL). A column holds
what the simulation computes in, which is not always the table's type:
  dates               days since 1970-01-01 (erpgen.dates), negative for NULL
  unit_price, revenue integer cents, under the names unit_price_cents and revenue_cents
  quantity            whole units
  returned_line_id    0 on a sale (NULL)
  invoice_id          absent: the fact table's batch has invoice_seq and is_credit, from which
                      erpgen.tables derives it (and keeps it in the batch under invoice_id)
  erpgen_runs' times  'YYYY-MM-DD HH:MM:SS' text
erpgen.sinks.encode turns batches into the text of the bulk paths (COPY, LOAD DATA, CSV, executemany).
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Protocol

Batch = dict[str, object]


class TableWriter(Protocol):
    def write(self, batch: Batch) -> None: ...


class Sink(ABC):
    """begin() -> table_writer(...) for each table, parents first -> commit(); abort() on any failure."""

    facts_on_workers = False  # set once worker_fact_writer() has handed the fact table to the workers
    # Whether the writing process should simulate fact blocks itself while it waits for the workers'. False
    # where another process does the heavy part of the writing (a database server): the writer then only
    # encodes, and a block it simulated would add its memory to the writer's for no gain in speed.
    writer_simulates = True

    @abstractmethod
    def describe(self) -> str:
        """Where the data goes, safe to print (no password)."""

    @abstractmethod
    def begin(self) -> None: ...

    @abstractmethod
    @contextlib.contextmanager
    def table_writer(self, table: str) -> Iterator[TableWriter]: ...

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def abort(self) -> None: ...

    def worker_fact_writer(self):
        """For --engine dask, after begin(): an erpgen.scaleout.WorkerFactWriter with which the cluster's
        workers write the fact table here in parallel (this sink then skips it), or None when this target
        takes one writer only and the client writes it as usual."""
        return None
