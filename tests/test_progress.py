"""Progress: bars with rate on a terminal, plain lines in logs, nothing with --quiet."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

from .conftest import REPO, erpgen_process


def test_bars_on_a_terminal(tmp_path):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))  # a 120-column terminal
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "cli.py"), "generate", "--n-customers", "20000", "--database-url",
         f"sqlite:///{tmp_path / 'x.db'}"],
        stdout=subprocess.DEVNULL, stderr=slave, cwd=tmp_path,
    )  # fmt: skip
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait(timeout=120) == 0
    text = seen.decode(errors="replace")
    assert (
        "customers:   0%" in text and "rows/s" in text
    )  # a tqdm bar (total known: a percentage), with its rate


def test_plain_lines_when_not_a_terminal_and_silence_when_quiet(tmp_path):
    r = erpgen_process(
        "generate", "--n-customers", "300", "--database-url", f"sqlite:///{tmp_path}/a.db", cwd=tmp_path
    )
    assert r.code == 0
    assert "erpgen: customers 300 rows" in r.err.splitlines() and "\r" not in r.err
    assert "erpgen: keys and indexes ..." in r.err.splitlines()
    q = erpgen_process(
        "generate", "--n-customers", "300", "--database-url", f"sqlite:///{tmp_path}/b.db", "-q", cwd=tmp_path
    )
    assert q.code == 0 and q.out == "" and q.err == ""
