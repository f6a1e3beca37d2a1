"""The Dask cluster that `--engine dask` starts when it is given no `--scheduler`: a LocalCluster
(scheduler and worker processes) in a process of its own, which ends with the erpgen process that
started it however that one ends.

Why not in erpgen's own process: a LocalCluster runs its scheduler there, and the scheduler's work and
memory grow with the run (it tracks every task), so the client would no longer do constant work per
customer. Why not distributed's SubprocessCluster: its scheduler and workers outlive a client killed
with SIGKILL. Here the cluster process leads a session of its own, which its workers join; it is
told of erpgen's end three ways, and on any of them ends the whole session:
- erpgen closes the pipe to its standard input (a normal end, an exception, Ctrl-C), or dies and the
  kernel closes it;
- on Linux, the kernel sends it SIGTERM when erpgen dies (PR_SET_PDEATHSIG);
- erpgen, on its way out, kills what is left of the session.

Run by erpgen as `python -m erpgen.engines.dask_cluster PARENT_PID WORKERS`; it prints the scheduler's
address on one line, then waits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from erpgen.errors import TargetError

START_TIMEOUT = 120.0  # seconds for the cluster's first line: imports and spawned workers on a slow machine
CLOSE_TIMEOUT = 10.0  # seconds for an orderly close (workers close their connections) before SIGKILL


@contextlib.contextmanager
def cluster_process(workers: int) -> Iterator[str]:
    """A cluster of `workers` single-threaded worker processes in a session of its own: yields its
    scheduler's address; every process of it is gone when this exits."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    # the workers unpickle erpgen's functions: they import the same erpgen as this process
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "erpgen.engines.dask_cluster", str(os.getpid()), str(workers)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env,
            start_new_session=True,  # Ctrl-C at a terminal reaches erpgen, which then closes the cluster
        )  # fmt: skip
        try:
            yield _address(proc, stderr)
        finally:
            _end(proc)


def _address(proc: subprocess.Popen, stderr) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    line = b""
    while not line.endswith(b"\n") and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 256)
            if not chunk:
                break
            line += chunk
    if line.startswith(b"tcp://") and line.endswith(b"\n"):
        return line.decode().strip()
    stderr.seek(0)
    why = [s for s in stderr.read().decode(errors="replace").splitlines() if s.strip()]
    raise TargetError(
        f"the local Dask cluster did not start: {why[-1].strip() if why else 'no address within the time'}",
        "run with --workers 1, or start a cluster yourself and pass --scheduler",
    )


def _end(proc: subprocess.Popen) -> None:
    with contextlib.suppress(OSError):
        proc.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(CLOSE_TIMEOUT)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # whatever of the session is left: workers, their children
    proc.wait()
    proc.stdout.close()


# -- the cluster process -------------------------------------------------------------------------------
def _end_session(*_) -> None:
    os.killpg(0, signal.SIGKILL)


def _follow_parent(parent: int) -> None:
    signal.signal(signal.SIGTERM, _end_session)
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # erpgen went before the request was in place
        _end_session()


def main(parent: int, workers: int) -> None:
    _follow_parent(parent)
    import distributed

    cluster = distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,  # the simulation is numpy on one core per block
        processes=True,
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address=None,
        silence_logs=logging.CRITICAL,  # workers log errors of their own shutdown
    )
    sys.stdout.write(cluster.scheduler_address + "\n")
    sys.stdout.flush()
    while sys.stdin.buffer.read(4096):  # until erpgen closes the pipe, or dies
        pass
    with contextlib.suppress(Exception):
        cluster.close(timeout=CLOSE_TIMEOUT)
    _end_session()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
