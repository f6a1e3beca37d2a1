"""A full disk: which place ran out of room, and how much the run needs there, in one line.

A load writes in up to five places: the SQLite file's folder (its scratch file, renamed into place when
complete), a database server, the CSV and Parquet folders (their scratch folders inside them), and the
temporary directory (TMPDIR), where finished blocks wait for their turn and MariaDB's LOAD DATA files are
made. "Run it again" would only hit the same wall, so the message names the place that is full, what it
has free and about how much the run needs there (erpgen.estimation's sizes per row).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from erpgen import urls
from erpgen.config import GenerateConfig, RunOptions
from erpgen.errors import TargetError

SCRATCH_BYTES_PER_LINE = 60  # a simulated block's facts as pickled into a scratch file, per line


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
    room_hint: str | None = None  # making room, the command unchanged (where `hint` also offers a change)

    def free(self) -> int | None:
        if self.folder is None:
            return None
        return shutil.disk_usage(_existing(self.folder)).free


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def places(
    cfg: GenerateConfig, options: RunOptions, lines: int, server_folder: str | None = None
) -> list[Place]:
    """Where the run writes, with what it needs in each place (`lines`: its sales lines, about;
    `server_folder`: where the database server keeps its data, when it said)."""
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
                             path.parent, "free some space there"))  # fmt: skip
        else:
            out.append(server_place(url, output_bytes(backend, lines, n), server_folder,
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
    out.append(temp_place(block_lines * SCRATCH_BYTES_PER_LINE * (options.workers + 2)))
    return out


def extension_places(
    url, lines: int, customers: int, simulated: int, server_folder: str | None
) -> list[Place]:
    """Where `erpgen extend` writes (the dataset, in place; its scratch file of every simulated fact line),
    with what it needs in each place: `lines` and `customers` it adds, `simulated` fact lines in all."""
    from erpgen.estimation import output_bytes

    backend = url.get_backend_name()
    needs = output_bytes(backend, lines, customers)
    if backend == "sqlite":
        folder = urls.sqlite_path(url).resolve().parent
        dataset = Place("the SQLite file's folder", str(folder), needs, "free some space there", folder)
    else:
        hint = "free space on the database server's disk, or extend to an earlier --till"
        dataset = server_place(url, needs, server_folder, hint)
    return [dataset, temp_place(simulated * SCRATCH_BYTES_PER_LINE)]


def server_place(url, needs: int, server_folder: str | None, hint: str) -> Place:
    """A database server: its disk cannot be read from here (it may be another machine's), but the folder
    it keeps its data in tells its administrator which disk to look at."""
    where = urls.mask(url) + (f" (data directory {server_folder})" if server_folder else "")
    return Place(
        "the database server", where, needs, hint, room_hint="free space on the database server's disk"
    )


def temp_place(needs: int) -> Place:
    temp = Path(tempfile.gettempdir()).resolve()
    return Place(
        "the scratch folder (TMPDIR)", str(temp), needs, "set TMPDIR to a folder with more room", temp
    )


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


def disk_full_error(
    clue: Clue, cfg: GenerateConfig, options: RunOptions, lines: int, server_folder: str | None = None
) -> TargetError:
    """The one line for a full disk under a load: where, what is free there, about how much it needs."""
    candidates = places(cfg, options, lines, server_folder)
    if options.resume:  # its committed blocks stay, and with room the same command carries on from them
        then = "then run the same command, with --resume, to carry on"
        return full_error(clue, candidates, "the blocks committed so far are kept", then)
    return full_error(clue, candidates, "nothing was committed")


def full_error(clue: Clue, candidates: list[Place], outcome: str, then: str | None = None) -> TargetError:
    """The one line for a full disk among `candidates` (where the run writes): where, what is free there,
    about how much the run needs; `outcome` says what became of the target, `then` what to do once there
    is room (unsaid: run it again)."""
    place = full_place(clue, candidates)
    if place is None:  # room everywhere now: a quota, or something else that filled the disk and left
        shown = "; ".join(f"{p.what} {p.where}: {_room(p)}" for p in candidates)
        return TargetError(
            f"a disk was full, though every place this run writes has the room it needs now ({shown}), "
            f"and {outcome}",
            f"check disk quotas and what else writes there, {then or 'then run it again'}",
        )
    return TargetError(
        f"the disk is full under {place.what} {place.where}{_room(place, ', which has ')}; this run needs "
        f"about {_size(place.needs)} there, and {outcome}",
        f"{place.room_hint or place.hint}; {then}" if then else place.hint,
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
