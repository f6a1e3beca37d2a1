"""`erpgen verify`: recompute a loaded database's content digests and compare them with the recorded ones.

Every completed load records a SHA-256 digest of each table's content in erpgen_runs (erpgen.runlog);
verify() hashes what the database holds now the same way (erpgen.digest) and says which tables differ.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class VerifyResult:
    """What verify() found: the target (password masked), the recorded load's seed, scenario and commit
    time, and per table the digest recorded at load time and the one computed now."""

    target: str
    seed: int
    scenario: str
    loaded_at: dt.datetime | None
    recorded: dict[str, str]
    actual: dict[str, str]
    checked: str = "digest"  # what recorded and actual hold: content digests, or row counts (CSV)

    @property
    def differing(self) -> list[str]:
        """Tables whose content differs from the recorded digest (or is recorded on one side only)."""
        tables = sorted(set(self.recorded) | set(self.actual))
        return [t for t in tables if self.recorded.get(t) != self.actual.get(t)]

    @property
    def ok(self) -> bool:
        return not self.differing

    def render(self) -> str:
        lines = [
            f"erpgen verify: {self.target} (seed {self.seed}, scenario {self.scenario}, "
            f"loaded {self.loaded_at})"
        ]
        bad = set(self.differing)
        for table in sorted(set(self.recorded) | set(self.actual)):
            state = "DIFF" if table in bad else "ok  "
            lines.append(f"  {state}  {table:<20} {self.actual.get(table, '-')[:16]}")
        what = {
            "digest": "content matches the recorded digest",
            "simulated digest": "content matches the digest simulated to where the data ends",
        }.get(self.checked, "row counts match the record")
        lines.append(what if not bad else f"{len(bad)} table(s) differ from the recorded {self.checked}")
        return "\n".join(lines)


def verify(
    *,
    database_url: str | None = None,
    csv_dir: str | os.PathLike | None = None,
    parquet_dir: str | os.PathLike | None = None,
    delta_dir: str | os.PathLike | None = None,
) -> VerifyResult:
    """Recompute the content digest of the database at `database_url` (default sqlite:///erpgen.db), or of
    the one export directory given instead, and compare it with the one its run recorded (a CSV export:
    its row counts). Raises TargetError when there is nothing to verify: no such file, no completed erpgen
    load, or a load that recorded no digest."""
    from erpgen.sinks import export_sink

    sink = export_sink("verify", csv_dir=csv_dir, parquet_dir=parquet_dir, delta_dir=delta_dir)
    if sink is not None:
        return _verify_files(sink)
    from sqlalchemy import inspect
    from sqlalchemy.exc import DBAPIError

    from erpgen import runlog, urls
    from erpgen.database import connect, describe_db_error
    from erpgen.digest import database_digests
    from erpgen.errors import TargetError
    from erpgen.schema import CUSTOMER_TABLES, erpgen_runs

    by_customer = {t.name for t in CUSTOMER_TABLES}

    url = urls.parse(database_url or urls.DEFAULT_URL)
    target = urls.mask(url)
    if urls.missing_file(url):
        raise TargetError(f"{target} does not exist", "generate a dataset first, or fix --database-url")
    with connect(url) as conn:
        run = None
        if erpgen_runs.name in inspect(conn).get_table_names():
            try:
                run = runlog.latest_run(conn)  # an extension's record covers the whole tables
            except DBAPIError as exc:  # an erpgen_runs of an older schema
                raise TargetError(
                    f"cannot read the load record in {target}: {describe_db_error(exc, url)}",
                    "erpgen db upgrade brings an older schema up to date",
                ) from None
        run = _verifiable(run, target, "load")
        recorded = json.loads(run["content_digest"])
        if not recorded:
            raise TargetError(f"the load in {target} recorded no digest (made before erpgen 0.1's registry)")
        actual = database_digests(conn)
        conn.rollback()
    if run.get("covers_till_second") is not None or not by_customer <= set(recorded):
        # `erpgen live` stopped within a window, or an extension read the story so far from the database:
        # its record holds the masters' digests only
        from erpgen.extension import simulated_digests

        return _result(run, target, simulated_digests(run), actual, "simulated digest")
    return _result(run, target, recorded, actual)


def _verify_files(sink) -> VerifyResult:
    """verify() of an export directory: its run record read from the files, its tables recomputed."""
    from erpgen.errors import TargetError
    from erpgen.sinks.csv import CsvSink

    target = sink.describe()
    try:
        run = _verifiable(sink.run_record(), target, "run")
        recorded, actual = sink.recomputed(run)
    except (OSError, ValueError) as exc:  # a file gone or not the shape erpgen wrote
        raise TargetError(f"cannot read {target}: {exc}", "generate the export again") from None
    return _result(run, target, recorded, actual, "row count" if isinstance(sink, CsvSink) else "digest")


def _verifiable(run: dict | None, target: str, what: str) -> dict:
    """The run record, if there is one and its digests are comparable with this erpgen's."""
    from erpgen import runlog
    from erpgen.errors import TargetError

    if run is None:
        raise TargetError(f"{target} has no completed erpgen {what} to verify", "run erpgen generate first")
    runlog.check_format(
        run, target, verb="verifies", consequence="digests not comparable",
        older_fix="verify it with the erpgen that made it, or generate it again",
    )  # fmt: skip
    return run


def _result(run: dict, target: str, recorded: dict, actual: dict, checked: str = "digest") -> VerifyResult:
    return VerifyResult(
        target=target, seed=run["seed"], scenario=run["scenario"], loaded_at=run["loaded_at"],
        recorded=recorded, actual=actual, checked=checked,
    )  # fmt: skip
