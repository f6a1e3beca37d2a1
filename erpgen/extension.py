"""`erpgen extend`: carry a dataset erpgen loaded on to a later day, in place, in one transaction.

Why any number of steps gives the same dataset (path independence):
- the model is the original run's, rebuilt from its record (scenario text, seed, parameters) and
  calibrated as that run was; only the horizon moves (Model.horizon). A customer's history is a function
  of (seed, customer, model) that a later horizon only carries on (tests/test_extend_model.py);
- customers 1..N were created within the original range; customer N+k comes after it, on the same
  acquisition curve carried on (customers.created_day): which customers exist by a day depends on the
  day alone;
- fact lines dated up to the original end keep the ids the load gave them (in customer order); every later
  line is numbered after them in the order of (day, customer, its place in the customer's history), so a
  line's id depends only on the lines of its day and before it, not on where a step ended.

What an extension writes: the rows dated after the dataset's end (the later days' exchange rates,
customers created after it, their and everyone's later lines with their invoices' headers, the orders,
deliveries and payments made after it, and lifecycle events), and the columns that only become known
later: in customer_lifecycle first_purchase_on and lost_on, where they fall after the old end; an order's
status and cancelled_on, and a delivery's delivered_on, where they moved on since (LATER_TRUTH,
LATER_DOCUMENT_TRUTH). Nothing else is rewritten.
Its record in erpgen_runs holds the digests of the whole tables it hashed on the way (as a load takes them,
in erpgen.digest's order): every table when it simulated every customer; the masters and exchange_rates
when it read from the database which customers' stories go on (_Extension), `erpgen verify` then
simulating the rest (simulated_digests).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from erpgen import runlog
from erpgen.calibrate import calibrate
from erpgen.config import DEFAULT_BATCH_SIZE, MAX_CUSTOMERS, MAX_YEARS, parse_date
from erpgen.customers import build_customers, customers_by
from erpgen.dates import date_of, day_number
from erpgen.digest import LoadDigests
from erpgen.errors import ConfigError, TargetError
from erpgen.estimation import fact_lines
from erpgen.exchange_rates import rates_batch
from erpgen.load import facts_of
from erpgen.masters import catalog_for
from erpgen.rng import Draws
from erpgen.scenario import DOCUMENT_DAYS_MAX, REFUND_DAYS_MAX
from erpgen.schema import CUSTOMER_TABLES, FACT, TABLES
from erpgen.scratch import Spill
from erpgen.simulation import BlockFacts, Model, Rates
from erpgen.simulation.plan import blocks as count_blocks
from erpgen.simulation.returns import RETURN_WINDOW
from erpgen.simulation.times import SECONDS_PER_DAY
from erpgen.sinks.base import Batch, ExtendableSink, StorySoFar
from erpgen.tables import (
    HEADER_TABLES,
    DocumentChains,
    events_batch,
    fact_batch,
    invoices_batch,
    lifecycle_batch,
    rows_where,
)

Progress = Callable[[str, int], None]
# the columns of customer_lifecycle an extension may set on rows loaded before: the truth learnt later
LATER_TRUTH = ("first_purchase_on", "lost_on")
# and of the order-to-cash documents: where an order stands, and when goods on their way arrived
LATER_DOCUMENT_TRUTH = {"sales_orders": ("status", "cancelled_on"), "deliveries": ("delivered_on",)}
_KEYS = {"sales_orders": "order_id", "deliveries": "order_id", "payments": "payment_id"}
BLOCK_SIZE = 5_000  # customers simulated together (a multiple of digest.SEGMENT)
_BY_CUSTOMER = frozenset(
    t.name for t in CUSTOMER_TABLES
)  # the tables a story read from the target leaves unhashed


@dataclass
class ExtendSummary:
    """What extend() did: where (safe to print), the day the data covered before and covers now, the
    rows added and updated per table (empty when it was already covered), and the time."""

    target: str
    seed: int
    scenario: str
    covered: dt.date  # the dataset's last day before
    till: dt.date  # the day asked for: its last day after, when it is later
    covered_second: int | None = None  # the last second of `covered` it held, when it ended within it
    added: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    # the customers simulated, and those it holds after: fewer where the stories of some had ended
    simulated: int = 0
    customers: int = 0

    @property
    def changed(self) -> bool:
        return self.till > self.covered or (self.till == self.covered and self.covered_second is not None)

    def render(self) -> str:
        lines = [
            f"erpgen: extended {self.target} from {self.covered} to {self.till} in {self.seconds:.1f} s "
            f"(scenario {self.scenario}, seed {self.seed})"
        ]
        width = max((len(t) for t in self.added), default=0)
        for table, n in self.added.items():
            updated = self.updated.get(table)
            lines.append(
                f"  {table:<{width}}  {n:>12,} rows added" + (f", {updated:,} updated" if updated else "")
            )
        if self.simulated < self.customers:
            lines.append(
                f"  simulated {self.simulated:,} of its {self.customers:,} customers (the others' stories ended "
                "before the last 455 days)"
            )
        return "\n".join(lines)


def extend(
    *,
    database_url: str | None = None,
    till: str | dt.date | None = None,
    csv_dir: str | os.PathLike | None = None,
    parquet_dir: str | os.PathLike | None = None,
    delta_dir: str | os.PathLike | None = None,
    on_progress: Progress | None = None,
) -> ExtendSummary:
    """Carry the dataset at `database_url` (default sqlite:///erpgen.db), or in the one export directory
    given instead (csv_dir, parquet_dir, delta_dir), on to `till` (default: today), with the scenario, seed
    and parameters its run record holds. One transaction: it completes, or the dataset is as it was. A
    `till` the data already covers changes nothing (summary.changed is False). Raises ConfigError for a bad
    date, TargetError for a target without a dataset of this erpgen's format, or one another run is
    writing to."""
    from sqlalchemy.exc import DBAPIError

    from erpgen import space, urls
    from erpgen.database import connect, describe_db_error, is_disk_full, is_driver_error
    from erpgen.engines.local import LocalBlocks
    from erpgen.sinks import database_sink, export_sink

    day = parse_date(dt.datetime.now(dt.UTC).date() if till is None else till, "--till")
    started, clock = runlog.now(), time.perf_counter()
    url = None
    sink = export_sink("extend", csv_dir=csv_dir, parquet_dir=parquet_dir, delta_dir=delta_dir)
    if sink is not None:  # files: the record is read without a connection for a forked engine to inherit
        target = sink.describe()
        try:
            record = _usable(sink.run_record(), target)
        except OSError as exc:
            raise TargetError(f"cannot read the run record in {target}: {describe_db_error(exc)}") from None
    else:
        url = urls.parse(database_url or urls.DEFAULT_URL)
        target = urls.mask(url)
        if urls.is_file(url) and not urls.sqlite_path(url).exists():
            raise TargetError(f"{target} does not exist", "generate a dataset first, or fix --database-url")
        if url.get_backend_name() not in ("sqlite", "duckdb", "postgresql", "mysql", "mariadb"):
            raise TargetError(
                f"erpgen extend carries on SQLite, DuckDB, PostgreSQL and MariaDB/MySQL datasets, not "
                f"{url.get_backend_name()}",
                "generate the dataset again to the later day instead",
            )
        try:
            # a first look, before the engine forks: no child inherits a connection
            with connect(url) as conn:
                record = _usable(runlog.dataset_record(conn, target), target)
        except DBAPIError as exc:
            message = describe_db_error(exc, url)
            raise TargetError(
                f"cannot read the run record in {target}: {message}",
                "another process is writing to it; run again when it is done"
                if "locked" in message
                else None,
            ) from None
    cfg = runlog.config_of(record)
    covered = record["covers_till"] or cfg.date_till
    summary = ExtendSummary(
        target, cfg.seed, cfg.scenario.name, covered, day, record.get("covers_till_second")
    )
    if not summary.changed:
        return summary
    _check_till(cfg, day)
    catalog = catalog_for(cfg)
    # the original run's rates: calibrating again would give the same, at a second's cost
    knobs = json.loads(record["rates"]) if record["rates"] else None
    rates = Rates.of_record(knobs) if knobs else calibrate(cfg, catalog)
    if sink is None:
        assert url is not None
        sink = database_sink(url, replace=False, append=True)
    assert isinstance(sink, ExtendableSink)
    with LocalBlocks(cfg, catalog, 1, rates=rates, horizon=day) as engine:
        run = _Extension(engine, sink, record, on_progress)
        sink.begin()
        try:
            if position(_usable(sink.run_record(), target)) != position(record):
                raise TargetError(f"another erpgen run extended {target} meanwhile", "run it again")
            run.write(started)
            # the rows of the tables the target keeps (a CSV export holds no lifecycle tables)
            summary.added = {t: n for t, n in run.added.items() if t in sink.tables}
            summary.updated = run.updated
            summary.simulated, summary.customers = run.simulated_customers, run.n_customers
            if on_progress:
                on_progress("commit", 0)
            sink.commit()
        except BaseException as exc:
            sink.abort()
            if is_disk_full(exc):  # "run it again" would hit the same wall: say where, and how much
                lines, customers, simulated = run.sizes()
                candidates = space.extension_places(url, lines, customers, simulated, sink.data_directory)
                raise space.full_error(space.Clue.of(exc), candidates, "nothing was changed") from None
            if is_driver_error(exc):
                raise TargetError(
                    f"extending {target} failed: {describe_db_error(exc, url)}",
                    "nothing was changed; run it again",
                ) from None
            raise
    summary.seconds = time.perf_counter() - clock
    return summary


def position(record: dict) -> tuple:
    """Where a dataset stands: its record, and how far in time its data goes."""
    return record["run_id"], record["covers_till"], record.get("covers_till_second")


def _usable(record: dict | None, target: str) -> dict:
    """The run record, if this erpgen can carry its dataset on."""
    if record is None:
        raise TargetError(
            f"{target} holds no dataset erpgen made", "generate one first (erpgen generate), then extend it"
        )
    runlog.check_format(
        record, target, verb="extends", consequence="its history would not carry on as it began",
        older_fix="generate it again with this erpgen to extend it",
    )  # fmt: skip
    return record


def _check_till(cfg, day: dt.date) -> None:
    years = ((day - cfg.date_from).days + 1) / 365.25
    if years > MAX_YEARS:
        raise ConfigError(
            f"--till {day} would make the history {years:.2f} years long; the limit is {MAX_YEARS} years",
            "invoice numbers per customer are 6 digits wide",
        )


def moment(day: int, second: int | None) -> int:
    """Seconds since 1970-01-01 of a day's `second` (None: its last), as fact batches hold invoiced_at."""
    return day * SECONDS_PER_DAY + (SECONDS_PER_DAY - 1 if second is None else second)


class Simulates(Protocol):
    """What an extension asks of its engine (erpgen.engines.local.LocalBlocks, or InProcess below)."""

    model: Model

    def map(self, fn: Callable, id_blocks: Iterator[np.ndarray]) -> Iterator:
        """fn(model, ids) for every block, in block order."""

    def as_done(self, fn: Callable, id_blocks: Iterator[np.ndarray]) -> Iterator[tuple[np.ndarray, object]]:
        """(ids, fn(model, ids)) for every block, each as soon as it is made."""


class _Extension:
    """One extension: the customers whose story goes on simulated to `till` in blocks, each block's
    documents made beside it by the engine (_block_and_documents), the blocks kept in a scratch file; the
    fact lines written once every block has come (their ids go by day across the blocks). A whole extension
    then writes, and hashes, each table in turn (_write_whole); one from the story writes a block's other
    rows as soon as it comes, while the engine simulates the next (_write_from_story).

    Which customers, and how a line gets its id:
    - whole (a target that cannot say what it holds, and every simulated digest): every customer, and
      every row hashed; lines are numbered by day from the day after the original end, the earlier ones
      as the load numbered them;
    - from the story so far (a database, sink.story_so_far): the customers it holds whose story may go
      on, and the new ones. A customer lost on day L bought last before L, and what it bought comes back
      within RETURN_WINDOW days: from L + RETURN_WINDOW on, nothing more happens to it. Lines are numbered
      by day from the first day with rows to write (their first id follows the lines the dataset holds
      before it), and the ids of the lines a new credit note gives back are read from the target. The
      tables keyed by customer are not hashed (that would mean every customer): the record keeps the
      masters' digests, and `erpgen verify` simulates the rest (simulated_digests)."""

    def __init__(
        self,
        engine: Simulates,
        sink: ExtendableSink,
        record: dict,
        on_progress,
        till_second: int | None = None,
    ):
        model = engine.model
        cfg = model.cfg
        self.engine, self.model, self.sink, self.record = engine, model, sink, record
        self.on_progress = on_progress
        self.draws = Draws(cfg.seed)
        self.end = day_number(cfg.date_till)  # the original run's end: later lines are numbered by day
        # the dataset's end now: later rows are written (a day's lines up to its second, if it ends within it)
        self.covered = day_number(record["covers_till"] or cfg.date_till)
        self.covered_moment = moment(self.covered, record.get("covers_till_second"))
        self.till = model.till
        # the end of the data after it: the horizon, or a second of its day (what `verify` checks a live
        # dataset against); the simulation, and so every id, is the horizon's
        self.till_second = till_second
        self.till_moment = moment(self.till, till_second)
        self.known = customers_by(cfg, self.covered, self.draws)  # customers the dataset holds
        self.n_customers = customers_by(cfg, self.till, self.draws)
        if self.n_customers > MAX_CUSTOMERS:
            raise ConfigError(
                f"by {model.horizon} there would be {self.n_customers:,} customers, over the limit of "
                f"{MAX_CUSTOMERS:,}",
                "extend to an earlier day",
            )
        self.story: StorySoFar | None = None  # read at write(), if the target can tell it
        # from the story: the lines a new credit note gives back, dated before the origin (lines_of)
        # by a block's first customer: its customers that give such lines back, and the lines' ids when asked
        self.giving_back: dict[int, tuple[np.ndarray, Callable[[], np.ndarray]]] = {}
        self.origin = self.end + 1  # the first day whose lines are numbered by day
        self.digest = LoadDigests()
        self.simulated: int | None = None  # fact lines up to the horizon, once pass 1 has counted them
        self.simulated_customers = 0
        self.added: dict[str, int] = {}
        self.updated: dict[str, int] = {}
        self.learnt: list[Batch] = []
        self.learnt_documents: list[tuple[str, Batch]] = []

    def sizes(self) -> tuple[int, int, int]:
        """About how many fact lines and customers the extension adds, and how many fact lines it
        simulates (its scratch file holds them all): counted by pass 1, else estimated from a sample."""
        simulated = self.simulated
        if simulated is None:
            simulated = fact_lines(self.model) * self.n_customers // max(1, self.model.cfg.n_customers)
        before = json.loads(self.record["row_counts"]).get(FACT.name, 0)
        return max(0, simulated - before), self.n_customers - self.known, simulated

    def blocks(self) -> list[np.ndarray]:
        """The ids simulated together, each block in customer order: every customer in blocks of BLOCK_SIZE
        (smaller than a load's: the engine's two processes share the simulation of a smaller dataset), in
        order; or, from the story, the customers created after the data's end first, up to twice BLOCK_SIZE
        of them (their histories are short: their rows reach the target while the engine simulates the
        others), then those whose story goes on, a first block of half BLOCK_SIZE (the oldest customers,
        whose histories are the longest to simulate) and BLOCK_SIZE at a time, then any more new ones.
        Neither the cuts nor the order change a row: lines are numbered by day, then customer (_simulate)."""
        if self.story is None:
            return list(count_blocks(self.n_customers, BLOCK_SIZE))
        going, new = self.story.going_on, np.arange(self.known + 1, self.n_customers + 1, dtype=np.int64)
        cuts = [0, *range(BLOCK_SIZE // 2, len(going), BLOCK_SIZE), len(going)]
        older = [going[lo:hi] for lo, hi in zip(cuts, cuts[1:], strict=False) if hi > lo]
        newer = [new[lo : lo + 2 * BLOCK_SIZE] for lo in range(0, len(new), 2 * BLOCK_SIZE)]
        return newer[:1] + older + newer[1:]

    def write(self, started: dt.datetime) -> None:
        self._read_story()
        if self.story is None:
            self._write_whole()
        else:
            self._write_from_story()
        previous = json.loads(self.record["row_counts"])
        rows = {
            t.name: previous.get(t.name, 0) + self.added.get(t.name, 0) for t in TABLES if t.name in previous
        }
        # the other masters never change: their digests are the record's
        digests = {**json.loads(self.record["content_digest"]), **self.digest.digests()}
        hashed = {t.name for t in TABLES if self.story is None or t.name not in _BY_CUSTOMER}
        digests = {t.name: digests[t.name] for t in TABLES if t.name in digests and t.name in hashed}
        new = runlog.extension_record(
            self.record, started=started, till=self.model.horizon, rows=rows, digests=digests,
            second=self.till_second,
        )  # fmt: skip
        with self.sink.table_writer("erpgen_runs") as w:
            w.write(new)

    def _read_story(self) -> None:
        """The story so far, if the target tells it: from the first day with rows to write on (the day
        after the data's end, or its last day if it ends within it)."""
        first = self.covered + (0 if self.record.get("covers_till_second") is not None else 1)
        if first <= self.end or self.till_second is not None:
            return  # lines up to the original end are numbered by customer: only a whole run knows them
        # a customer lost on day L bought last before L; what it bought comes back within RETURN_WINDOW
        # days, and is refunded within REFUND_DAYS_MAX after that (an invoice is paid sooner)
        story = self.sink.story_so_far(
            lost_from=date_of(first - RETURN_WINDOW - REFUND_DAYS_MAX + 1), lines_till=date_of(first)
        )
        if story is not None:
            self.story, self.origin = story, first

    def _write_whole(self) -> None:
        """Every table hashed whole, one after the other, from the blocks simulated first."""
        documents = Spill()
        try:
            spill, first_ids = self._simulate(self._made(), each=lambda ids, f, made: documents.add(made))
            try:
                self._table("exchange_rates", self._rates())
                self._table("customers", self._customers())
                # parents first: a target checking its keys row by row takes the orders before their lines
                self._table("sales_orders", (made["sales_orders"] for made in documents))
                self._table(FACT.name, self._facts(spill, first_ids))
                for table in HEADER_TABLES[1:]:
                    self._table(table, (made[table] for made in documents))
                self._table("customer_lifecycle", (self._lifecycle(ids, f) for ids, f, _ in spill))
                self._learnt()
                self._table("lifecycle_events", (self._events(f) for _, f, _ in spill))
            finally:
                spill.close()
        finally:
            documents.close()

    def _write_from_story(self) -> None:
        """Only the new rows, as soon as they are known: the new customers while the engine simulates the
        first blocks, each block's documents and lifecycle rows when it comes, and the fact lines, which are
        numbered by day across the blocks, once every block has come."""
        made = self._made()  # the engine starts on the blocks now
        self._table("exchange_rates", self._rates())
        self._table("customers", self._customers())

        def block_rows(ids: np.ndarray, f: BlockFacts, documents: dict) -> None:
            for table in HEADER_TABLES:  # parents first, as in _write_whole
                self._table(table, iter([documents[table]]))
            self._table("customer_lifecycle", iter([self._lifecycle(ids, f)]))
            self._table("lifecycle_events", iter([self._events(f)]))

        spill, first_ids = self._simulate(made, each=block_rows)
        try:
            self._table(FACT.name, self._facts(spill, first_ids))
        finally:
            spill.close()
        self._learnt()

    # -- pass 1 -----------------------------------------------------------------------------------
    def _made(self) -> Iterator[tuple[np.ndarray, tuple]]:
        """The blocks' ids, and their facts and documents (_block_and_documents): in order, or from the story
        as each is made. The engine starts on them when this is called."""
        blocks = self.blocks()
        ends = _Ends(
            self.covered, self.covered_moment, self.till, self.till_moment,
            # from the story, the invoices of the last DOCUMENT_DAYS_MAX days (and a day, for a data end
            # within a day) and later
            since=None if self.story is None else self.covered - DOCUMENT_DAYS_MAX - 1,
            cut_at_till=self.till_second is not None,
        )  # fmt: skip
        fn = functools.partial(_block_and_documents, ends)
        if self.story is not None:  # only the new rows, numbered whatever order the blocks come in
            return self.engine.as_done(fn, iter(blocks))
        return zip(blocks, self.engine.map(fn, iter(blocks)), strict=True)

    def _simulate(self, made: Iterator[tuple[np.ndarray, tuple]], each: Callable) -> tuple[Spill, np.ndarray]:
        """Every block simulated to the horizon, into a scratch file (each(ids, facts, documents) called
        as it comes); and the id of the first line each block has on each day from the origin on (lines
        are numbered by day, then block in customer order, whatever order the blocks came in)."""
        spill, per_day, before_origin, simulated = Spill(), [], 0, 0
        first_customers: list[int] = []
        days = self.till - self.origin + 1
        window = {"lines_from": date_of(self.origin - RETURN_WINDOW), "lines_till": date_of(self.origin)}
        for ids, (f, documents, learnt) in made:
            self.learnt_documents += learnt
            first_customers.append(int(ids[0]))
            dated = f.invoice_date >= self.origin
            if self.story is not None:
                # asked now, before the block's rows are queued: the answer comes while the blocks do
                credit = np.flatnonzero(dated & (f.returned >= 0))
                giving = np.unique(f.customer_id[credit[f.invoice_date[f.returned[credit]] < self.origin]])
                if len(giving):
                    self.giving_back[int(ids[0])] = (giving, self.sink.lines_of_later(giving, **window))
            simulated += len(f)
            spill.add((ids, f, before_origin))
            before_origin += int(len(f) - dated.sum())
            per_day.append(np.bincount(f.invoice_date[dated] - self.origin, minlength=days))
            self.simulated_customers += len(ids)
            if self.on_progress:
                self.on_progress("customers simulated", self.simulated_customers)
            each(ids, f, documents)
        self.simulated = simulated
        first = (before_origin if self.story is None else self.story.lines_before) + 1
        counts = np.array(per_day, dtype=np.int64).reshape(len(per_day), days)
        day_totals = counts.sum(axis=0)
        before_day = np.cumsum(day_totals) - day_totals
        in_order = np.argsort(np.array(first_customers, dtype=np.int64), kind="stable")
        ordered = counts[in_order]
        first_ids = np.empty_like(counts)
        first_ids[in_order] = first + before_day[None, :] + (np.cumsum(ordered, axis=0) - ordered)
        return spill, first_ids

    # -- pass 2: each table's rows (all of them where it is hashed) and which of them are new -------------
    def _rates(self) -> Iterator[tuple[Batch, np.ndarray]]:
        """The walk from the first day to the horizon: its days up to the old end are what the dataset
        holds (exchange_rates)."""
        b = rates_batch(self.model.cfg, self.till)
        yield b, np.asarray(b["rate_date"]) > self.covered

    def _customers(self) -> Iterator[tuple[Batch, np.ndarray]]:
        for ids in count_blocks(self.n_customers, BLOCK_SIZE):
            if self.story is not None:  # only the new ones: the table is not hashed
                ids = ids[ids > self.known]
                if not len(ids):
                    continue
            yield (
                build_customers(
                    self.model.cfg, ids, self.draws, channel_shares=self.model.rates.channel_shares
                ),
                ids > self.known,
            )

    def _facts(self, spill: Spill, first_ids: np.ndarray) -> Iterator[tuple[Batch, np.ndarray]]:
        for k, (ids, f, before_origin) in enumerate(spill):
            line_id = self._line_ids(ids, f, first_ids[k], before_origin)
            b = fact_batch(f, 1)
            b["line_id"] = line_id
            b["returned_line_id"] = np.where(f.returned >= 0, line_id[np.maximum(f.returned, 0)], 0)
            if self.story is None:
                order = np.lexsort((line_id, f.customer_id))  # digest order: customer, then line id
                if self.till_second is not None:
                    order = order[b["invoiced_at"][order] <= self.till_moment]
            else:  # only the new lines: the table is not hashed
                order = np.flatnonzero(b["invoiced_at"] > self.covered_moment)
                if (b["returned_line_id"][order] < 0).any():
                    raise AssertionError("a new credit note gives back a line older than the return window")
            b = {name: np.asarray(values)[order] for name, values in b.items()}
            yield b, b["invoiced_at"] > self.covered_moment

    def _line_ids(self, ids: np.ndarray, f: BlockFacts, first_of_day: np.ndarray, before: int) -> np.ndarray:
        """Lines from the origin on: by day, then block (in customer order), then their place in the block
        (customer, then the customer's history). Earlier ones: whole, the load's ids (customer order), from
        `before`, the block's first; from the story, those a new credit note may give back, read from the
        target (-1 for the others)."""
        line_id = np.full(len(f), -1, dtype=np.int64)
        dated = f.invoice_date >= self.origin
        if self.story is None:
            line_id[~dated] = before + 1 + np.arange(len(f) - int(dated.sum()))
        else:
            self._read_ids(ids, f, line_id)
        at = np.flatnonzero(dated)
        at = at[np.argsort(f.invoice_date[at], kind="stable")]
        day = f.invoice_date[at].astype(np.int64) - self.origin
        rank = np.arange(len(at)) - np.searchsorted(day, day, side="left")
        line_id[at] = first_of_day[day] + rank
        return line_id

    def _read_ids(self, ids: np.ndarray, f: BlockFacts, line_id: np.ndarray) -> None:
        """The ids of the lines dated within the return window before the origin of the block's customers
        that give some back after it, from the target's: its lines of those customers in line id order,
        and the block's in the order the ids were given in (up to the original end: the block's; after
        it: by day, then the block's)."""
        if int(ids[0]) not in self.giving_back:
            return
        giving, answer = self.giving_back[int(ids[0])]
        customer, held_id = answer()
        day = f.invoice_date
        window = (day >= self.origin - RETURN_WINDOW) & (day < self.origin)
        at = np.flatnonzero(window & np.isin(f.customer_id, giving))
        later = day[at] > self.end
        at = at[np.lexsort((at, np.where(later, day[at], 0), later, f.customer_id[at]))]
        if len(at) != len(customer) or (f.customer_id[at] != customer).any():
            raise TargetError(
                f"the sales_transactions lines in {self.sink.describe()} are not the ones its run record "
                "says it holds",
                "erpgen verify shows which tables changed; generate the dataset again",
            )
        line_id[at] = held_id

    def _lifecycle(self, ids: np.ndarray, f: BlockFacts) -> tuple[Batch, np.ndarray]:
        """A block's customer_lifecycle rows, and which are new; the truth learnt of the others is kept in
        self.learnt."""
        b = lifecycle_batch(ids, f)
        known = ids <= self.known
        learnt = known & ((f.first_purchase > self.covered) | (f.lost > self.covered))
        if learnt.any():
            self.learnt.append({"customer_id": b["customer_id"][learnt],
                                **{name: np.asarray(b[name])[learnt] for name in LATER_TRUTH}})  # fmt: skip
        return b, ~known

    def _learnt(self) -> None:
        """The truth columns of customers and documents loaded before, where it fell after the old end:
        once the new rows are in (a bulk writer holds the connection while it is open)."""
        by_table: dict[str, list[Batch]] = {}
        for table, batch in [("customer_lifecycle", b) for b in self.learnt] + self.learnt_documents:
            by_table.setdefault(table, []).append(batch)
        for table, batches in by_table.items():
            if table not in self.sink.tables:
                continue
            # one statement a table: each block's customers, and so the rows it learns about, are its own
            batch = {name: np.concatenate([np.asarray(b[name]) for b in batches]) for name in batches[0]}
            self.sink.update_rows(table, batch)
            n = len(next(iter(batch.values())))  # type: ignore[arg-type]
            self.updated[table] = self.updated.get(table, 0) + n

    def _events(self, f: BlockFacts) -> tuple[Batch, np.ndarray]:
        b = events_batch(f)
        return b, np.asarray(b["event_date"]) > self.covered

    def _table(self, table: str, batches: Iterator[tuple[Batch, np.ndarray]]) -> None:
        """Hash the rows of `table` (unless it is one left to `verify`), write the new ones. The new fact
        lines are written together in line id order: their ids go by day across blocks, and a table keyed
        by its rowid (SQLite) or a B-tree primary key takes rows in key order several times faster than
        scattered."""
        written, held = self.added.get(table, 0), []
        kept = table in self.sink.tables  # a CSV export keeps no lifecycle tables: those are only hashed
        hashing = self.story is None or table not in _BY_CUSTOMER
        if hashing and table in self.added:
            raise AssertionError(f"{table} is hashed whole: its rows go through one writer")
        with (
            self.digest.table_writer(table) if hashing else contextlib.nullcontext(_Nowhere()) as hashed,
            self.sink.table_writer(table) if kept else contextlib.nullcontext(_Nowhere()) as out,
        ):
            for whole, new in batches:
                hashed.write(whole)
                part = _rows(whole, np.flatnonzero(new))
                written += len(next(iter(part.values())))  # type: ignore[arg-type]
                if table == FACT.name and kept:
                    held.append(part)
                else:
                    self._write(out, part)
                if self.on_progress:
                    self.on_progress(table, written)
            if held:
                part = {name: np.concatenate([p[name] for p in held]) for name in held[0]}  # type: ignore[misc]
                del held
                self._write(out, _rows(part, np.argsort(part["line_id"], kind="stable")))
        self.added[table] = written

    @staticmethod
    def _write(out, part: Batch) -> None:
        n = len(next(iter(part.values())))  # type: ignore[arg-type]
        for lo in range(0, n, DEFAULT_BATCH_SIZE):
            out.write(
                part
                if n <= DEFAULT_BATCH_SIZE
                else _rows(part, np.arange(lo, min(n, lo + DEFAULT_BATCH_SIZE)))
            )


@dataclass(frozen=True)
class _Ends:
    """Where an extension's data ended before and ends after (days, and moments in seconds), and what of a
    block's documents it makes (_block_documents)."""

    covered: int
    covered_moment: int
    till: int
    till_moment: int
    # from the story: only the new rows, of the invoices dated from this day on (the older ones' documents are
    # settled, the same at both ends); None: every row, each with whether it is new
    since: int | None
    cut_at_till: bool  # the data ends within the horizon's day: headers up to till_moment only


def _block_and_documents(ends: _Ends, model, ids: np.ndarray):
    """A block's facts and documents (_block_documents), made together where the engine simulates. From the
    story, the lines of the invoices dated from ends.since on, and those they give back: nothing older is
    written, or read again."""
    f = facts_of(model, ids, None if ends.since is None else ends.since - RETURN_WINDOW)
    return f, *_block_documents(f, model, ends)


def _block_documents(f: BlockFacts, model, ends: _Ends) -> tuple[dict, list[tuple[str, Batch]]]:
    """A block's invoice headers (those of the lines _facts writes: an invoice is made at one moment, with
    all its lines) and order-to-cash documents as they stand at the new end, each with which rows are new;
    and the documents loaded before whose state moved on (an order's status, a delivery that arrived), to
    update once the new rows are in."""
    headers = invoices_batch(f, model, ends.since)
    chains = DocumentChains.of(f, model, headers)
    now, before = chains.at(ends.till, ends.till_moment), chains.at(ends.covered, ends.covered_moment)
    at = np.asarray(headers["invoiced_at"])
    if ends.since is not None:  # only the new ones: the table is not hashed
        headers = rows_where(headers, at > ends.covered_moment)
    elif ends.cut_at_till:
        headers = rows_where(headers, at <= ends.till_moment)
    made = {"invoices": (headers, np.asarray(headers["invoiced_at"]) > ends.covered_moment)}
    learnt = []
    for table, batch in now.items():
        key = np.asarray(batch[_KEYS[table]])
        old = before[table]
        new = ~np.isin(key, np.asarray(old[_KEYS[table]]))
        moved = _moved_on(table, rows_where(batch, ~new), old)
        if moved is not None:
            learnt.append((table, moved))
        if ends.since is not None:
            batch, new = rows_where(batch, new), np.ones(int(new.sum()), dtype=bool)
        made[table] = (batch, new)
    return made, learnt


def _moved_on(table: str, now: Batch, before: Batch) -> Batch | None:
    """The columns of `table` that changed on rows loaded before (the same rows, in the same order)."""
    columns = LATER_DOCUMENT_TRUTH.get(table, ())
    if not columns:
        return None
    changed = np.zeros(len(np.asarray(now[_KEYS[table]])), dtype=bool)
    for name in columns:
        changed |= np.asarray(now[name]) != np.asarray(before[name])
    if not changed.any():
        return None
    key = _KEYS[table]
    return {key: np.asarray(now[key])[changed], **{n: np.asarray(now[n])[changed] for n in columns}}


class Collected(ExtendableSink):
    """An extension's output kept in memory: the rows it adds, the values it learns of rows loaded before
    and the record it would write."""

    def __init__(self, record: dict, tables: frozenset[str] | None = None):
        self.record = record
        if tables is not None:  # those it keeps; the others' rows are only hashed
            self.tables = tables
        self.batches: dict[str, list[Batch]] = {t.name: [] for t in TABLES}
        self.updates: dict[str, list[Batch]] = {}  # by table

    def describe(self) -> str:
        return "memory"

    def begin(self) -> None:
        pass

    @contextlib.contextmanager
    def table_writer(self, table: str):
        yield _Into(self.batches[table])

    def commit(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def run_record(self) -> dict | None:
        return self.record

    def update_rows(self, table: str, batch: Batch) -> None:
        self.updates.setdefault(table, []).append(batch)


class _Into:
    def __init__(self, batches: list[Batch]):
        self.batches = batches

    def write(self, batch: Batch) -> None:
        self.batches.append(batch)


class InProcess:
    """The engine an extension needs (Simulates), simulating in this thread: no process is forked
    from a process whose other thread holds a database connection."""

    def __init__(self, model):
        self.model = model

    def map(self, fn, id_blocks):
        return (fn(self.model, ids) for ids in id_blocks)

    def as_done(self, fn, id_blocks):
        return ((ids, fn(self.model, ids)) for ids in id_blocks)


def simulated_digests(record: dict) -> dict[str, str]:
    """The digests of the whole tables of the dataset `record` describes, simulated from its run's scenario,
    seed and rates up to where its data ends: what `verify` checks a dataset against when its record holds
    the masters' digests only (erpgen live, within a window)."""

    cfg = runlog.config_of(record)
    catalog = catalog_for(cfg)
    knobs = json.loads(record["rates"]) if record["rates"] else None
    rates = Rates.of_record(knobs) if knobs else calibrate(cfg, catalog)
    horizon = record["covers_till"] or cfg.date_till
    # an extension of the original load to that day (or second): it hashes every row, writes none
    base = {**record, "covers_till": cfg.date_till, "covers_till_second": None}
    kept = Collected(base, frozenset({"erpgen_runs"}))
    model = Model(cfg, catalog, rates, horizon=horizon)
    _Extension(InProcess(model), kept, base, None, till_second=record.get("covers_till_second")).write(
        runlog.now()
    )
    (written,) = kept.batches["erpgen_runs"]
    return json.loads(written["content_digest"][0])  # type: ignore[index]


class _Nowhere:
    """The writer of a table the target does not keep."""

    def write(self, batch: Batch) -> None:
        pass


def _rows(b: Batch, at: np.ndarray) -> Batch:
    """Rows `at` of a batch (numpy columns or lists)."""
    out: Batch = {}
    for name, values in b.items():
        if isinstance(values, np.ndarray):
            out[name] = values[at]
        else:
            out[name] = [values[i] for i in at.tolist()]  # type: ignore[index]
    return out
