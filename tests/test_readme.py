"""The README stays true: every command in it is run here, and CI runs the README's test command."""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest

from .conftest import REPO, run_process
from .helpers import check_compose_file, load_compose

README = (REPO / "README.md").read_text()
PG_URL = re.compile(r"postgresql://\S+")
MYSQL_URL = re.compile(r"mysql://\S+")


def marked_command(marker: str) -> str:
    m = re.search(rf"<!-- readme:{marker} -->\s*```bash\n(.+?)\n```", README, re.S)
    assert m, f"README has no readme:{marker} command"
    return m.group(1).strip()


def other_blocks() -> list[list[str]]:
    """The README's other bash blocks, each a list of commands run in order in one directory."""
    blocks = re.findall(r"```bash\n(.+?)\n```", README, re.S)
    skip = {marked_command("run"), marked_command("test")}
    out = []
    for block in blocks:
        lines = [ln.split("  #")[0].strip() for ln in block.splitlines()]
        lines = [ln for ln in lines if ln and ln not in skip]
        if lines:
            out.append(lines)
    return out


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert marked_command("test") in ci.splitlines()


def test_readme_lists_every_original_flag():
    for flag in (
        "--n-customers", "--date-from", "--date-till", "--n-devices", "--n-accessories", "--n-spare-parts",
        "--n-refills", "--n-bulk-refills", "--p-first-name", "--p-last-name", "--p-email", "--p-phone",
        "--p-email-opt-in", "--p-sms-opt-in", "--p-call-opt-in", "--faker-locale", "--seed",
    ):  # fmt: skip
        assert f"`{flag}`" in README


@pytest.mark.parametrize("block", other_blocks(), ids=lambda b: b[0][:40])
def test_readme_commands_run(block, request, tmp_path):
    pg = mysql = None
    for command in block:
        words = shlex.split(command)
        if words[:2] == ["docker", "compose"]:
            _check_compose()
            continue
        if words[0] in ("open", "xdg-open"):  # a browser cannot open here: the URL must be Grafana's
            _check_dashboard_url(*words[1:])
            continue
        env = {}
        while "=" in words[0]:
            name, value = words.pop(0).split("=", 1)
            env[name] = value
        cwd = tmp_path
        if words[0] == "erpgen":
            words = [sys.executable, str(REPO / "cli.py"), *words[1:]]
        elif words[0] == "alembic":
            words, cwd = [sys.executable, "-m", "alembic", *words[1:]], REPO
            env.setdefault("DATABASE_URL", f"sqlite:///{tmp_path / 'erpgen.db'}")
        if any(PG_URL.match(w) for w in [*words, *env.values()]):
            pg = pg or request.getfixturevalue("pg_url")  # one fresh database for the whole block
            words = [PG_URL.sub(pg, w) for w in words]
            env = {k: PG_URL.sub(pg, v) for k, v in env.items()}
        if any(MYSQL_URL.match(w) for w in [*words, *env.values()]):
            mysql = mysql or request.getfixturevalue("mysql_url")
            words = [MYSQL_URL.sub(mysql, w) for w in words]
            env = {k: MYSQL_URL.sub(mysql, v) for k, v in env.items()}
        r = run_process(words, cwd=cwd, env=env)
        assert r.code == 0, (command, r)
        assert "Traceback" not in r.err


def _check_compose() -> None:
    check_compose_file()
    compose = (REPO / "docker-compose.yml").read_text()
    assert "healthcheck:" in compose and "pg_isready" in compose
    url = PG_URL.search(README.split("docker compose up -d")[1]).group(0).rstrip("`")
    user, password = url.split("//")[1].split("@")[0].split(":")
    assert f"POSTGRES_USER: {user}" in compose
    assert f"POSTGRES_PASSWORD: {password}" in compose


def _check_dashboard_url(url: str) -> None:
    published = {p.split(":")[0] for p in load_compose()["services"]["grafana"]["ports"]}
    assert any(url == f"http://localhost:{port}" for port in published), (url, published)


def _copy_repo(dest: Path) -> Path:
    ignore = shutil.ignore_patterns(
        ".venv", ".git", "*.db", "__pycache__", "*.egg-info", "build", ".pytest_cache"
    )
    shutil.copytree(REPO, dest, ignore=ignore)
    return dest


@pytest.mark.slow
def test_readme_run_command_on_a_fresh_copy_and_installed_package(tmp_path):
    """The README's main command in a fresh copy: a real, non-editable `pip install .`, then erpgen."""
    repo = _copy_repo(tmp_path / "repo")
    r = run_process(["bash", "-c", marked_command("run")], cwd=repo, timeout=900)
    assert r.code == 0, r
    assert re.search(r"customers\s+1,000 rows", r.out), r
    # the sample output in the README is what this command prints
    for table, rows in re.findall(r"^  (\w+)\s+([\d,]+) rows$", README, re.M):
        assert re.search(rf"{table}\s+{rows} rows", r.out), (table, rows, r.out)
    assert (repo / "erpgen.db").exists()

    # The installed package, run from another directory, carries its migrations.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    python, erpgen = repo / ".venv/bin/python", repo / ".venv/bin/erpgen"
    where = run_process(
        [str(python), "-c", "import erpgen.migrate as m; print(m.script_location())"], cwd=elsewhere
    )
    assert where.code == 0 and "site-packages" in where.out, where
    up = run_process([str(erpgen), "db", "upgrade", "--database-url", "sqlite:///fresh.db"], cwd=elsewhere)
    assert up.code == 0 and "revision 0006" in up.out, up
    gen = run_process([str(erpgen), "generate", "--n-customers", "25"], cwd=elsewhere)
    assert gen.code == 0, gen
    assert (elsewhere / "erpgen.db").exists()
