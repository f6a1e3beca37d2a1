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

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from .helpers import FACTS_STARTED, REPO, connect, digests, end_group, start, table_names, wait_for

BIG = ["--n-customers", "20000", "--block-size", "2000", "--seed", "5", "-q"]
SMALL = ["--n-customers", "20000", "--block-size", "2000", "--seed", "5"]  # the same, with progress lines


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_user(user: str) -> list[str]:
    """initdb and mariadbd refuse to run as root: run them as the service's own user then."""
    return ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []


def wait_until(ready, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"{what} never came"
        time.sleep(0.1)


class OwnPostgres:
    kind = "postgresql"

    def __init__(self, base: Path):
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not found:
            pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin) to make a cluster with")
        self.bin, self.data, self.port = found[-1].parent, base / "data", free_port()
        self.user = as_user("postgres")
        subprocess.run([*self.user, self.bin / "initdb", "-D", self.data, "--auth=trust", "-U", "postgres",
                        "-E", "UTF8"], check=True, capture_output=True)  # fmt: skip
        self.options = f"-p {self.port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.log = base / "log"

    def _ctl(self, *args: str) -> None:
        subprocess.run([*self.user, self.bin / "pg_ctl", "-D", self.data, "-l", self.log, *args],
                       check=True, capture_output=True, timeout=120)  # fmt: skip

    def start(self) -> None:
        self._ctl("-o", self.options, "-w", "start")

    def kill(self) -> None:
        self._ctl("-m", "immediate", "stop")

    def restart(self) -> None:
        self._ctl("-m", "fast", "-o", self.options, "-w", "restart")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._ctl("-m", "immediate", "stop")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create(self, database: str) -> str:
        with connect(self.url("postgres"), isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"CREATE DATABASE {database}"))
        return self.url(database)


class OwnMariadb:
    kind = "mariadb"

    def __init__(self, base: Path):
        if not shutil.which("mariadb-install-db") or not Path("/usr/sbin/mariadbd").exists():
            pytest.skip("no MariaDB server binaries (mariadb-install-db, /usr/sbin/mariadbd)")
        self.base, self.data, self.port = base, base / "data", free_port()
        self.user = as_user("mysql")
        subprocess.run(["mariadb-install-db", f"--datadir={self.data}", "--auth-root-authentication-method=normal",
                        "--skip-test-db", *(["--user=mysql"] if self.user else [])],
                       check=True, capture_output=True)  # fmt: skip
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [*self.user, "/usr/sbin/mariadbd", "--no-defaults", f"--datadir={self.data}", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.base / 'sock'}", f"--pid-file={self.base / 'pid'}",
             "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=64M", "--skip-log-bin"],
            stdout=subprocess.DEVNULL, stderr=open(self.base / "log", "ab"), start_new_session=True,
        )  # fmt: skip
        wait_until(self._up, "MariaDB on its port")

    def _up(self) -> bool:
        assert self.proc.poll() is None, (self.base / "log").read_text()[-2000:]
        try:
            with connect(self.url("mysql"), timeout=2) as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def _signal(self, sig: int) -> None:
        pid = int((self.base / "pid").read_text())
        os.kill(pid, sig)
        wait_until(lambda: self.proc.poll() is not None, "the end of mariadbd")

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def restart(self) -> None:
        self._signal(signal.SIGTERM)
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                self._signal(signal.SIGKILL)

    def url(self, database: str) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/{database}"

    def create(self, database: str) -> str:
        with connect(self.url("mysql")) as conn:
            conn.execute(text(f"CREATE DATABASE {database}"))
        return self.url(database)


@pytest.fixture(scope="module", params=[OwnPostgres, OwnMariadb], ids=["postgresql", "mariadb"])
def server(request):
    base = Path(
        tempfile.mkdtemp(prefix="erpgen-server-")
    )  # not under pytest's tmp: the service user reads it
    os.chmod(base, 0o755)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres" if request.param is OwnPostgres else "mysql")
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
    try:
        wait_for(proc, FACTS_STARTED)
        time.sleep(1)  # into the fact lines (a --resume load has committed some blocks by then)
        (server.kill if fault == "killed" else server.restart)()
        _, err = proc.communicate(timeout=120)
    finally:
        end_group(proc)
    if fault == "killed":
        server.start()
    assert proc.returncode == 2, err
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


@pytest.mark.parametrize("fault", ["killed"])
def test_the_server_going_mid_extend(server, fault, tmp_path):
    """`erpgen extend` is one transaction too: the dataset stays as it was, and the same command carries on."""
    url = server.create(f"erpgen_extend_{fault[0]}")
    made = subprocess.run([*start_command(), "--database-url", url, "--n-customers", "20000", "--date-from",
                           "2020-01-01", "--date-till", "2021-12-31", "-q"], capture_output=True, text=True)  # fmt: skip
    assert made.returncode == 0, made.stderr
    before = digests(url)
    extend = ["--database-url", url, "--till", "2025-12-31"]
    proc = start(*extend, cwd=tmp_path, command="extend")
    try:
        wait_for(proc, FACTS_STARTED)  # its new customers are written, in its transaction
        (server.kill if fault == "killed" else server.restart)()
        _, err = proc.communicate(timeout=120)
    finally:
        end_group(proc)
    if fault == "killed":
        server.start()
    assert proc.returncode == 2, err
    assert err.strip().splitlines()[-1].startswith("erpgen: error: ") and "Traceback" not in err, err
    assert digests(url) == before
    again = subprocess.run([sys.executable, str(REPO / "cli.py"), "extend", *extend, "-q"], capture_output=True,
                           text=True, cwd=tmp_path, timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr
    verify = subprocess.run([sys.executable, str(REPO / "cli.py"), "verify", "--database-url", url],
                            capture_output=True, text=True)  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
