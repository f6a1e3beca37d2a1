"""The README stays true: every command in it is run here, and CI runs the README's test command."""

from __future__ import annotations

import contextlib
import re
import shlex
import shutil
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from erpgen import migrate

from .conftest import REPO, _mysql_engine, fresh_database, fresh_pg_database, run_process
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


def readme_sql(prefix: str) -> dict[str, str]:
    """The README's SQL blocks marked readme:<prefix><name>, by name."""
    found = re.findall(rf"<!-- readme:{prefix}([\w-]+) -->\s*```sql\n(.+?)\n```", README, re.S)
    return dict(found)


O2C_SQL = readme_sql("sql-o2c-")


def test_every_sql_block_of_the_readme_is_run():
    """tests/test_exchange_rates.py runs readme:sql-rates, the order-to-cash test below the others."""
    marked = re.findall(r"<!-- readme:(sql-[\w-]+) -->\s*```sql\n", README)
    assert len(marked) == README.count("```sql")  # every SQL block is marked
    assert sorted(marked) == sorted(["sql-rates", *(f"sql-o2c-{name}" for name in O2C_SQL)])
    assert set(O2C_SQL) == {"lead-time", "on-time", "backlog", "dso", "ageing", "revenue-by-currency"}


def test_readme_order_to_cash_sql_gives_the_reports_figures(pg_url, erpgen):
    """Each order-to-cash query of the README, run on PostgreSQL, gives what `erpgen report` works out."""
    from sqlalchemy import text

    from erpgen import html_report
    from erpgen.database import connect
    from erpgen.urls import parse

    assert erpgen("generate", "--database-url", pg_url, "--scenario", "gym-coffee", "--n-customers", "400",
                  "--date-from", "2021-01-01", "--date-till", "2024-12-31", "--seed", "7", "-q").code == 0  # fmt: skip
    with connect(parse(pg_url)) as conn:
        o = html_report.collect(conn).o2c
        got = {name: [tuple(r) for r in conn.execute(text(sql))] for name, sql in O2C_SQL.items()}

    delivered: dict[str, list[int]] = {}
    for _, ch, n, days, on_time in o.deliveries:
        acc = delivered.setdefault(ch, [0, 0, 0])
        acc[0], acc[1], acc[2] = acc[0] + n, acc[1] + days, acc[2] + on_time
    assert [(ch, float(v)) for ch, v in got["lead-time"]] == [
        (ch, round(days / n, 2)) for ch, (n, days, _) in sorted(delivered.items())
    ]
    assert [(ch, float(v)) for ch, v in got["on-time"]] == [
        (ch, round(on_time / n, 4)) for ch, (n, _, on_time) in sorted(delivered.items())
    ]
    assert {ch for ch, _ in got["lead-time"]} == {"B2B", "ONLINE", "RETAIL"}

    assert got["backlog"] == [row for row in o.statuses if row[1] in ("OPEN", "SHIPPED")]
    assert got["backlog"]

    kpis = dict(html_report._o2c_kpis(o))
    ((dso,),) = got["dso"]
    assert f"{dso:.1f}" == kpis[f"DSO, last {html_report.DSO_DAYS} days"] and dso > 0

    labels = ["not yet due", "0-30", "31-60", "61-90", "90+"]
    expected = {}
    for bucket, _, amount, n in o.ageing:
        acc = expected.setdefault(labels[bucket], [0, 0.0])
        acc[0], acc[1] = acc[0] + n, acc[1] + amount
    assert {label: (n, float(amount)) for label, n, amount in got["ageing"]} == {
        label: (n, pytest.approx(amount, abs=0.01)) for label, (n, amount) in expected.items()
    }
    assert got["ageing"]

    net: dict[tuple[str, int], list[float]] = {}
    for ym, code, company, document in o.currencies:
        acc = net.setdefault((code, int(ym[:4])), [0.0, 0.0])
        acc[0], acc[1] = acc[0] + document, acc[1] + company
    assert {(code, year): [float(a), float(b)] for code, year, a, b in got["revenue-by-currency"]} == {
        key: pytest.approx(v, abs=0.01) for key, v in net.items()
    }
    assert {code for code, _ in net} == {"AUD", "EUR", "GBP", "USD"}


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


def _needs(block, url: re.Pattern) -> bool:
    """Whether a block's commands name a server of that kind (the fresh-copy install names none)."""
    return block != "install" and any(url.search(command) for command in block)


def _in_process(words: list[str]) -> bool:
    """The lines checked here rather than run: `docker compose` and a browser opening Grafana."""
    return words[:2] == ["docker", "compose"] or words[0] in ("open", "xdg-open")


def _run_block(block: list[str], tmp_path: Path, databases) -> list[tuple[str, object]]:
    """Run a block's commands in order in one directory, as the README shows them: (command, result) of
    each, up to the first that fails. `databases.pg()` / `.mysql()` give one fresh database each for the
    whole block."""
    pg = mysql = None
    ran = []
    for command in block:
        words = shlex.split(command)
        if _in_process(words):
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
            pg = pg or databases.pg()
            words = [PG_URL.sub(pg, w) for w in words]
            env = {k: PG_URL.sub(pg, v) for k, v in env.items()}
        if any(MYSQL_URL.match(w) for w in [*words, *env.values()]):
            mysql = mysql or databases.mysql()
            words = [MYSQL_URL.sub(mysql, w) for w in words]
            env = {k: MYSQL_URL.sub(mysql, v) for k, v in env.items()}
        r = run_process(words, cwd=cwd, env=env)
        ran.append((command, r))
        if r.code != 0 or "Traceback" in r.err:
            break
    return ran


class _Databases:
    """Fresh databases on the session's servers for the blocks, dropped when the module is done."""

    def __init__(self, stack: contextlib.ExitStack, pg_server: str | None, mysql_server: str | None):
        self.stack, self.pg_server, self.mysql_server = stack, pg_server, mysql_server
        self.lock = threading.Lock()

    def pg(self) -> str:
        with self.lock:
            return self.stack.enter_context(fresh_pg_database(self.pg_server))

    def mysql(self) -> str:
        with self.lock:
            return self.stack.enter_context(
                fresh_database(self.mysql_server, _mysql_engine(self.mysql_server), "`")
            )


def _server(request, name: str) -> str | None:
    """The session's server, or None where it is missing (the tests that need it then skip, or fail, as
    they ask for it themselves: pytest keeps the session fixture's outcome)."""
    try:
        return request.getfixturevalue(name)
    except (pytest.skip.Exception, pytest.fail.Exception):
        return None


class _Runs:
    """The README's runs in the background, two at a time: a block of commands by its tuple of lines, the
    fresh-copy install by "install"."""

    def __init__(self, pool: ThreadPoolExecutor, databases: _Databases, tmp_path_factory):
        self.pool, self.databases, self.tmp_path_factory = pool, databases, tmp_path_factory
        self.futures: dict = {}

    def start(self, key) -> None:
        if key in self.futures:
            return
        if key == "install":
            self.futures[key] = self.pool.submit(
                _install_on_a_fresh_copy, self.tmp_path_factory.mktemp("fresh")
            )
        else:
            folder = self.tmp_path_factory.mktemp("block")
            self.futures[key] = self.pool.submit(_run_block, list(key), folder, self.databases)

    def result(self, key):
        self.start(key)
        return self.futures[key].result()


def _whole_module_here(config) -> bool:
    """Whether this process runs every selected test of the module: always, but under pytest-xdist's
    per-test distribution (its loadfile and loadscope keep a module's tests on one worker)."""
    return not hasattr(config, "workerinput") or config.getoption("dist", "no") in ("loadfile", "loadscope")


@pytest.fixture(scope="module")
def readme_runs(request, tmp_path_factory):
    """The README's commands, run two at a time in the background as soon as the module's first test asks:
    each block of commands (and the fresh-copy install) is independent of the others, in its own folder
    and databases, and mostly one process on one core. Each test then checks what its own run gave, as it
    would have checked it running the commands itself. Only the selected tests' commands run (where a
    pytest-xdist worker gets some of the module's tests only, each test starts its own)."""
    selected = [item for item in request.session.items if item.module is request.module]
    blocks = [tuple(item.callspec.params["block"]) for item in selected
              if item.originalname == "test_readme_commands_run"]  # fmt: skip
    install = any(item.originalname == "test_readme_run_command_on_a_fresh_copy_and_installed_package"
                  for item in selected)  # fmt: skip
    pg_server = _server(request, "pg_server") if any(_needs(b, PG_URL) for b in blocks) else None
    mysql_server = _server(request, "mysql_server") if any(_needs(b, MYSQL_URL) for b in blocks) else None
    with contextlib.ExitStack() as stack:
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="readme")
        runs = _Runs(pool, _Databases(stack, pg_server, mysql_server), tmp_path_factory)
        if _whole_module_here(request.config):
            for key in (["install"] if install else []) + blocks:  # the install, the longest, first
                if (pg_server is None and _needs(key, PG_URL)) or (
                    mysql_server is None and _needs(key, MYSQL_URL)
                ):
                    continue  # its test asks for the missing server, and skips or fails
                runs.start(key)
        try:
            yield runs
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # what still runs ends before its databases go


@pytest.mark.parametrize("block", other_blocks(), ids=lambda b: b[0][:40])
def test_readme_commands_run(block, request, readme_runs):
    if _needs(block, PG_URL):
        request.getfixturevalue("pg_server")  # skips, or fails, as the fresh database would
    if _needs(block, MYSQL_URL):
        request.getfixturevalue("mysql_server")
    ran = iter(readme_runs.result(tuple(block)))
    for command in block:
        words = shlex.split(command)
        if words[:2] == ["docker", "compose"]:
            _check_compose()
            continue
        if words[0] in ("open", "xdg-open"):  # a browser cannot open here: the URL must be Grafana's
            _check_dashboard_url(*words[1:])
            continue
        run_as, r = next(ran)
        assert run_as == command
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


def _install_on_a_fresh_copy(folder: Path):
    """The README's main command in a fresh copy of the repository: (the copy, its result)."""
    repo = _copy_repo(folder / "repo")
    return repo, run_process(["bash", "-c", marked_command("run")], cwd=repo, timeout=900)


@pytest.mark.slow
def test_readme_run_command_on_a_fresh_copy_and_installed_package(tmp_path, readme_runs):
    """The README's main command in a fresh copy: a real, non-editable `pip install .`, then erpgen."""
    repo, r = readme_runs.result("install")  # run in the background, beside the other blocks
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
    assert up.code == 0 and f"revision {migrate.head_revision()}" in up.out, up
    gen = run_process([str(erpgen), "generate", "--n-customers", "25"], cwd=elsewhere)
    assert gen.code == 0, gen
    assert (elsewhere / "erpgen.db").exists()
