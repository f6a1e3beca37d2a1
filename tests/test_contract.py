"""One contract for every target erpgen writes: the same tests, run once per target.

The targets: SQLite, DuckDB, PostgreSQL and MariaDB (--database-url), CSV, Parquet and Delta directories
(--no-database --csv-dir / --parquet-dir / --delta-dir), and the Dask engine loading PostgreSQL (its workers COPY the fact lines).

  (a) the same seed gives the content SQLite holds, table by table (erpgen.digest), whatever the speed
      options, and the load's own record of its digest agrees with what is there;
  (b) a real fault mid-load (kill -9 once the fact lines are being written or the keys built; the server
      closing the connection under the fact load) leaves the target exactly as it was, and the next run
      succeeds and leaves nothing of the killed one behind;
  (c) someone else's data in the target is refused in one line (exit 2), and --replace does what the
      target documents;
  (d) --resume carries an interrupted load on to the same data where the target supports it, and is
      refused in one line, before anything is written, where it does not.

SUPPORTS says which target does what. Every cell of it decides what a test asserts, so a target that
stops doing what its row says fails a test here; nothing in it is assumed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from erpgen.cli import main
from erpgen.digest import csv_digests, parquet_digests

from .helpers import (
    FACTS_STARTED,
    KEYS_AND_INDEXES,
    assert_one_clean_line,
    connect,
    digests,
    end_group,
    kill,
    snapshot,
    start,
    table_names,
    wait_for,
)


@dataclass(frozen=True)
class Supports:
    # what the target holds: "every table", or "seed columns" (the seed README's columns of three tables)
    content: str
    # where a load records its content digest: "erpgen verify" checks it, a file in the export, or None
    record: str | None
    # someone else's data in the target: "refuses" it (exit 2; --replace loads beside it), or "overwrites"
    # the files it names and leaves the others alone (--replace or not)
    foreign: str
    # where an interrupted --resume load waits: "in the target", "out of the target"; None: --resume refused
    resume: str | None
    # a server whose connection can be closed under the load
    server: bool
    # prefix of the tables a killed run may leave in the target, which the next run drops (README)
    killed_leaves: str | None = None


SUPPORTS = {
    "sqlite": Supports("every table", "erpgen verify", "refuses", "out of the target", server=False),
    "duckdb": Supports("every table", "erpgen verify", "refuses", "out of the target", server=False),
    "postgresql": Supports("every table", "erpgen verify", "refuses", "in the target", server=True),
    "mariadb": Supports("every table", "erpgen verify", "refuses", "out of the target", server=True),
    "csv": Supports("seed columns", "erpgen_runs.csv", "overwrites", None, server=False),
    "parquet": Supports("every table", "erpgen_runs.parquet", "overwrites", None, server=False),
    "delta": Supports("every table", "the erpgen_runs table", "overwrites", None, server=False),
    "dask": Supports(
        "every table", "erpgen verify", "refuses", None, server=True, killed_leaves="erpgen_stage_"
    ),
}
TARGETS = list(SUPPORTS)
RESUME_REFUSAL = {
    "csv": "--resume loads into a database only",
    "parquet": "--resume loads into a database only",
    "delta": "--resume loads into a database only",
    "dask": "--resume works with the local engine",
}

# The dataset every target must hold the same way: over 1,000 customers, so that the Dask engine (whose
# blocks are multiples of 1,000) splits it.
DATASET = ["--n-customers", "2500", "--date-from", "2019-01-01", "--date-till", "2021-12-31", "--seed", "7"]
# options that change speed and memory only: each target's load in (a) adds its own
SPEED_ONLY = {
    "sqlite": ["--workers", "2", "--block-size", "100", "--batch-size", "333"],
    "duckdb": ["--batch-size", "333", "--block-size", "400"],
    "postgresql": ["--batch-size", "333", "--block-size", "37"],
    "mariadb": ["--batch-size", "333", "--block-size", "400"],
    "csv": ["--batch-size", "997"],
    "parquet": ["--batch-size", "997", "--block-size", "400"],
    "delta": ["--batch-size", "997", "--block-size", "400"],
    "dask": ["--block-size", "1000"],
}
# a small dataset, and another one a target holds before
SMALL = ["--n-customers", "60", "--date-from", "2020-01-01", "--date-till", "2020-12-31", "--seed", "2"]
PREVIOUS = ["--n-customers", "50", "--date-from", "2020-01-01", "--date-till", "2020-12-31", "--seed", "1"]
# big enough that a kill lands seconds before the end: 20,000 customers, ten blocks of fact lines
BIG = ["--n-customers", "20000", "--block-size", "2000", "--seed", "3"]
PHASES = {"facts": FACTS_STARTED, "keys": KEYS_AND_INDEXES}
# With --engine dask and only parallel-writing targets the workers write the customers with the lines, and
# the client reports the fact lines right after the products: that line is out once the first block is in.
DASK_FACTS_STARTED = re.compile(r"^erpgen: products [\d,]+ rows$")


# -- the references: SQLite, one process, default sizes --------------------------------------------------
@dataclass(frozen=True)
class Reference:
    full: dict[str, str]
    seed_columns: dict[str, str]
    tables: frozenset[str]  # every table a load makes (alembic_version included)
    lines: int

    def expected(self, name: str) -> dict[str, str]:
        return self.seed_columns if SUPPORTS[name].content == "seed columns" else self.full


def _reference(directory: Path, args: list[str]) -> Reference:
    url = f"sqlite:///{directory / 'reference.db'}"
    assert main(["generate", *args, "--database-url", url, "-q"]) == 0
    with connect(url) as conn:
        lines = conn.execute(text("SELECT count(*) FROM sales_transactions")).scalar()
    return Reference(digests(url), digests(url, seed_columns_only=True), frozenset(table_names(url)), lines)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Reference:
    """What DATASET is, as SQLite holds it."""
    return _reference(tmp_path_factory.mktemp("reference"), DATASET)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Reference:
    """What SMALL is, as SQLite holds it: for the runs that follow a fault or a refusal."""
    return _reference(tmp_path_factory.mktemp("small"), SMALL)


@pytest.fixture(scope="module")
def dask_scheduler():
    """One small cluster for the module's Dask loads (the kill test starts its own, to kill it whole)."""
    pytest.importorskip("distributed")
    import logging

    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, dashboard_address=":0", silence_logs=logging.ERROR
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture
def spawn(tmp_path):
    """start(), and whatever is left of each process it started ended after the test."""
    started = []

    def run(*args: str):
        proc = start(*args, cwd=tmp_path)
        started.append(proc)
        return proc

    yield run
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        end_group(proc)
        proc.stdout.close()
        proc.stderr.close()


# -- the targets -----------------------------------------------------------------------------------------
class Target:
    """One place erpgen writes to, seen only from outside: its CLI arguments, what a reader finds there."""

    name: str

    def args(self) -> list[str]:
        """What selects this target on the command line."""
        raise NotImplementedError

    def state(self):
        """What a reader of the target sees (equal states: the same data), None where there is nothing."""
        raise NotImplementedError

    def digests(self) -> dict[str, str]:
        raise NotImplementedError

    def leftovers(self, *pids: int) -> list[str]:
        """What runs (these killed processes' and this one's) left around the target besides its data."""
        raise NotImplementedError

    def settle(self, pid: int) -> None:
        """Until the server has ended the sessions of a killed client."""

    def put_foreign(self) -> None:
        """Someone else's data in the target."""
        raise NotImplementedError

    def foreign_intact(self) -> bool:
        raise NotImplementedError

    def recorded_digest_matches(self, erpgen) -> bool:
        raise NotImplementedError


class Database(Target):
    def __init__(self, name: str, url: str, known: frozenset[str]):
        self.name, self.url, self.known = name, url, known

    def args(self) -> list[str]:
        return ["--database-url", self.url]

    def state(self):
        return snapshot(self.url)

    def digests(self) -> dict[str, str]:
        return digests(self.url)

    def leftovers(self, *pids: int) -> list[str]:
        return [t for t in table_names(self.url) if t not in self.known]

    def execute(self, *statements: str) -> None:
        with connect(self.url) as conn, conn.begin():
            for sql in statements:
                conn.execute(text(sql))

    def put_foreign(self) -> None:
        self.execute(
            "CREATE TABLE their_orders (id INTEGER PRIMARY KEY, note VARCHAR(20))",
            "INSERT INTO their_orders VALUES (1, 'keep me')",
        )

    def foreign_intact(self) -> bool:
        with connect(self.url) as conn:
            return conn.execute(text("SELECT id, note FROM their_orders")).all() == [(1, "keep me")]

    def recorded_digest_matches(self, erpgen) -> bool:
        r = erpgen("verify", "--database-url", self.url)
        assert r.code in (0, 1), r
        return r.code == 0 and "content matches the recorded digest" in r.out

    def blocks_done(self) -> int:
        """Blocks an interrupted --resume load has committed, from its record in erpgen_runs (README)."""
        with contextlib.suppress(Exception), connect(self.url, timeout=10) as conn:
            return conn.execute(text(f"SELECT blocks_done FROM {self.runs}")).scalar() or 0
        return 0

    runs = "erpgen_runs"  # where a --resume load records its progress

    def run_statuses(self) -> list[str]:
        with connect(self.url) as conn:
            return conn.execute(text("SELECT status FROM erpgen_runs")).scalars().all()

    def sessions(self, sql: str, params: dict) -> list:
        with connect(self.url, timeout=30, isolation_level="AUTOCOMMIT") as conn:
            return conn.execute(text(sql), params).scalars().all()

    def close_connection(self, proc) -> int:
        """Kill the server session loading the fact lines for `proc`, as soon as one is seen: how many."""
        raise NotImplementedError


class Sqlite(Database):
    def __init__(self, directory: Path, known: frozenset[str]):
        directory.mkdir()
        self.directory, self.path = directory, directory / "erpgen.db"
        super().__init__("sqlite", f"sqlite:///{self.path}", known)

    def state(self):
        if not self.path.exists():
            return None
        with contextlib.closing(sqlite3.connect(self.path)) as raw:  # the first open rolls a hot journal back
            assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return super().state()

    def leftovers(self, *pids: int) -> list[str]:
        return sorted(p.name for p in self.directory.iterdir() if p.name != self.path.name)

    def blocks_done(self) -> int:
        """A new file is built under a scratch name beside the target (README): read its record there."""
        for scratch in self.directory.iterdir():
            if scratch != self.path and not scratch.name.endswith("-journal"):
                with (
                    contextlib.suppress(sqlite3.Error),
                    contextlib.closing(
                        sqlite3.connect(f"file:{scratch}?mode=ro", uri=True, timeout=0.1)
                    ) as raw,
                ):
                    return raw.execute("SELECT blocks_done FROM erpgen_runs").fetchone()[0] or 0
        return 0


class Duckdb(Database):
    def __init__(self, directory: Path, known: frozenset[str]):
        directory.mkdir()
        self.directory, self.path = directory, directory / "erpgen.duckdb"
        super().__init__("duckdb", f"duckdb:///{self.path}", known)

    def state(self):
        return super().state() if self.path.exists() else None

    def leftovers(self, *pids: int) -> list[str]:
        return sorted(p.name for p in self.directory.iterdir() if p.name != self.path.name)

    def blocks_done(self) -> int:
        """The scratch file beside the target (README) is locked by the loading process, so its record is
        read from a copy of the file and its write-ahead log, which DuckDB replays on opening."""
        import shutil
        import tempfile

        import duckdb

        for scratch in self.directory.glob(".erpgen.duckdb.resume.partial"):
            with tempfile.TemporaryDirectory() as copy, contextlib.suppress(duckdb.Error, OSError):
                shutil.copy(scratch, f"{copy}/c.duckdb")
                with contextlib.suppress(FileNotFoundError):
                    shutil.copy(f"{scratch}.wal", f"{copy}/c.duckdb.wal")
                with contextlib.closing(duckdb.connect(f"{copy}/c.duckdb")) as raw:
                    return raw.execute("SELECT blocks_done FROM erpgen_runs").fetchone()[0] or 0
        return 0


class Postgres(Database):
    COPYING = "COPY %sales_transactions%"  # the name may come quoted

    def __init__(self, name: str, url: str, known: frozenset[str]):
        super().__init__(name, url, known)
        self.database = make_url(url).database

    def settle(self, pid: int) -> None:
        # sessions at work or in a transaction (a Dask worker keeps an idle connection to the target)
        sql = (
            "SELECT pid FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid() "
            "AND state <> 'idle'"
        )
        deadline = time.monotonic() + 30
        while self.sessions(sql, {"d": self.database}):
            assert time.monotonic() < deadline, "the killed client's sessions are still there"
            time.sleep(0.1)

    def close_connection(self, proc) -> int:
        sql = (
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d "
            "AND state = 'active' AND query LIKE :q"
        )
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if killed := self.sessions(sql, {"d": self.database, "q": self.COPYING}):
                return len(killed)
            time.sleep(0.02)
        return 0


class DaskOnPostgres(Postgres):
    COPYING = "COPY %erpgen_stage%"  # the workers' staging table (README: erpgen_stage_*), name quoted

    def __init__(self, url: str, known: frozenset[str], scheduler):
        super().__init__("dask", url, known)
        self.scheduler = scheduler  # the module's cluster

    def args(self) -> list[str]:
        return ["--engine", "dask", "--scheduler", self.scheduler, *super().args()]

    def own_cluster_args(self) -> list[str]:
        """A cluster of erpgen's own (a LocalCluster of two workers): it goes with a killed run."""
        return ["--engine", "dask", "--workers", "2", *super().args()]


class Mariadb(Database):
    def __init__(self, url: str, known: frozenset[str]):
        super().__init__("mariadb", url, known)
        self.database = make_url(url).database
        self.waiting = f"erpgen_resume_{self.database}"  # README: a --resume load waits there
        self.runs = f"{self.waiting}.erpgen_runs"

    @staticmethod
    def scratch(pid: int) -> str:
        """LIKE pattern of the scratch databases of the run in process `pid` (README: erpgen_scratch_...)."""
        return f"erpgen\\_scratch\\_{pid}\\_%"

    def leftovers(self, *pids: int) -> list[str]:
        with connect(self.url) as conn:
            databases = []
            for pattern in [*map(self.scratch, pids), self.scratch(os.getpid()), self.waiting]:
                databases += conn.exec_driver_sql("SHOW DATABASES LIKE %s", (pattern,)).scalars().all()
        return databases + super().leftovers()

    def settle(self, pid: int) -> None:
        sql = (
            "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() "
            "AND (DB = :d OR DB = :w OR DB LIKE :s)"
        )
        params = {"d": self.database, "w": self.waiting, "s": self.scratch(pid)}
        deadline = time.monotonic() + 30
        while self.sessions(sql, params):
            assert time.monotonic() < deadline, "the killed client's sessions are still there"
            time.sleep(0.1)

    def close_connection(self, proc) -> int:
        find = (
            "SELECT ID FROM information_schema.PROCESSLIST WHERE DB LIKE :s "
            "AND INFO LIKE 'LOAD DATA LOCAL INFILE%INTO TABLE %sales_transactions%'"
        )
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if loading := self.sessions(find, {"s": self.scratch(proc.pid)}):
                with connect(self.url) as conn:
                    for session in loading:
                        conn.exec_driver_sql(f"KILL CONNECTION {int(session)}")
                return len(loading)
            time.sleep(0.02)
        return 0


class Directory(Target):
    def __init__(self, name: str, directory: Path, files: set[str]):
        self.name, self.directory, self.files = name, directory, files

    def args(self) -> list[str]:
        return ["--no-database", f"--{self.name}-dir", str(self.directory)]

    def state(self):
        """Every file a reader sees (hidden scratch aside) and a hash of its bytes."""
        if not self.directory.exists():
            return None
        return {
            str(p.relative_to(self.directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(self.directory.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(self.directory).parts)
        }

    def leftovers(self, *pids: int) -> list[str]:
        """Everything in the directory but the export's own files (and someone else's notes)."""
        return sorted(p.name for p in self.directory.iterdir() if p.name not in self.files | {"notes.txt"})

    def put_foreign(self) -> None:
        self.directory.mkdir()
        (self.directory / "notes.txt").write_text("keep me")
        (self.directory / next(f for f in sorted(self.files) if f.startswith("customers."))).write_text(
            "their own customers, by the same name\n"
        )

    def foreign_intact(self) -> bool:
        return (self.directory / "notes.txt").read_text() == "keep me"


class Csv(Directory):
    def __init__(self, directory: Path):
        # --csv-dir: "products.csv, customers.csv and sales_transactions.csv", the order-to-cash documents
        # and the run record
        files = {"products.csv", "customers.csv", "sales_transactions.csv", "erpgen_runs.csv"} | {
            f"{t}.csv" for t in ("invoices", "sales_orders", "deliveries", "payments")
        }
        super().__init__("csv", directory, files)

    def digests(self) -> dict[str, str]:
        return csv_digests(self.directory)

    def recorded_digest_matches(self, erpgen) -> bool:
        """erpgen_runs.csv records the digests of the whole tables, of which the files hold some columns:
        its row counts are what the files hold."""
        import csv

        with open(self.directory / "erpgen_runs.csv", newline="") as f:
            (run,) = csv.DictReader(f)
        counts = json.loads(run["row_counts"])
        for table in ("products", "customers", "sales_transactions"):
            with open(self.directory / f"{table}.csv", newline="") as f:
                if counts[table] != sum(1 for _ in csv.reader(f)) - 1:  # the header aside
                    return False
        return run["status"] == "COMPLETE"


class Parquet(Directory):
    def __init__(self, directory: Path, known: frozenset[str]):
        # --parquet-dir: the small tables a Parquet file each, those keyed by customer and exchange_rates
        # (the tables that grow) a dataset directory
        datasets = {
            "customers",
            "sales_transactions",
            "invoices",
            "sales_orders",
            "deliveries",
            "payments",
            "customer_lifecycle",
            "lifecycle_events",
            "exchange_rates",
        }
        files = {t if t in datasets else f"{t}.parquet" for t in known - {"alembic_version"}}
        super().__init__("parquet", directory, files)

    def put_foreign(self) -> None:
        self.directory.mkdir()
        (self.directory / "notes.txt").write_text("keep me")
        (self.directory / "customers.parquet").write_text("their own customers, by the same name\n")

    def digests(self) -> dict[str, str]:
        return parquet_digests(self.directory)

    def recorded_digest_matches(self, erpgen) -> bool:
        import pyarrow.parquet as pq

        (run,) = pq.read_table(self.directory / "erpgen_runs.parquet").to_pylist()
        return run["status"] == "COMPLETE" and json.loads(run["content_digest"]) == self.digests()


class Delta(Directory):
    def __init__(self, directory: Path, known: frozenset[str]):
        # --delta-dir: "every table as a Delta table", a directory each
        super().__init__("delta", directory, set(known - {"alembic_version"}))

    def digests(self) -> dict[str, str]:
        from erpgen.digest import delta_digests

        return delta_digests(self.directory)

    def put_foreign(self) -> None:
        self.directory.mkdir()
        (self.directory / "notes.txt").write_text("keep me")
        (self.directory / "customers").mkdir()
        (self.directory / "customers" / "theirs.csv").write_text("their own customers, by the same name\n")

    def recorded_digest_matches(self, erpgen) -> bool:
        from deltalake import DeltaTable

        (run,) = DeltaTable(str(self.directory / "erpgen_runs")).to_pyarrow_table().to_pylist()
        return run["status"] == "COMPLETE" and json.loads(run["content_digest"]) == self.digests()


@pytest.fixture
def target(name, request, tmp_path, reference) -> Target:
    known = reference.tables
    if name == "sqlite":
        return Sqlite(tmp_path / "sqlite", known)
    if name == "duckdb":
        pytest.importorskip("duckdb_engine")
        return Duckdb(tmp_path / "duckdb", known)
    if name == "postgresql":
        return Postgres(name, request.getfixturevalue("pg_url"), known)
    if name == "mariadb":
        return Mariadb(request.getfixturevalue("mysql_url"), known)
    if name == "csv":
        return Csv(tmp_path / "csv")
    if name == "parquet":
        pytest.importorskip("pyarrow")
        return Parquet(tmp_path / "parquet", known)
    if name == "delta":
        pytest.importorskip("deltalake")
        return Delta(tmp_path / "delta", known)
    if name == "dask":
        pytest.importorskip("distributed")
        return DaskOnPostgres(
            request.getfixturevalue("pg_url"), known, request.getfixturevalue("dask_scheduler")
        )
    raise AssertionError(name)


def load(erpgen, target: Target, *args: str):
    r = erpgen("generate", *target.args(), *args)
    assert r.code == 0, r
    return r


# -- (a) the same content as SQLite ---------------------------------------------------------------------
@pytest.mark.parametrize("name", TARGETS)
def test_a_the_same_seed_gives_the_content_sqlite_holds(name, target, reference, erpgen):
    load(erpgen, target, *DATASET, *SPEED_ONLY[name], "-q")
    assert target.digests() == reference.expected(name)
    assert target.leftovers() == []
    if isinstance(target, Directory):
        # the export's own files (or, for Delta, table folders), nothing else
        assert sorted({entry.split("/")[0] for entry in target.state()}) == sorted(target.files)
    if SUPPORTS[name].record is None:
        assert not any("erpgen_runs" in entry for entry in target.state()), target.state()
    else:
        assert target.recorded_digest_matches(erpgen)


def test_a_the_digest_tells_two_seeds_apart(reference, tmp_path, erpgen):
    """(a) compares digests: they must see the data, not only its shape."""
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert erpgen("generate", *DATASET, "--seed", "8", "--database-url", other, "-q").code == 0
    theirs = digests(other)
    assert theirs.keys() == reference.full.keys()
    for table in ("customers", "sales_transactions", "customer_lifecycle", "lifecycle_events"):
        assert theirs[table] != reference.full[table], table


# -- (b) a fault mid-load leaves the target as it was ---------------------------------------------------
KILLS = [  # (target, when the kill lands, what the target held before)
    ("sqlite", "facts", "nothing"),  # a new file is built under a scratch name
    ("sqlite", "facts", "a dataset"),  # an existing one is loaded in place, in one transaction
    ("sqlite", "keys", "a dataset"),
    ("duckdb", "facts", "nothing"),  # a new file is built under a scratch name
    ("duckdb", "facts", "a dataset"),  # an existing one is loaded in place, in one transaction
    ("postgresql", "facts", "a dataset"),
    ("postgresql", "keys", "a dataset"),
    ("mariadb", "facts", "a dataset"),
    ("mariadb", "keys", "a dataset"),  # the scratch database is complete: only the RENAME is left
    ("csv", "facts", "a dataset"),
    ("parquet", "facts", "a dataset"),
    ("delta", "facts", "a dataset"),
    ("dask", "facts", "a dataset"),
]


@pytest.mark.parametrize(("name", "phase", "before"), KILLS)
def test_b_kill_9_mid_load_leaves_the_target_as_it_was(name, phase, before, target, small, spawn, erpgen):
    replace = []
    if before == "a dataset":
        load(erpgen, target, *PREVIOUS, "-q")
        replace = ["--replace"]
    was = target.state()
    assert (was is None or was == {}) == (before == "nothing")
    args = target.own_cluster_args() if isinstance(target, DaskOnPostgres) else target.args()
    proc = spawn(*args, *BIG, *replace)
    dask = isinstance(target, DaskOnPostgres)
    wait_for(proc, DASK_FACTS_STARTED if dask and phase == "facts" else PHASES[phase])
    kill(proc)
    target.settle(proc.pid)
    now = target.state()
    if (prefix := SUPPORTS[name].killed_leaves) is not None:
        now = {table: rows for table, rows in now.items() if not table.startswith(prefix)}
    assert now == was
    # the next run succeeds, with the same options, and clears what the killed one left
    load(erpgen, target, *SMALL, *replace, "-q")
    assert target.digests() == small.expected(name)
    assert target.leftovers(proc.pid) == []


@pytest.mark.parametrize("name", [t for t in TARGETS if SUPPORTS[t].server])
def test_b_the_server_closing_the_connection_mid_load(name, target, small, spawn, erpgen):
    load(erpgen, target, *PREVIOUS, "-q")
    was = target.state()
    proc = spawn(*target.args(), *BIG, "--replace", "-q")
    assert target.close_connection(proc), "the fact load was never seen on the server"
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    *stray, last = err.strip().splitlines()
    assert last.startswith("erpgen: error: loading into ") and "nothing was committed" in last, err
    assert stray == [], err
    target.settle(proc.pid)
    assert target.state() == was
    assert target.leftovers(proc.pid) == []  # a failed run clears its own scratch
    load(erpgen, target, *SMALL, "--replace", "-q")
    assert target.digests() == small.expected(name)


# -- (c) someone else's data in the target --------------------------------------------------------------
@pytest.mark.parametrize("name", TARGETS)
def test_c_someone_elses_data_is_refused_or_left_alone(name, target, small, erpgen):
    target.put_foreign()
    was = target.state()
    r = erpgen("generate", *target.args(), *SMALL, "-q")
    if SUPPORTS[name].foreign == "refuses":
        assert_one_clean_line(r, "already holds data in table(s) their_orders", "--replace")
        assert target.state() == was
        r = erpgen("generate", *target.args(), *SMALL, "--replace", "-q")  # beside theirs
    else:  # their file of the same name is replaced, the others are left alone, --replace or not
        assert r.code == 0, r
        assert target.state() != was
        r = erpgen("generate", *target.args(), *SMALL, "--replace", "-q")
    assert r.code == 0, r
    assert target.foreign_intact()
    assert target.digests() == small.expected(name)


@pytest.mark.parametrize("name", TARGETS)
def test_c_a_previous_dataset_is_refused_or_replaced(name, target, small, erpgen):
    load(erpgen, target, *PREVIOUS, "-q")
    was = target.state()
    r = erpgen("generate", *target.args(), *SMALL, "-q")
    if SUPPORTS[name].foreign == "refuses":
        assert_one_clean_line(r, "already holds an erpgen dataset", "--replace")
        assert target.state() == was
        r = erpgen("generate", *target.args(), *SMALL, "--replace", "-q")
    assert r.code == 0, r
    assert target.digests() == small.expected(name)
    assert target.leftovers() == []


@pytest.mark.parametrize("name", [t for t in TARGETS if SUPPORTS[t].foreign == "refuses"])
def test_c_tables_named_like_erpgens_are_refused_even_with_replace(name, target, erpgen):
    """erpgen never drops a table it did not make, whatever its name."""
    target.execute(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(20))",
        "INSERT INTO customers VALUES (1, 'kept')",
    )
    was = target.state()
    r = erpgen("generate", *target.args(), *PREVIOUS, "--replace")
    assert_one_clean_line(r, "already has table(s) named customers that erpgen did not create")
    assert target.state() == was
    assert list(was) == ["customers"]


# -- (d) --resume ---------------------------------------------------------------------------------------
def _written(r) -> int:
    """Fact lines a run wrote itself, from its last progress line for the table."""
    counts = re.findall(r"^erpgen: sales_transactions ([\d,]+) rows$", r.err, re.M)
    assert counts, r
    return int(counts[-1].replace(",", ""))


@pytest.mark.parametrize("name", TARGETS)
def test_d_resume_carries_on_where_supported_and_is_refused_elsewhere(name, target, reference, spawn, erpgen):
    waits = SUPPORTS[name].resume
    was = target.state()
    if waits is None:
        r = erpgen("generate", *target.args(), *DATASET, "--resume")
        assert_one_clean_line(r, RESUME_REFUSAL[name])
        assert target.state() == was  # nothing written: no directory, no table
        return

    args = [*target.args(), *DATASET, "--block-size", "50"]  # 50 blocks, each committed on its own
    proc = spawn(*args, "--resume")
    deadline = time.monotonic() + 120
    while target.blocks_done() < 3:  # killed early: most blocks are still to come
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.01)
    kill(proc)
    target.settle(proc.pid)
    if waits == "in the target":
        assert target.run_statuses() == ["LOADING"]
    else:
        assert target.state() == was
    # a plain run is told what is there; other options are refused; the same options carry on
    assert_one_clean_line(erpgen("generate", *args), "interrupted --resume load", "--resume")
    other = erpgen("generate", *args, "--resume", "--seed", "43")
    assert_one_clean_line(other, "was started with other parameters", "same options")
    done = erpgen("generate", *args, "--resume")
    assert done.code == 0, done
    assert 0 < _written(done) < reference.lines  # it carried on, and did not start again
    assert target.digests() == reference.full
    assert target.recorded_digest_matches(erpgen)
    assert target.leftovers(proc.pid) == []
