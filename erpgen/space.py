"""A full disk: which place ran out of room, and how much the run needs there, in one line.

A load writes in up to five places: the SQLite file's folder (its scratch file, renamed into place when
complete), a database server, the CSV and Parquet folders (their scratch folders inside them), and the
temporary directory (TMPDIR), where finished blocks wait for their turn and MariaDB's LOAD DATA files are
made. "Run it again" would only hit the same wall, so the message names the place that is full, what it
has free and about how much the run needs there (erpgen.estimation's sizes per row).
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from erpgen import urls
from erpgen.config import GenerateConfig, RunOptions
from erpgen.errors import TargetError

FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
POSTGRES_DISK_FULL = "53100"  # SQLSTATE disk_full
MYSQL_DISK_FULL = (1021, 1114)  # ER_DISK_FULL, ER_RECORD_FILE_FULL ("The table is full")
SCRATCH_BYTES_PER_LINE = 60  # a simulated block's facts as pickled into a scratch file, per line


def is_disk_full(exc: BaseException) -> bool:
    """Whether a driver or file-system error says that a disk (or a quota) is full."""
    orig = getattr(exc, "orig", None) or exc
    if isinstance(orig, OSError):
        return orig.errno in FULL_ERRNOS
    if isinstance(orig, sqlite3.Error):
        return getattr(orig, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    if getattr(orig, "sqlstate", None) == POSTGRES_DISK_FULL:
        return True
    args = getattr(orig, "args", ())
    text = str(args[1]) if len(args) == 2 else ""
    return bool(args) and (args[0] in MYSQL_DISK_FULL or "Errcode: 28" in text)


@dataclass(frozen=True)
class Clue:
    """What a disk-full error says about where: kept apart from the error, whose frames hold the scratch
    files open (their space is freed only once the error is gone)."""

    filename: str | None  # the file being written, when the file system said so
    from_server: bool  # a database server said so

    @classmethod
    def of(cls, exc: BaseException) -> Clue:
        orig = getattr(exc, "orig", None) or exc
        filename = getattr(orig, "filename", None) if isinstance(orig, OSError) else None
        return cls(
            os.fsdecode(filename) if filename else None, not isinstance(orig, (OSError, sqlite3.Error))
        )


@dataclass
class Place:
    """Somewhere a run writes: a folder (its file system's free space can be read) or a server."""

    what: str  # "the SQLite file's folder", ...
    where: str  # a folder, or the server's URL (password masked)
    needs: int  # bytes the run writes there, about
    hint: str
    folder: Path | None = None  # None: a database server

    def free(self) -> int | None:
        if self.folder is None:
            return None
        return shutil.disk_usage(_existing(self.folder)).free


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def places(cfg: GenerateConfig, options: RunOptions, lines: int) -> list[Place]:
    """Where the run writes, with what it needs in each place (`lines`: its sales lines, about)."""
    from erpgen.estimation import output_bytes

    n = cfg.n_customers
    out: list[Place] = []
    if not options.no_database:
        url = urls.parse(options.database_url or urls.DEFAULT_URL)
        backend = url.get_backend_name()
        if backend == "sqlite":
            path = urls.sqlite_path(url).resolve()
            out.append(Place("the SQLite file's folder", str(path.parent), output_bytes("sqlite", lines, n),
                             "free some space there or put the file elsewhere with --database-url",
                             path.parent))  # fmt: skip
        else:
            out.append(Place("the database server", urls.mask(url), output_bytes(backend, lines, n),
                             "free space on the database server's disk, or load fewer --n-customers"))  # fmt: skip
    for what, directory, kind in (
        ("CSV", options.csv_dir, "csv"),
        ("Parquet", options.parquet_dir, "parquet"),
    ):
        if directory:
            folder = Path(directory).resolve()
            out.append(Place(f"the {what} folder", str(folder), output_bytes(kind, lines, n),
                             f"free some space there or choose another --{kind}-dir", folder))  # fmt: skip
    block_lines = lines * min(n, options.block_size) // max(1, n)
    temp = Path(tempfile.gettempdir()).resolve()
    in_flight = block_lines * SCRATCH_BYTES_PER_LINE * (options.workers + 2)
    out.append(Place("the scratch folder (TMPDIR)", str(temp), in_flight,
                     "set TMPDIR to a folder with more room", temp))  # fmt: skip
    return out


def full_place(clue: Clue, candidates: list[Place]) -> Place | None:
    """The place that ran out: the one the error names, else the one with less room than the run needs
    there (its file system's other places counted in); None if every place has that room now."""
    if clue.filename:
        path = Path(clue.filename).resolve()
        named = [p for p in candidates if p.folder is not None and path.is_relative_to(p.folder)]
        if named:
            return max(named, key=lambda p: len(p.folder.parts))  # type: ignore[union-attr]
    if clue.from_server:
        servers = [p for p in candidates if p.folder is None]
        if servers:
            return servers[0]
    folders = [p for p in candidates if p.folder is not None]
    for place in folders:
        device = os.stat(_existing(place.folder)).st_dev  # type: ignore[arg-type]
        together = sum(p.needs for p in folders if os.stat(_existing(p.folder)).st_dev == device)  # type: ignore[arg-type]
        if (place.free() or 0) < together:
            return place
    return None


def disk_full_error(clue: Clue, cfg: GenerateConfig, options: RunOptions, lines: int) -> TargetError:
    """The one line for a full disk: where, what is free there, about how much the run needs."""
    candidates = places(cfg, options, lines)
    place = full_place(clue, candidates)
    if place is None:  # room everywhere now: a quota, or something else that filled the disk and left
        shown = "; ".join(f"{p.what} {p.where}: {_room(p)}" for p in candidates)
        return TargetError(
            f"a disk was full, though every place this run writes has the room it needs now ({shown}), "
            "and nothing was committed",
            "check disk quotas and what else writes there, then run it again",
        )
    return TargetError(
        f"the disk is full under {place.what} {place.where}{_room(place, ', which has ')}; this run needs "
        f"about {_size(place.needs)} there, and nothing was committed",
        place.hint,
    )


def _room(place: Place, prefix: str = "") -> str:
    free = place.free()
    if free is None:
        return f"{prefix}needs about {_size(place.needs)}" if not prefix else ""
    return f"{prefix}{_size(free)} free" + ("" if prefix else f", needs about {_size(place.needs)}")


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n} bytes"
