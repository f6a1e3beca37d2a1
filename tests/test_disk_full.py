"""A disk that fills up under the load, on real small file systems (tmpfs mounts of a few hundred KiB,
made and unmounted by the tests; skipped where mounting is not permitted). Each place a load writes in
runs out in turn: the SQLite file's folder, the CSV and Parquet folders, the temporary directory where
finished blocks wait (TMPDIR), a PostgreSQL server's disk (a throwaway cluster whose database lives in a
tablespace on a small mount) and a MariaDB server's (a throwaway server whose data directory is on a small
mount). Every time: one line saying that the disk is full, where, what is free there and about how much
the run needs; exit 2; nothing left behind; and with room, the same command then loads."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from .conftest import REPO, run_process
from .helpers import assert_one_clean_line, connect, digests, rows, scalar, table_names
from .servers import OwnMariadb, server_base

RUN = ["generate", "--n-customers", "3000", "--date-from", "2020-01-01", "--date-till", "2024-12-31", "-q"]


@contextlib.contextmanager
def small_disk(kib: int):
    """A tmpfs of `kib` KiB mounted on a new folder: its path; unmounted and removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    folder = Path(tempfile.mkdtemp(prefix="erpgen-small-"))
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k,mode=0777", "tmpfs", str(folder)],
                          capture_output=True, text=True)  # fmt: skip
    if made.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _empty(folder: Path) -> list[str]:
    """What is left in `folder`, but the empty folders the user named."""
    return [str(p) for p in folder.rglob("*") if not p.is_dir()]


def test_sqlite_folder_full(erpgen, tmp_path):
    with small_disk(512) as disk:
        url = f"sqlite:///{disk / 'erpgen.db'}"
        r = erpgen(*RUN, "--database-url", url)
        assert_one_clean_line(r, "the disk is full under the SQLite file's folder", str(disk), "free",
                              "needs about", "nothing was committed", "--database-url")  # fmt: skip
        assert _empty(disk) == []
    assert erpgen(*RUN, "--database-url", f"sqlite:///{tmp_path / 'erpgen.db'}").code == 0  # with room


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_export_folder_full(erpgen, tmp_path, kind):
    with small_disk(256) as disk:
        folder = disk / "out"
        r = erpgen(*RUN, "--no-database", f"--{kind}-dir", folder)
        what = {"csv": "CSV", "parquet": "Parquet"}[kind]
        assert_one_clean_line(r, f"the disk is full under the {what} folder {folder}", "needs about",
                              f"--{kind}-dir")  # fmt: skip
        assert _empty(disk) == []


def test_temporary_directory_full(erpgen, tmp_path, monkeypatch):
    """Finished blocks wait in scratch files under TMPDIR; the SQLite target has room."""
    with small_disk(256) as disk:
        monkeypatch.setattr(tempfile, "tempdir", str(disk))
        target = tmp_path / "erpgen.db"
        r = erpgen(*RUN, "--workers", "2", "--block-size", "1000", "--database-url", f"sqlite:///{target}")
        assert_one_clean_line(r, f"the disk is full under the scratch folder (TMPDIR) {disk}", "set TMPDIR")
        assert _empty(disk) == [] and not target.exists() and list(tmp_path.iterdir()) == []


def test_temporary_directory_full_in_a_real_process(tmp_path):
    """The same through the command a user types, TMPDIR set in its environment."""
    with small_disk(256) as disk:
        target = tmp_path / "erpgen.db"
        r = run_process([sys.executable, str(REPO / "cli.py"), *RUN, "--workers", "2", "--block-size",
                         "1000", "--database-url", f"sqlite:///{target}"], cwd=tmp_path,
                        env={"TMPDIR": str(disk)}, timeout=300)  # fmt: skip
        assert_one_clean_line(r, "the disk is full under the scratch folder (TMPDIR)", str(disk))
        assert _empty(disk) == [] and not target.exists()


@pytest.fixture(scope="module")
def tablespace_server():
    """A throwaway PostgreSQL cluster (the machine's initdb and pg_ctl, run as postgres, on a free port)
    with a tablespace `small` on a 2 MiB tmpfs: its URL without a database, the tablespace's folder, and
    how to run its client programs."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    runuser = shutil.which("runuser")
    if not bins or not runuser or os.geteuid() != 0:
        pytest.skip("needs PostgreSQL's server binaries and root to run them as postgres")
    base = Path(tempfile.mkdtemp(prefix="erpgen-fullpg-"))
    os.chmod(base, 0o777)
    data = base / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def as_postgres(*cmd: str) -> None:
        subprocess.run([runuser, "-u", "postgres", "--", *cmd], check=True, capture_output=True, timeout=120)

    with small_disk(2048) as disk:
        shutil.chown(disk, "postgres", "postgres")
        as_postgres(f"{bins[-1]}/initdb", "-D", str(data), "-U", "postgres", "--auth=trust")
        as_postgres(f"{bins[-1]}/pg_ctl", "-D", str(data), "-w", "-l", str(base / "log"),
                    "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1", "start")  # fmt: skip
        try:
            as_postgres(f"{bins[-1]}/psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c",
                        f"CREATE TABLESPACE small LOCATION '{disk}'")  # fmt: skip
            yield f"postgresql://postgres@127.0.0.1:{port}", disk, as_postgres, bins[-1]
        finally:
            subprocess.run([runuser, "-u", "postgres", "--", f"{bins[-1]}/pg_ctl", "-D", str(data), "-m",
                            "immediate", "stop"], capture_output=True, timeout=60)  # fmt: skip
            shutil.rmtree(base, ignore_errors=True)


def test_database_server_disk_full(erpgen, tablespace_server):
    server, disk, as_postgres, bin_dir = tablespace_server
    psql = [f"{bin_dir}/psql", "-h", "127.0.0.1", "-p", server.rsplit(":", 1)[1], "-U", "postgres", "-c"]
    as_postgres(*psql, "CREATE DATABASE erpgen_full")
    as_postgres(*psql, "ALTER DATABASE erpgen_full SET default_tablespace = small")  # erpgen's tables there
    url = f"{server}/erpgen_full"
    r = erpgen(*RUN, "--database-url", url)
    assert_one_clean_line(r, f"the disk is full under the database server {url}", "needs about",
                          "free space on the database server's disk")  # fmt: skip
    assert table_names(url) == []


@pytest.fixture(scope="module")
def mariadb_on_a_small_disk():
    """A MariaDB server of the tests' own whose data directory is on a 64 MiB tmpfs (its system tables take
    5 MiB of it): the server and the mount. InnoDB's own files (system tablespace, undo and redo logs) are
    kept off the mount, as many servers keep them on a disk of their own: the tables a load makes are what
    fills a server's disk, and MariaDB may stall or abort where its logs cannot grow, which no client can
    help."""
    base = server_base("mysql")
    try:
        with small_disk(64 * 1024) as disk:
            shutil.chown(disk, "mysql", "mysql")
            server = OwnMariadb(base, data=disk / "data", system=base)
            server.start()
            try:
                yield server, disk
            finally:
                server.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, str]:
    """What RUN loads into SQLite: the content a server must hold once the same command has had room."""
    path = tmp_path_factory.mktemp("reference") / "reference.db"
    made = run_process([sys.executable, str(REPO / "cli.py"), *RUN, "--database-url", f"sqlite:///{path}"],
                       cwd=path.parent, timeout=300)  # fmt: skip
    assert made.code == 0, made
    return digests(f"sqlite:///{path}")


# erpgen's scratch databases (erpgen_scratch_*) and the one a --resume load waits in (erpgen_resume_*)
ERPGEN_DATABASES = (
    "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'erpgen!_%%' ESCAPE '!'"
)


def leave_free(disk: Path, kib: int) -> Path:
    """Fill the mount until only `kib` KiB are left: the file that takes the room (delete it to make room)."""
    filler = disk / "filler"
    room = os.statvfs(disk)
    with open(filler, "wb") as f:
        os.posix_fallocate(f.fileno(), 0, max(1, room.f_bavail * room.f_frsize - kib * 1024))
    return filler


# the load fills the disk as its fact lines go in (one transaction, and --resume's committed blocks), or
# finds it full when it makes its scratch database's tables
@pytest.mark.parametrize(
    "load, free_kib, outcome",
    [
        ("one transaction", 4096, "nothing was committed"),
        ("--resume", 4096, "the blocks committed so far are kept"),
        ("one transaction", 0, "nothing was committed"),
    ],
    ids=["one-transaction", "resume", "full-before"],
)
def test_mariadb_server_disk_full(erpgen, mariadb_on_a_small_disk, reference, load, free_kib, outcome):
    server, disk = mariadb_on_a_small_disk
    database = f"target_{load[2]}{free_kib}"  # not erpgen_*: those are what erpgen leaves
    url = server.create(database)
    resume = ["--resume", "--block-size", "500"] if load == "--resume" else []  # blocks commit as they go
    command = [*RUN, "--database-url", url, *resume]
    filler = leave_free(disk, free_kib)
    try:
        r = erpgen(*command)
        assert_one_clean_line(r, f"the disk is full under the database server {url} (data directory "
                              f"{disk / 'data'}/); this run needs about", outcome,
                              "free space on the database server's disk")  # fmt: skip
        assert server.proc.poll() is None and scalar(url, "SELECT 1") == 1  # the server lives on, usable
        assert table_names(url) == []
        kept = [f"erpgen_resume_{database}"] if load == "--resume" else []
        assert [name for (name,) in rows(url, ERPGEN_DATABASES)] == kept
        if load == "--resume":
            # with room, the same command carries on: nothing else to change
            assert (
                "(free space on the database server's disk; then run the same command, with --resume, to "
                "carry on)" in r.err
            )
    finally:
        filler.unlink()
    try:
        assert erpgen(*command).code == 0  # with room, the same command: the data SQLite holds for it
        assert digests(url) == reference and rows(url, ERPGEN_DATABASES) == []
    finally:
        with connect(server.url("mysql")) as conn:
            conn.exec_driver_sql(f"DROP DATABASE {database}")  # its room, for the next case


def test_sqlite_folder_full_under_extend(erpgen):
    """`erpgen extend` writes in place, in one transaction: the same line, and the dataset as it was.
    (On MariaDB 10.11 a full disk under an extension can abort the server itself, which cannot roll back
    an insert into an indexed table without room: not a fault erpgen can answer, so not tested there.)"""
    with small_disk(32 * 1024) as disk:  # room for the extension once the filler is gone
        url = f"sqlite:///{disk / 'erpgen.db'}"
        made = erpgen("generate", "--n-customers", "1000", "--date-from", "2020-01-01", "--date-till",
                      "2020-12-31", "-q", "--database-url", url)  # fmt: skip
        assert made.code == 0, made
        before = digests(url)
        filler = leave_free(disk, 64)
        try:
            r = erpgen("extend", "--till", "2022-12-31", "-q", "--database-url", url)
            assert_one_clean_line(r, f"the disk is full under the SQLite file's folder {disk}", "needs about",
                                  "nothing was changed")  # fmt: skip
            assert digests(url) == before
        finally:
            filler.unlink()
        assert erpgen("extend", "--till", "2022-12-31", "-q", "--database-url", url).code == 0
        assert erpgen("verify", "--database-url", url).code == 0
