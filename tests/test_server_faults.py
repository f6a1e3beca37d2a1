"""The database server dies or restarts under a load: on servers of the tests' own (a PostgreSQL cluster
made with initdb, a MariaDB data directory made with mariadb-install-db, each on a free port), never on
the machine's shared ones.

For each server, each fault (killed: `pg_ctl stop -m immediate` / SIGKILL to mariadbd, then started
again; restarted: `pg_ctl restart -m fast` / SIGTERM, then started again) and each kind of load (one
transaction; --resume, committed block by block): erpgen ends with one line and exit 2, nothing of the
load is visible in the database once the server is back (the --resume load keeps its committed blocks
where the README says it waits), and the next run (the same command) lands the same data as SQLite
holds for those parameters.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from .helpers import FACTS_STARTED, REPO, digests, end_group, start, table_names, wait_for
from .servers import OwnMariadb, OwnPostgres, server_base

# erpgen is held (SIGSTOP) while the server goes, so the fault lands inside the load whatever its size: 5,000
# customers in 20 blocks (a --resume load commits a few of them in the 0.3 s it is given, of about a second
# of fact lines), not 20,000, since every case loads the dataset again and reads it all back
BIG = ["--n-customers", "5000", "--block-size", "250", "--seed", "5", "-q"]
SMALL = ["--n-customers", "5000", "--block-size", "250", "--seed", "5"]  # the same, with progress lines


@pytest.fixture(scope="module", params=[OwnPostgres, OwnMariadb], ids=["postgresql", "mariadb"])
def server(request):
    base = server_base("postgres" if request.param is OwnPostgres else "mysql")
    own = request.param(base)
    own.start()
    try:
        yield own
    finally:
        own.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def expected(tmp_path_factory) -> dict[str, str]:
    """What the parameters give in SQLite: the content every server must hold after the next run."""
    path = tmp_path_factory.mktemp("reference") / "reference.db"
    proc = subprocess.run(
        [*start_command(), "--database-url", f"sqlite:///{path}", *BIG], capture_output=True
    )
    assert proc.returncode == 0, proc.stderr
    return digests(f"sqlite:///{path}")


def start_command() -> list[str]:
    return [sys.executable, str(REPO / "cli.py"), "generate"]


# each kind of load meets each fault on one server or the other: both faults on both servers would double
# the time for no path that the others do not take
@pytest.mark.parametrize(
    "fault, load",
    [("killed", "one transaction"), ("restarted", "one transaction"), ("restarted", "--resume")],
)
def test_the_server_going_mid_load(server, fault, load, expected, tmp_path):
    database = f"erpgen_fault_{fault[0]}{load[2]}"
    url = server.create(database)
    resume = ["--resume"] if load == "--resume" else []
    proc = start("--database-url", url, *SMALL, *resume, cwd=tmp_path)
    # into the fact lines (a --resume load has committed some blocks by then)
    err = _fault_under(proc, server, fault, settle=0.3 if resume else 0)
    last = err.strip().splitlines()[-1]
    assert last.startswith("erpgen: error: ") and "Traceback" not in err, err
    assert [line for line in err.splitlines() if not line.startswith("erpgen: ")] == [], err
    if resume:
        assert "--resume" in last, last  # what to do: carry on
    else:
        assert "nothing was committed" in last, last
        assert table_names(url) == []  # the database as it was: empty
    # the next run, the same command, lands exactly the data SQLite holds
    again = subprocess.run([*start_command(), "--database-url", url, *BIG, *resume], capture_output=True,
                           text=True, cwd=tmp_path, timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert digests(url) == expected


def _fault_under(proc, server, fault: str, settle: float = 0) -> str:
    """Kill or restart `server` once `proc` is writing fact lines (and `settle` seconds more), bring it
    back, and return what `proc` printed on stderr; it must have ended with exit 2.

    erpgen is held (SIGSTOP to its process group) while the server goes: a small load finishes within a
    second on a fast machine, and the fault must land inside its transaction, not after its commit."""
    try:
        wait_for(proc, FACTS_STARTED)
        time.sleep(settle)
        os.killpg(proc.pid, signal.SIGSTOP)
        try:
            (server.kill if fault == "killed" else server.restart)()
        finally:
            os.killpg(proc.pid, signal.SIGCONT)
        _, err = proc.communicate(timeout=120)
    finally:
        end_group(proc)
    if fault == "killed":
        server.start()
    assert proc.returncode == 2, err
    return err


@pytest.mark.parametrize("fault", ["killed"])
def test_the_server_going_mid_extend(server, fault, tmp_path):
    """`erpgen extend` is one transaction too: the dataset stays as it was, and the same command carries on."""
    url = server.create(f"erpgen_extend_{fault[0]}")
    made = subprocess.run([*start_command(), "--database-url", url, "--n-customers", "5000", "--date-from",
                           "2020-01-01", "--date-till", "2021-12-31", "-q"], capture_output=True, text=True)  # fmt: skip
    assert made.returncode == 0, made.stderr
    before = digests(url)
    extend = ["--database-url", url, "--till", "2022-12-31"]
    proc = start(*extend, cwd=tmp_path, command="extend")
    err = _fault_under(proc, server, fault)  # its new customers are written, in its transaction
    assert err.strip().splitlines()[-1].startswith("erpgen: error: ") and "Traceback" not in err, err
    assert digests(url) == before
    again = subprocess.run([sys.executable, str(REPO / "cli.py"), "extend", *extend, "-q"], capture_output=True,
                           text=True, cwd=tmp_path, timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr
    verify = subprocess.run([sys.executable, str(REPO / "cli.py"), "verify", "--database-url", url],
                            capture_output=True, text=True)  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
