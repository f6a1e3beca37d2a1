"""A disk that fills up under the load, on real small file systems (tmpfs mounts of a few hundred KiB,
made and unmounted by the tests; skipped where mounting is not permitted). Each place a load writes in
runs out in turn: the SQLite file's folder, the CSV and Parquet folders, the temporary directory where
finished blocks wait (TMPDIR), and a PostgreSQL server's disk (a throwaway cluster whose database lives
in a tablespace on a small mount). Every time: one line saying that the disk is full, where, what is
free there and about how much the run needs; exit 2; nothing left behind; and with room, the same
command then loads."""

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
from .helpers import assert_one_clean_line, table_names

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
