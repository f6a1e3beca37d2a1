"""What the file targets (CSV, Parquet, Delta) share: a directory whose files are written in a scratch
folder beside them and moved into place at commit, so that the directory never holds a half-written
export; and, for `erpgen extend`, a lock on the directory, so that a second extension waits its turn."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from erpgen.scratch import discard, folder_beside, lock_directory
from erpgen.sinks.base import ExtendableSink


class FolderSink(ExtendableSink):
    SCRATCH: str  # the scratch folder's name, `*` standing for the process id
    KIND: str  # the files' format, as describe() names it
    FLAG: str  # the option that names the directory

    def __init__(self, directory: Path, *, append: bool = False):
        self.directory = directory
        self.append = append  # `erpgen extend`: the existing files carry on
        self.scratch = directory / self.SCRATCH.replace("*", str(os.getpid()))
        self.made_directory = False  # whether this run made the directory (begin)
        self.lock: int | None = None

    def describe(self) -> str:
        return f"{self.directory}/ ({self.KIND})"

    def begin(self) -> None:
        if self.append:
            self.lock = lock_directory(self.directory, flag=self.FLAG)
        self.made_directory = not self.directory.exists()
        self.scratch = folder_beside(self.directory, self.SCRATCH, what=f"{self.KIND} files", flag=self.FLAG)

    def abort(self) -> None:
        discard(self.scratch, made_directory=self.made_directory)
        self._unlock()

    def recomputed(self, record: dict) -> tuple[dict[str, str], dict[str, str]]:
        """`erpgen verify`: what the run record says of each table, and the same recomputed from the files
        (content digests, erpgen.digest)."""
        return json.loads(record["content_digest"]), self.content_digests()

    def content_digests(self) -> dict[str, str]:
        raise NotImplementedError

    def _committed(self) -> None:
        """After the files have moved into place: the scratch folder goes, the lock is let go."""
        shutil.rmtree(self.scratch, ignore_errors=True)
        self._unlock()

    def _unlock(self) -> None:
        if self.lock is not None:
            os.close(self.lock)
            self.lock = None
