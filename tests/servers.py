"""Throwaway database servers of the tests' own: a PostgreSQL cluster made with initdb, a MariaDB data
directory made with mariadb-install-db, each on a free port, never the machine's shared servers (their
faults and full disks would reach every other user of them)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from .helpers import connect


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
    """`data`: the data directory (default base/data); `system`: where InnoDB's own files go (its system
    tablespace, undo and redo logs), by default the data directory."""

    kind = "mariadb"

    def __init__(self, base: Path, *, data: Path | None = None, system: Path | None = None):
        if not shutil.which("mariadb-install-db") or not Path("/usr/sbin/mariadbd").exists():
            reason = "no MariaDB server binaries (mariadb-install-db, /usr/sbin/mariadbd)"
            if os.environ.get("ERPGEN_REQUIRE_MARIADB") == "1":
                pytest.fail(f"MariaDB is required: {reason}")
            pytest.skip(reason)
        self.base, self.data, self.port = base, data or base / "data", free_port()
        self.user = as_user("mysql")
        self.innodb = [f"--innodb-{name}={system}" for name in ("data-home-dir", "log-group-home-dir",
                                                                "undo-directory")] if system else []  # fmt: skip
        subprocess.run(["mariadb-install-db", f"--datadir={self.data}", "--auth-root-authentication-method=normal",
                        "--skip-test-db", *(["--user=mysql"] if self.user else []), *self.innodb],
                       check=True, capture_output=True)  # fmt: skip
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [*self.user, "/usr/sbin/mariadbd", "--no-defaults", f"--datadir={self.data}", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.base / 'sock'}", f"--pid-file={self.base / 'pid'}",
             "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=64M", "--skip-log-bin", *self.innodb],
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


def server_base(owner: str) -> Path:
    """A folder for a server's files, not under pytest's tmp (the service user must reach it): owned by
    the service user when the tests run as root."""
    base = Path(tempfile.mkdtemp(prefix="erpgen-server-"))
    os.chmod(base, 0o755)
    if os.geteuid() == 0:
        shutil.chown(base, owner)
    return base
