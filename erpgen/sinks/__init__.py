"""Output targets. One small interface (sinks.base.Sink), one module per target, drivers imported lazily."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL

from erpgen.config import RunOptions
from erpgen.sinks.base import Sink


def sinks_for(options: RunOptions) -> list[Sink]:
    """The run's targets, the database (if any) first. Nothing is opened yet."""
    from erpgen import urls

    sinks: list[Sink] = []
    if not options.no_database:
        url = urls.parse(options.database_url or urls.DEFAULT_URL)
        sinks.append(
            database_sink(
                url, replace=options.replace, resume=options.resume, lock_wait=options.lock_wait_timeout
            )
        )
    if options.csv_dir:
        sinks.append(csv_sink(options.csv_dir))
    if options.parquet_dir:
        sinks.append(parquet_sink(options.parquet_dir))
    if options.delta_dir:
        sinks.append(delta_sink(options.delta_dir))
    return sinks


def database_sink(
    url: URL, *, replace: bool, resume: bool = False, append: bool = False, lock_wait: float = 60.0
) -> Sink:
    """The sink of a database URL; append=True: one that adds to the dataset there (ExtendableSink)."""
    if url.get_backend_name() == "postgresql":
        from erpgen.sinks.postgres import PostgresSink

        return PostgresSink(url, replace=replace, resume=resume, append=append, lock_wait=lock_wait)
    if url.get_backend_name() in ("mysql", "mariadb"):
        from erpgen.sinks.mysql import MysqlSink

        return MysqlSink(url, replace=replace, resume=resume, append=append, lock_wait=lock_wait)
    if url.get_backend_name() == "duckdb":
        from erpgen.sinks.duckdb import DuckdbSink

        # DuckDB locks its file for one process
        return DuckdbSink(url, replace=replace, resume=resume, append=append)
    from erpgen.sinks.sqlite import SqliteSink

    # SQLite's write lock is told at once: nothing to wait for
    return SqliteSink(url, replace=replace, resume=resume, append=append)


def csv_sink(directory: str | Path, *, append: bool = False) -> Sink:
    from erpgen.sinks.csv import CsvSink

    return CsvSink(Path(directory), append=append)


def parquet_sink(directory: str | Path, *, append: bool = False) -> Sink:
    from erpgen.sinks.parquet import ParquetSink

    return ParquetSink(Path(directory), append=append)


def delta_sink(directory: str | Path, *, append: bool = False) -> Sink:
    from erpgen.sinks.delta import DeltaSink

    return DeltaSink(Path(directory), append=append)


__all__ = ["Sink", "sinks_for", "database_sink", "csv_sink", "parquet_sink", "delta_sink"]


def export_sink(verb: str, **directories: str | Path | None) -> Sink | None:
    """The sink of the one export directory given (csv_dir, parquet_dir, delta_dir; append=True: its files
    carry on), None when none is. `verb` ("extend", "verify") names the command in the error of two."""
    from erpgen.errors import ConfigError

    given = {flag: d for flag, d in directories.items() if d}
    if len(given) > 1:
        raise ConfigError(
            f"{verb} takes one target at a time: " + ", ".join(f"--{f.replace('_', '-')}" for f in given),
            "run it once per directory",
        )
    if not given:
        return None
    ((flag, directory),) = given.items()
    make = {"csv_dir": csv_sink, "parquet_dir": parquet_sink, "delta_dir": delta_sink}
    return make[flag](directory, append=True)
