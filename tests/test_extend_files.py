"""`erpgen extend` on the exports (--csv-dir, --parquet-dir, --delta-dir) and on DuckDB: in two steps across
a year end, the same content as SQLite's extension in one; what was written before kept byte for byte but
for the truth learnt later; a day already covered changes nothing; a second run is refused while one
writes; a killed extension leaves the files as they were, and the next one carries on.

Each dataset is made once per module; each test extends a copy of its own."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from erpgen.cli import main
from erpgen.digest import csv_digests, delta_digests, parquet_digests

from .helpers import FACTS_STARTED, assert_one_clean_line, digests, kill, snapshot, start, wait_for

pytest.importorskip("pyarrow")
pytest.importorskip("deltalake")
pytest.importorskip("duckdb_engine")

SMALL = ["--n-customers", "400", "--date-from", "2020-01-01", "--date-till", "2021-12-31", "--seed", "3"]
MID, END = "2022-02-15", "2022-03-31"  # two steps after the old end, 2021-12-31: the second adds to 2022
KINDS = ["csv", "parquet", "delta", "duckdb"]


def _make(where: Path, n_customers: str) -> Path:
    """One load into SQLite and the three exports at once, and one into DuckDB, with the same flags."""
    args = [*SMALL, "--n-customers", n_customers, "-q"]
    exports = [f"--{kind}-dir" for kind in ("csv", "parquet", "delta")]
    assert main(["generate", *args, "--database-url", f"sqlite:///{where / 'shop.db'}",
                 *(x for flag in exports for x in (flag, str(where / flag[2:-4])))]) == 0  # fmt: skip
    assert main(["generate", *args, "--database-url", f"duckdb:///{where / 'shop.duckdb'}"]) == 0
    return where


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """The small datasets, and SQLite's one-step extension of them to END (reference.db)."""
    where = _make(tmp_path_factory.mktemp("made"), "400")
    shutil.copy(where / "shop.db", where / "reference.db")
    assert main(["extend", "--database-url", f"sqlite:///{where / 'reference.db'}", "--till", END, "-q"]) == 0
    return where


@pytest.fixture(scope="module")
def larger(tmp_path_factory) -> Path:
    """Datasets whose extension to 2030 takes long enough to be killed in the middle of it."""
    return _make(tmp_path_factory.mktemp("larger"), "3000")


def _copy(source: Path, kind: str, tmp_path: Path) -> list[str]:
    """A copy of the `kind` target in `source` for this test alone: the extend arguments naming it."""
    if kind == "duckdb":
        shutil.copy(source / "shop.duckdb", tmp_path / "shop.duckdb")
        return ["--database-url", f"duckdb:///{tmp_path / 'shop.duckdb'}"]
    shutil.copytree(source / kind, tmp_path / kind)
    return [f"--{kind}-dir", str(tmp_path / kind)]


def _state(kind: str, args: list[str]) -> dict[str, str]:
    """Every file a reader sees (hidden scratch aside) and a hash of its bytes; DuckDB: every table's rows."""
    if kind == "duckdb":
        return snapshot(args[1])
    folder = Path(args[1])
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    }


def _digests(kind: str, args: list[str]) -> dict[str, str]:
    read = {"csv": csv_digests, "parquet": parquet_digests, "delta": delta_digests}
    return digests(args[1]) if kind == "duckdb" else read[kind](args[1])


def _record(kind: str, args: list[str]) -> dict:
    """The latest run record the export holds."""
    folder = Path(args[1])
    if kind == "csv":
        import csv

        with open(folder / "erpgen_runs.csv", newline="") as f:
            runs = list(csv.DictReader(f))
        runs = [{**r, "run_id": int(r["run_id"])} for r in runs]
    elif kind == "parquet":
        import pyarrow.parquet as pq

        runs = pq.read_table(folder / "erpgen_runs.parquet").to_pylist()
    else:
        from deltalake import DeltaTable

        runs = DeltaTable(str(folder / "erpgen_runs")).to_pyarrow_table().to_pylist()
    return max(runs, key=lambda r: r["run_id"])


@pytest.mark.parametrize("kind", KINDS)
def test_two_steps_give_sqlites_one_step_and_keep_what_was_written(kind, made, tmp_path, erpgen):
    args = _copy(made, kind, tmp_path)
    before = _state(kind, args)
    for till in (MID, END):
        r = erpgen("extend", *args, "--till", till, "-q")
        assert r.code == 0, r
    reference = f"sqlite:///{made / 'reference.db'}"
    assert _digests(kind, args) == digests(reference, seed_columns_only=kind == "csv")
    if kind == "duckdb":
        r = erpgen("verify", *args)
        # a database: the extension read the story so far from it, and verify simulates the rest
        assert r.code == 0 and "content matches the digest simulated to where the data ends" in r.out, r
        r = erpgen("validate", *args)
        assert r.code in (0, 1) and "integrity" in r.out.lower(), (
            r
        )  # 400 customers miss some business targets
    else:  # the record holds the digests of the whole tables (CSV keeps only some of their columns)
        record = _record(kind, args)
        assert record["run_id"] == 3 and str(record["covers_till"]) == END
        assert json.loads(record["content_digest"]) == digests(reference)
        r = erpgen("verify", *args)
        match = "row counts match the record" if kind == "csv" else "content matches the recorded digest"
        assert r.code == 0 and match in r.out, r
    after = _state(kind, args)
    # nothing written before is rewritten, but for the truth learnt later and the record
    rewritten = {
        # the orders that moved on and the deliveries that arrived are set where they stand
        "csv": {"sales_orders.csv", "deliveries.csv"},
        "parquet": {
            "customer_lifecycle/part-000000.parquet",
            "sales_orders/part-000000.parquet",
            "deliveries/part-000000.parquet",
            "erpgen_runs.parquet",
        },
        "delta": set(),
        "duckdb": {
            "exchange_rates",
            "customer_lifecycle",
            "erpgen_runs",
            "customers",
            "lifecycle_events",
            "sales_transactions",
            "invoices",
            "sales_orders",
            "deliveries",
            "payments",
        },
    }[kind]
    for name, digest in before.items():
        if kind == "csv" and name not in rewritten:
            old = (made / "csv" / name).read_bytes()
            assert (Path(args[1]) / name).read_bytes()[: len(old)] == old, name  # rows appended only
        elif name not in rewritten:
            assert after[name] == digest, name
    if kind == "parquet":  # a year that had lines already gets one more file
        assert sorted(p.name for p in (Path(args[1]) / "sales_transactions" / "year=2022").iterdir()) == [
            "part-run000002.parquet",
            "part-run000003.parquet",
        ]
    if kind == "delta":
        from deltalake import DeltaTable

        sales = DeltaTable(str(Path(args[1]) / "sales_transactions"))
        assert sales.version() == 2 and sales.metadata().partition_columns == ["year"]
        history = DeltaTable(str(Path(args[1]) / "customer_lifecycle")).history()
        assert [h["operation"] for h in reversed(history)] == ["WRITE"] * 3  # created, overwritten twice
        assert [h["operationParameters"]["mode"] for h in reversed(history)][1:] == ["Overwrite"] * 2
    # a day already covered: nothing written, and it says so
    r = erpgen("extend", *args, "--till", MID)
    assert r.code == 0 and "already covers" in r.out and "nothing to do" in r.out, r
    assert _state(kind, args) == after
    assert not [p for p in tmp_path.rglob(".erpgen-*")]  # no scratch left


@pytest.mark.parametrize("kind", ["csv", "parquet", "delta"])
def test_a_second_run_while_one_writes_is_refused(kind, made, tmp_path, erpgen):
    args = _copy(made, kind, tmp_path)
    before = _state(kind, args)
    fd = os.open(args[1], os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # what a first extension holds while it writes
        r = erpgen("extend", *args, "--till", END)
    finally:
        os.close(fd)
    assert_one_clean_line(r, "another erpgen run is writing to")
    assert _state(kind, args) == before


@pytest.mark.parametrize("kind", KINDS)
def test_a_killed_extend_leaves_the_files_as_they_were(kind, larger, tmp_path, erpgen):
    args = _copy(larger, kind, tmp_path)
    before = _state(kind, args)
    proc = start(*args, "--till", "2030-12-31", cwd=tmp_path, command="extend")
    try:
        wait_for(proc, FACTS_STARTED)  # the new customers are written, in the scratch folder or transaction
    finally:
        kill(proc)
    assert _state(kind, args) == before
    r = erpgen("extend", *args, "--till", "2022-01-31", "-q")  # and it carries on
    assert r.code == 0, r
    assert not [p for p in tmp_path.rglob(".erpgen-*")]  # the killed run's scratch is gone with it
    if kind in ("parquet", "delta"):
        assert json.loads(_record(kind, args)["content_digest"]) == _digests(kind, args)
    elif kind == "duckdb":
        assert erpgen("verify", *args).code == 0


def _tamper(kind: str, folder: Path) -> str:
    """Change one table of an export as another program would: the table changed."""
    if kind == "csv":
        path = folder / "sales_transactions.csv"
        lines = path.read_bytes().splitlines(keepends=True)
        path.write_bytes(b"".join(lines[:-1]))  # one line fewer
        return "sales_transactions"
    if kind == "parquet":
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        path = folder / "products.parquet"
        data = pq.read_table(path)
        pq.write_table(data.filter(pc.field("product_id") != data["product_id"][0]), path)
        return "products"
    from deltalake import DeltaTable

    DeltaTable(str(folder / "stores")).delete("store_id = 101")  # a commit of its own, as a reader sees it
    return "stores"


@pytest.mark.parametrize("kind", ["csv", "parquet", "delta"])
def test_verify_names_the_table_another_program_changed(kind, made, tmp_path, erpgen):
    args = _copy(made, kind, tmp_path)
    assert erpgen("verify", *args).code == 0
    table = _tamper(kind, Path(args[1]))
    r = erpgen("verify", *args)
    assert r.code == 1 and "1 table(s) differ" in r.out, r
    assert [line.split()[1] for line in r.out.splitlines() if line.strip().startswith("DIFF")] == [table], r
