"""An extension's foreign keys, checked by erpgen instead of row by row by the server.

An extension adds a year of rows to tables that already hold ten. PostgreSQL (a superuser's session, past
the key triggers) and MariaDB/MySQL (foreign_key_checks off) can take them without looking each key up in
its parent; the sink then checks the keys of what it writes itself, as the keys require:
- those to the small parents (customers, products, stores, currencies), batch by batch, against the
  parent's keys read once and held in memory (with the customers the extension adds);
- those to the large ones (orders, invoices, the line a credit note gives back) only where the value is
  not among the keys the same transaction wrote to that parent (an extension's invoices mostly name its
  own orders, a payment its own invoice): the distinct values left, looked up by a query of the sink's
  own (Probe).
A value without its parent is an error in erpgen: the run fails and its transaction is rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Column

from erpgen.schema import FACT, TABLES
from erpgen.sinks.base import Batch
from erpgen.tables import batch_order_ids

_BY_NAME = {t.name: t for t in TABLES}
# the parents whose keys are held in memory: the masters, and the customers (integers: a few MB at a
# million); the documents' text keys, as many as the lines, are probed instead
HELD_PARENTS = frozenset({"customers", "products", "stores", "currencies"})
# the parents whose keys are probed, and their key columns
PROBED_PARENTS = {
    fk.column.table.name: fk.column.name
    for t in TABLES
    for fk in t.foreign_keys
    if fk.column.table.name not in HELD_PARENTS
}


def among(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Which `values` are among the sorted `keys`: a binary search each, where np.isin would sort both."""
    if not len(keys):
        return np.zeros(len(values), dtype=bool)
    return keys[np.minimum(np.searchsorted(keys, values), len(keys) - 1)] == values


class OwnKeys:
    """The keys one transaction wrote to the probed parents (the orders, invoices and fact lines): a value
    among them names a row that is there, so only the others need a probe."""

    def __init__(self) -> None:
        self.parts: dict[str, list[np.ndarray]] = {name: [] for name in PROBED_PARENTS}
        self.keys: dict[str, np.ndarray] = {}  # each table's parts merged, sorted, when last asked for

    def add(self, table: str, b: Batch) -> None:
        if table in self.parts:
            self.parts[table].append(np.asarray(b[PROBED_PARENTS[table]]))

    def others(self, table: str, values: np.ndarray) -> np.ndarray:
        """The `values` that are not among the keys written to `table`."""
        parts = self.parts.get(table)
        if parts:  # merged when asked for, not at every write
            merged = self.keys.get(table)
            self.keys[table] = np.sort(np.concatenate(([] if merged is None else [merged]) + parts))
            parts.clear()
        keys = self.keys.get(table)
        return values if keys is None else values[~among(values, keys)]


@dataclass(frozen=True)
class Probe:
    """The distinct `values` rows of `table` wrote to `child` that must be found in the key `parent`."""

    table: str
    child: str
    parent: Column
    values: np.ndarray

    def found(self, present) -> None:
        """Raise unless every value is among `present` (what the sink's query found of them)."""
        present = np.asarray(sorted(present), dtype=self.values.dtype)
        missing = self.values[~among(self.values, present)]
        if len(missing):
            broken(self.table, self.child, self.parent.table.name, missing[:5].tolist())


class WrittenKeys:
    """The foreign keys of the rows one writer of `table` writes: `held` (column -> (parent, its sorted
    keys)) checked batch by batch; `probed` (column -> the parent's key column) once the rows are in, over
    the distinct values written that are not among the keys the same transaction wrote to the parent
    (`own`, which also takes the keys of what this writer writes)."""

    def __init__(
        self, table: str, held: dict[str, tuple[str, np.ndarray]], probed: dict[str, Column], own: OwnKeys
    ):
        self.table, self.held, self.probed, self.own = table, held, probed, own
        self.seen: dict[str, list[np.ndarray]] = {child: [] for child in probed}

    @classmethod
    def of(cls, table: str, held_keys: dict[str, np.ndarray], own: OwnKeys) -> WrittenKeys:
        """The checker of `table`'s keys, given the held parents' keys by table."""
        held, probed = {}, {}
        for fk in sorted(_BY_NAME[table].foreign_key_constraints, key=lambda c: str(c.name)):
            (element,) = fk.elements
            child, parent = element.parent.name, element.column
            if parent.table.name in HELD_PARENTS:
                held[child] = (parent.table.name, held_keys[parent.table.name])
            else:
                probed[child] = parent
        return cls(table, held, probed, own)

    def check(self, b: Batch) -> None:
        for child, (parent, keys) in self.held.items():
            values = np.asarray(b[child])
            if values.dtype.kind == "S":  # codes as bytes; the keys read back are text
                values = values.astype(keys.dtype)
            missing = values[~among(values, keys)]
            if len(missing):
                broken(self.table, child, parent, missing[:5].tolist())
        for child, values in self.seen.items():
            values.append(key_values(self.table, b, child))
        self.own.add(self.table, b)

    def probes(self) -> list[Probe]:
        """What is left to look up, one Probe a key, its values taken now (the keys the transaction wrote
        to a parent are those written before this is asked)."""
        probes = []
        for child, parent in self.probed.items():
            if not self.seen[child]:
                continue
            values = np.unique(self.own.others(parent.table.name, np.concatenate(self.seen[child])))
            if len(values):
                probes.append(Probe(self.table, child, parent, values))
        return probes


class Collecting:
    """A table's writer that also keeps the values of one column of what it writes (the customers an
    extension adds, joined to the held keys for the rows that name them)."""

    def __init__(self, writer, column: str):
        self.writer, self.column = writer, column
        self.values: list[np.ndarray] = []

    def write(self, b: Batch) -> None:
        self.values.append(np.asarray(b[self.column]))
        self.writer.write(b)

    def joined(self, keys: np.ndarray) -> np.ndarray:
        """`keys` with the values written."""
        if not self.values:
            return keys
        return np.union1d(keys, np.concatenate(self.values).astype(keys.dtype))


def broken(table: str, child: str, parent: str, values: list) -> None:
    raise RuntimeError(f"erpgen produced {table} rows whose {child} names no row of {parent}: {values}")


def key_values(table: str, b: Batch, child: str) -> np.ndarray:
    """The values a batch writes to a key column, NULLs left out (a sale's returned_line_id is 0)."""
    values = batch_order_ids(b) if table == FACT.name and child == "order_id" else np.asarray(b[child])
    if values.dtype.kind in "iu":
        return values[values > 0]
    if values.dtype.kind == "S":
        return values[values != b""]
    return values
