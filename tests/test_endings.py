"""However a run ends, every process erpgen started ends with it, no session of it stays open on the
server, and the target is as it was.

Each engine (the local process pool, and --engine dask with a cluster of erpgen's own) meets each
ending: SIGKILL and SIGTERM sent to erpgen's process alone (what it started must go because erpgen went,
not because the test killed it too); SIGTERM to its whole process group, as `timeout` and service
managers send it; Ctrl-C, which a terminal sends to the whole group; and an error (the server ends the
run's sessions, as pg_terminate_backend or a server restart does). The processes are the ones found
under erpgen's process while it was loading; they must be gone within a few seconds of the ending, and
nothing but erpgen's own lines may reach the terminal (no worker's traceback).
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from erpgen.cli import STOP_GRACE

from .helpers import (
    FACTS_STARTED,
    descendants,
    end_group,
    rows,
    sessions,
    start,
    stop_processes,
    table_names,
    wait_for,
)

BIG = ["--n-customers", "20000", "--block-size", "2000", "--workers", "2"]
ENGINES = {
    "local": ([], FACTS_STARTED),
    # its workers COPY the customers with the fact lines, so the client prints no customers line
    "dask": (["--engine", "dask"], "erpgen: products"),
}
GONE_WITHIN = 5.0  # seconds
STAGING = "erpgen_stage_"  # what a killed --engine dask run may leave, cleared by the next run (README)


def alive(pids: list[int]) -> list[int]:
    """The processes of `pids` still running (zombies, waiting for their parent to reap them, are not)."""
    running = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    running.append(pid)
        except (OSError, IndexError):
            pass
    return running


def end(proc, how: str, url: str) -> None:
    if how == "server":
        for pid in sessions(url):
            rows(url, f"SELECT pg_terminate_backend({pid})")
    elif how in ("SIGTERM to the group", "Ctrl-C"):
        os.killpg(proc.pid, signal.SIGTERM if how.startswith("SIGTERM") else signal.SIGINT)
    else:
        os.kill(proc.pid, {"SIGKILL": signal.SIGKILL, "SIGTERM": signal.SIGTERM}[how])


TERMINATED = 128 + signal.SIGTERM
EXIT = {"SIGKILL": -signal.SIGKILL, "SIGTERM": TERMINATED, "SIGTERM to the group": TERMINATED, "Ctrl-C": 130,
        "server": 2}  # fmt: skip
STOPPED = "erpgen: stopped by SIGTERM; nothing was committed"
LAST_LINE = {
    "SIGTERM": STOPPED,
    "SIGTERM to the group": STOPPED,
    "Ctrl-C": "erpgen: interrupted; nothing was committed",
}


@pytest.mark.parametrize("how", list(EXIT))
@pytest.mark.parametrize("engine", list(ENGINES))
def test_nothing_of_a_run_outlives_it(engine, how, pg_url, tmp_path):
    args, started = ENGINES[engine]
    proc = start("--database-url", pg_url, *BIG, *args, cwd=tmp_path)
    try:
        wait_for(proc, started)
        time.sleep(0.5)  # into the fact load: every worker has work, and a connection where it writes
        workers = descendants(proc.pid)
        assert len(workers) >= 2, "the run had no workers to leave behind"
        end(proc, how, pg_url)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == EXIT[how], err
        if how in LAST_LINE:
            assert err.strip().splitlines()[-1] == LAST_LINE[how]
        if how == "server":
            assert "nothing was committed" in err.strip().splitlines()[-1]
        if how != "SIGKILL":
            assert [line for line in err.splitlines() if line and not line.startswith("erpgen: ")] == [], err
        deadline = time.monotonic() + GONE_WITHIN
        while alive(workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert alive(workers) == [], f"still running {GONE_WITHIN} s after erpgen ended"
        deadline = time.monotonic() + 10  # the server notices a closed socket at its next read
        while sessions(pg_url) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sessions(pg_url) == []
        left = table_names(pg_url)
        if engine == "dask" and how == "SIGKILL":
            left = [t for t in left if not t.startswith(STAGING)]
        assert left == []
    finally:
        end_group(proc)
        for pid in alive(descendants(proc.pid)):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("second", [False, True], ids=["after the grace", "at a second SIGTERM"])
def test_a_stop_ends_a_run_whose_server_stopped_answering(second, pg_url, tmp_path):
    """SIGTERM while the server's sessions of the run are stopped: its unwinding waits on them (the end of
    its COPY, the rollback), so erpgen ends STOP_GRACE seconds after the signal, or at a second one, as
    SIGKILL would end it, with the same last line and exit code; once the sessions run again, the server
    rolls the load back."""
    proc = start("--database-url", pg_url, *BIG, cwd=tmp_path)
    stopped: list[int] = []
    try:
        wait_for(proc, FACTS_STARTED)
        workers = descendants(proc.pid)
        stopped = stop_processes(sessions(pg_url))
        assert stopped, "the run had no session on the server"
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        if second:
            time.sleep(1.0)
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=STOP_GRACE + 30)
        took = time.monotonic() - began
        lines = err.strip().splitlines()
        assert proc.returncode == TERMINATED, err
        why = (
            "a second SIGTERM came"
            if second
            else f"the run had not unwound {STOP_GRACE:g} s after SIGTERM (is the server answering?)"
        )
        assert lines[-2:] == [f"erpgen: {why}: ended at once", STOPPED], err
        assert took < STOP_GRACE if second else took >= STOP_GRACE
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        end_group(proc)
    deadline = time.monotonic() + GONE_WITHIN
    while alive(workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive(workers) == []
    deadline = time.monotonic() + 10
    while sessions(pg_url) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sessions(pg_url) == []
    assert table_names(pg_url) == []
