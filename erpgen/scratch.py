"""Scratch files and folders of runs: what a run writes before its result is complete, named after its
process id so that what a killed run left behind can be told from what a live one is writing."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from erpgen.errors import TargetError


def publish(scratch: Path, path: Path) -> None:
    """Rename a finished scratch file onto `path`, durably: the file's bytes reach the disk before the
    rename, and the rename before this returns, so a crash leaves the old target or the whole new one."""
    with open(scratch, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(scratch, path)
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def remove_stale_scratch(directory: str | Path, pattern: str) -> None:
    """Delete scratch files or folders (`pattern` has one `*` standing for a process id) left by runs
    that were killed: their process is gone, so nothing will ever finish or remove them."""
    regex = re.compile(re.escape(pattern).replace(r"\*", r"(\d+)") + "$")
    for path in Path(directory).glob(pattern):
        m = regex.match(path.name)
        if not m or int(m.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(1)), 0)
            continue  # still running
        except ProcessLookupError:
            pass
        except PermissionError:
            continue  # someone else's live process
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def run_directory(prefix: str) -> str:
    """A new folder in the temporary directory, under one per process named `<prefix>-<pid>.partial`
    (the folders of processes that were killed are removed here)."""
    temp = tempfile.gettempdir()
    remove_stale_scratch(temp, f"{prefix}-*.partial")
    mine = os.path.join(temp, f"{prefix}-{os.getpid()}.partial")
    try:
        os.makedirs(mine, exist_ok=True)
        return tempfile.mkdtemp(dir=mine)
    except OSError as exc:
        raise TargetError(
            f"cannot make scratch files in {temp}: {exc.strerror}", "set TMPDIR to a writable directory"
        ) from None


def remove_if_empty(directory: str) -> None:
    """Remove a process's folder once no run of it is left inside."""
    with contextlib.suppress(OSError):
        os.rmdir(directory)


class Spill:
    """Objects pickled one after another into an anonymous scratch file, read back in order as often as
    needed; the file goes when closed (or when the process ends)."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()

    def add(self, item: object) -> None:
        pickle.dump(item, self.file, protocol=pickle.HIGHEST_PROTOCOL)

    def __iter__(self) -> Iterator:
        self.file.seek(0)
        while True:
            try:
                yield pickle.load(self.file)
            except EOFError:
                return

    def close(self) -> None:
        self.file.close()


def discard(scratch: Path, *, made_directory: bool) -> None:
    """Remove a run's scratch folder, and the folder around it when the run made that one and nothing
    else has come into it: a run that does not finish leaves no trace, not even an empty --csv-dir."""
    shutil.rmtree(scratch, ignore_errors=True)
    if made_directory:
        remove_if_empty(str(scratch.parent))


def folder_beside(directory: Path, pattern: str, *, what: str, flag: str) -> Path:
    """This process's scratch folder inside `directory` (made, with `directory`, if missing), named by
    `pattern` with its `*` standing for the process id; the folders of killed runs are removed first.
    A folder that cannot be made is a TargetError naming `what` is written and the `flag` to change."""
    scratch = directory / pattern.replace("*", str(os.getpid()))
    try:
        directory.mkdir(parents=True, exist_ok=True)
        remove_stale_scratch(directory, pattern)
        scratch.mkdir(exist_ok=True)
    except OSError as exc:
        raise TargetError(
            f"cannot write {what} in {directory}: {exc.strerror}", f"choose a writable {flag}"
        ) from None
    return scratch


def lock_directory(directory: Path, *, flag: str) -> int:
    """Keep a second erpgen run from extending the files in `directory` while this one does: an exclusive
    flock on the directory itself (held by an open descriptor, which the caller closes; the kernel lets go
    of it when the process ends, however it ends)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise TargetError(f"cannot open {directory}: {exc.strerror}", f"check {flag}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise TargetError(
            f"another erpgen run is writing to {directory}", "run it again when that one is done"
        ) from None
    return fd


def mirror(source: Path, copy: Path) -> None:
    """`copy` made a tree like `source` whose files are hard links to source's: erpgen never writes into a
    published file again (it writes a new one and renames it), so both trees may share them until one
    takes the other's place. Copied where the file system has no hard links."""
    for folder, _, files in os.walk(source):
        here = copy / Path(folder).relative_to(source)
        here.mkdir(parents=True, exist_ok=True)
        for name in files:
            try:
                os.link(Path(folder) / name, here / name)
            except OSError:
                shutil.copy2(Path(folder) / name, here / name)
