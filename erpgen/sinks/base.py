"""The sink interface and the column batches that flow into it.

A batch is some rows of one table: a dict of equally long columns named after the table's columns,
each a numpy integer array or a list (text, or any column that may hold None for NULL). A column holds
what the simulation computes in, which is not always the table's type:
  dates               days since 1970-01-01 (erpgen.dates), dates.NO_DAY for NULL
  unit_price, revenue integer cents, under the names unit_price_cents and revenue_cents
  quantity            whole units
  invoiced_at         seconds since 1970-01-01 00:00:00
  exchange_rates.rate integer units of 10^-schema.RATE_SCALE, under the name rate_units
  returned_line_id    0 on a sale (NULL)
  invoice_id          absent: the fact table's batch has invoice_seq and is_credit, from which
                      erpgen.tables derives it (and keeps it in the batch under invoice_id)
  erpgen_runs' times  'YYYY-MM-DD HH:MM:SS' text
erpgen.sinks.encode turns batches into the text of the bulk paths (COPY, LOAD DATA, CSV, executemany).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from erpgen.schema import TABLES

Batch = dict[str, object]


class TableWriter(Protocol):
    def write(self, batch: Batch) -> None: ...


class ParallelWriter(Protocol):
    """Picklable: runs on an engine's worker and writes one block's rows of a table keyed by customer
    (schema.CUSTOMER_TABLES) to a target that takes parallel writers, one table at a time. `block_no`
    names the block (for file names); its fact lines already carry their final ids."""

    def write(self, table: str, batch: Batch, block_no: int) -> None: ...


class Sink(ABC):
    """One target of a run. The loader calls begin(), then table_writer(table) for each table in
    `tables`, parents first, then commit(); abort() on any failure, after which the target is as it was.

    What a sink may declare, for the engine and the loader to use (they never ask a sink what it is):
    - tables: the tables it keeps (the loader gives it no others);
    - offloads_writing: another process (a database server) does the heavy part of its writing, so the
      writing process has time to spare but should not spend memory on simulating;
    - parallel_writer(): it takes the tables keyed by customer from many workers at once;
    - resumable: it commits block by block and carries on an interrupted load (ResumableSink);
    - extendable: it adds to the dataset it holds in place (ExtendableSink).
    And what it learns once begun, for a message to name:
    - data_directory: where its database server keeps the data, if the server says (its disk is the
      one to look at when the server reports a full disk).
    """

    tables: frozenset[str] = frozenset(t.name for t in TABLES)
    offloads_writing = False
    resumable = False
    extendable = False
    data_directory: str | None = None

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

    def parallel_writer(self) -> ParallelWriter | None:
        """After begin(): a writer with which an engine's workers write the tables keyed by customer
        (schema.CUSTOMER_TABLES) here in parallel, or None when this target takes one writer only. Once it
        has handed one out, the loader asks it for no table_writer of those tables."""
        return None


class ResumableSink(Sink):
    """A sink that can commit a load block by block and carry it on after an interruption."""

    resumable = True

    @abstractmethod
    def interrupted_run(self) -> dict | None:
        """After begin(): the run record (erpgen_runs) of the interrupted load this one carries on, or
        None when it starts afresh."""

    @abstractmethod
    def checkpoint(self, *, blocks_done: int, next_line_id: int) -> None:
        """Record how far the load got and commit what is written so far."""

    @abstractmethod
    def complete(self) -> dict[str, int]:
        """Mark the load complete (row counts, digests read back), build its keys and commit: the rows
        per table."""


class ExtendableSink(Sink):
    """A target that holds a dataset and can add to it in place, in one transaction (`erpgen extend`):
    opened with append=True, begin() locks it against a second run and changes nothing yet."""

    extendable = True

    @abstractmethod
    def run_record(self) -> dict | None:
        """After begin(): the latest completed run record (erpgen.runlog), None when erpgen made no dataset
        here, {"format_version": 1} when its tables are at an older revision (before format_version)."""

    @abstractmethod
    def update_rows(self, table: str, batch: Batch) -> None:
        """Set the batch's columns on the rows of `table` whose key is the batch's first column."""

    def story_so_far(self, *, lost_from: dt.date, lines_till: dt.date) -> StorySoFar | None:
        """After begin(): what an extension reads here instead of simulating every customer again, or None
        when this target cannot say (it is then simulated whole)."""
        return None

    def lines_of(self, customers: np.ndarray, *, lines_from: dt.date, lines_till: dt.date) -> np.ndarray:
        """After begin(), where story_so_far() told a story: the ids of the fact lines of `customers` (sorted
        ids) dated lines_from..lines_till (not included), ordered by customer, then line id; with each
        line's customer, as a (2, n) array."""
        raise NotImplementedError

    def lines_of_later(
        self, customers: np.ndarray, *, lines_from: dt.date, lines_till: dt.date
    ) -> Callable[[], np.ndarray]:
        """lines_of, its answer when the returned function is called: a target that queues its statements
        (PostgreSQL's backlog) asks behind the rows queued before, and the caller goes on meanwhile."""
        found = self.lines_of(customers, lines_from=lines_from, lines_till=lines_till)
        return lambda: found


@dataclass(frozen=True)
class StorySoFar:
    """What a dataset holds that lets an extension simulate only the customers whose story goes on
    (erpgen.extension): read in the extension's transaction."""

    going_on: np.ndarray  # sorted ids of the customers in customer_lifecycle not lost before lost_from
    lines_before: int  # the fact lines dated before lines_till
