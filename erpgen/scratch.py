"""Scratch files and folders of runs: what a run writes before its result is complete, named after its
process id so that what a killed run left behind can be told from what a live one is writing."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path


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
