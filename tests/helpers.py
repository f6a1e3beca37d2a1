"""What the test modules share. A test module imports from here and from conftest, never from another test
module, and reaches erpgen only through its public surfaces: the CLI, erpgen.digest's public functions, and
plain SQL on the target (through the drivers erpgen uses, not through erpgen's own connection code).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import NullPool

from erpgen.digest import database_digests

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "s3cr3t-Pa55"  # put in URLs by the tests; must never appear in any output
SMALL = ["--n-customers", "300", "--date-from", "2019-01-01", "--date-till", "2021-12-31", "--seed", "7"]


# -- what the CLI prints ------------------------------------------------------------------------------
def assert_one_clean_line(r, *expected: str) -> None:
    """Bad input or a refused target: exit 2, one line on stderr naming the problem, no traceback, no
    password."""
    assert r.code == 2, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r
    assert lines[0].startswith("erpgen: error: "), r
    assert "Traceback" not in r.err + r.out
    for part in expected:
        assert part in lines[0], r
    assert PASSWORD not in r.err + r.out


def assert_only_aggregates(scenario_text: str, identifiers: list[str], amounts: list[float]) -> None:
    """A fitted scenario holds no identifier of its source (customer, product, document, e-mail...) and
    none of its money figures (the scenario's order values and prices, the medians and percentiles in its
    header) is one of the source's amounts."""
    import tomllib

    data = tomllib.loads(scenario_text)
    words = set(re.findall(r'[^\s\[\],={}"]+', scenario_text)) | set(re.findall(r'"([^"]*)"', scenario_text))
    # the customer count is the last id of a source numbered 1..N (CDNOW): a count, not an identifier
    words -= {str(data["n_customers"]), str(data["targets"]["total_orders"])}
    assert [i for i in identifiers if i in words] == []
    cents = {round(abs(a) * 100) for a in amounts}
    money = [*data["targets"]["aov"].values(), data["catalog"]["price_median"]]
    for line in scenario_text.splitlines():
        if line.startswith("#") and ("order value" in line or "unit price" in line):
            money += [float(x.replace(",", "")) for x in re.findall(r"[\d,]+\.\d\d\b", line)]
    assert money
    assert [m for m in money if round(m * 100) in cents] == []


# -- SQL on a target ----------------------------------------------------------------------------------
def sql_url(url: str):
    """The URL with the driver the tests read through: psycopg 3, PyMySQL, or SQLite's own."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "postgresql":
        return u.set(drivername="postgresql+psycopg")
    if backend in ("mysql", "mariadb"):
        return u.set(drivername=f"{backend}+pymysql")
    return u


def _timeouts(url, seconds: int) -> dict:
    """Driver options so that no statement waits on a stalled server for longer than `seconds`."""
    backend = url.get_backend_name()
    if backend == "postgresql":
        return {"connect_timeout": seconds, "options": f"-c statement_timeout={seconds * 1000}"}
    if backend in ("mysql", "mariadb"):
        return {"connect_timeout": seconds, "read_timeout": seconds, "write_timeout": seconds}
    if backend == "duckdb":
        return {}  # a local file, which another process either has locked (an error at once) or not
    return {"timeout": min(seconds, 30)}  # SQLite: how long to wait for a lock


@contextlib.contextmanager
def connect(url: str, *, timeout: int = 300, **engine_options) -> Iterator[Connection]:
    """A connection to the target (SQLite with its foreign keys enforced, as a careful client has them),
    whose statements fail after `timeout` seconds rather than hang on a stalled server."""
    u = sql_url(url)
    engine = create_engine(u, poolclass=NullPool, connect_args=_timeouts(u, timeout), **engine_options)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _foreign_keys(dbapi_conn, _record):  # noqa: ANN001
            dbapi_conn.execute("PRAGMA foreign_keys=ON")

    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def scalar(url: str, sql: str):
    with connect(url) as conn:
        return conn.execute(text(sql)).scalar()


def rows(url: str, sql: str, **values) -> list:
    with connect(url) as conn:
        return conn.execute(text(sql), values).all()


def digests(url: str, **kw) -> dict[str, str]:
    """erpgen's content digest of every table in the database (erpgen.digest.database_digests)."""
    with connect(url) as conn:
        return database_digests(conn, **kw)


def table_names(url: str, attempts: int = 50) -> list[str]:
    """Tables seen by a new connection (a killed client's backend may need a moment to roll back)."""
    for _ in range(attempts):
        try:
            with connect(url) as conn:
                return sorted(inspect(conn).get_table_names())
        except Exception:
            time.sleep(0.1)
    raise AssertionError(f"{url} unreadable")


def assert_no_tables(url: str) -> None:
    assert table_names(url) == []


def snapshot(url: str) -> dict[str, str]:
    """Every table in the database and a hash of its rows (in a stable order): equal snapshots are the
    same tables holding the same data, whoever made them."""
    out = {}
    with connect(url) as conn:
        for name in sorted(inspect(conn).get_table_names()):
            values = sorted(repr(tuple(row)) for row in conn.exec_driver_sql(f"SELECT * FROM {name}"))
            out[name] = hashlib.sha256("\n".join(values).encode()).hexdigest()
    return out


# -- erpgen in a real process -------------------------------------------------------------------------
def start(*args: str, cwd, command: str = "generate") -> subprocess.Popen:
    """`erpgen generate ARGS` (or another command) in a process (and process group) of its own; its progress
    lines on stderr."""
    return subprocess.Popen(
        [sys.executable, str(REPO / "cli.py"), command, *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # Ctrl-C as a user's terminal delivers it, even when the tests run where SIGINT is ignored (a shell's
        # background job): Python keeps an inherited SIG_IGN, and would never raise KeyboardInterrupt
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


FACTS_STARTED = re.compile(r"^erpgen: customers [\d,]+ rows$")  # printed once the first fact lines are out
KEYS_AND_INDEXES = "erpgen: keys and indexes"


def wait_for(proc: subprocess.Popen, marker: str | re.Pattern, timeout: float = 120) -> list[str]:
    """Read the progress lines on stderr until one contains `marker` (a string) or matches it (a regex)."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if marker.match(line.strip()) if isinstance(marker, re.Pattern) else marker in line:
            return seen
    raise AssertionError(f"never saw {marker!r}; got {seen}")


def descendants(pid: int) -> list[int]:
    """The processes under `pid` (children, theirs, and so on), whatever process group or session they are
    in. Taken while `pid` lives: once it is gone, its children belong to init."""
    children: dict[int, list[int]] = {}
    # the entries listed, then each read on its own: a process may end between the two (Path.glob would
    # stat it on the way and raise)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path("/proc", entry, "stat").read_text()
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def end_group(proc: subprocess.Popen) -> None:
    """SIGKILL whatever is left of a process group that start() made."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def kill(proc: subprocess.Popen) -> None:
    """kill -9 the erpgen process, and then what is left of its process group: its workers end with
    it (test_endings), but not in the same instant, and the next test should not meet them."""
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run had ended before it was killed"
    end_group(proc)


# -- docker-compose.yml (test_compose, test_readme) ---------------------------------------------------
COMPOSE_FILE = REPO / "docker-compose.yml"


def interpolated(value):
    """What Compose makes of the file: `$$` is a literal `$`; a lone `$` would read the host's environment,
    which this file must not depend on."""
    if isinstance(value, dict):
        return {k: interpolated(v) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolated(v) for v in value]
    if isinstance(value, str):
        parts = value.split("$$")
        lone = [part[part.index("$") :][:40] for part in parts if "$" in part]
        assert not lone, f"unescaped $ (a Compose variable; write $$ for a literal $): {lone}"
        return "$".join(parts)
    return value


def load_compose() -> dict:
    import yaml

    return interpolated(yaml.safe_load(COMPOSE_FILE.read_text()))


def config_content(compose: dict, service: str, target_suffix: str) -> tuple[str, str]:
    """(target path, content) of the service's one inline config whose target ends with target_suffix."""
    found = [c for c in compose["services"][service]["configs"] if c["target"].endswith(target_suffix)]
    assert len(found) == 1, (service, target_suffix, found)
    return found[0]["target"], compose["configs"][found[0]["source"]]["content"]


def option(args: list[str], name: str) -> str:
    values = [a.split("=", 1)[1] for a in args if a.startswith(f"{name}=")]
    values += [args[i + 1] for i, a in enumerate(args[:-1]) if a == name]
    assert len(values) == 1, (name, args)
    return values[0]


def with_option(args: list[str], name: str, value: str) -> list[str]:
    option(args, name)  # present exactly once
    out = [f"{name}={value}" if a.startswith(f"{name}=") else a for a in args]
    return [value if i and out[i - 1] == name else a for i, a in enumerate(out)]


def loader_args(compose: dict) -> list[str]:
    """The loader's erpgen arguments: its entrypoint installs erpgen and hands the command to it."""
    loader = compose["services"]["loader"]
    assert loader["entrypoint"][:2] == ["sh", "-c"]
    assert loader["entrypoint"][2].endswith('&& exec erpgen "$@"'), loader["entrypoint"]
    return [str(a) for a in loader["command"]]


def dashboard(compose: dict) -> dict:
    import json

    return json.loads(config_content(compose, "grafana", ".json")[1])


def dashboard_range(board: dict):
    """The dashboard's time range as datetimes: ISO times, or Grafana's `now`, `now+1y`, `now-6M` ..."""
    from datetime import UTC, datetime, timedelta

    def moment(text: str) -> datetime:
        m = re.fullmatch(r"now(?:([+-])(\d+)([smhdwMy]))?", text)
        if not m:
            return datetime.fromisoformat(text).astimezone(UTC)
        now = datetime.now(UTC)
        if not m.group(1):
            return now
        days = {"s": 1 / 86400, "m": 1 / 1440, "h": 1 / 24, "d": 1, "w": 7, "M": 31, "y": 366}[m.group(3)]
        step = timedelta(days=int(m.group(2)) * days)
        return now + step if m.group(1) == "+" else now - step

    return tuple(moment(board["time"][k]) for k in ("from", "to"))


def check_compose_file() -> None:
    """What `docker compose up -d` relies on; also run for the README's `docker compose` lines."""
    import tomllib
    from datetime import UTC, datetime
    from pathlib import PurePosixPath

    import yaml

    compose = load_compose()
    services = compose["services"]

    postgres = services["postgres"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    env = postgres["environment"]

    loader = services["loader"]
    assert loader["image"].startswith("python:3.11")
    assert loader["restart"] == "no"  # one-shot: Grafana waits for it to complete
    assert loader["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert ".:/src:ro" in loader["volumes"]
    args = loader_args(compose)
    assert args[0] == "generate"
    user, password, db = env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]
    assert option(args, "--database-url") == f"postgresql://{user}:{password}@postgres:5432/{db}"
    assert "--replace" in args  # a second `up` reloads rather than failing on the existing dataset

    # The copy the loader installs from holds everything pyproject.toml builds the package from.
    copied = set(re.search(r"cp -r (.+?) /tmp/erpgen", loader["entrypoint"][2]).group(1).split())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    needed = {"pyproject.toml", project["project"]["readme"]}
    needed |= {PurePosixPath(d).parts[0] for d in project["tool"]["setuptools"]["package-dir"].values()}
    assert {f"/src/{n}" for n in needed} <= copied, (needed, copied)
    assert "pip install -q /tmp/erpgen" in loader["entrypoint"][2]

    # erpgen live moves the loader's data on, after it, in the same database, and starts again if stopped
    live = services["live"]
    assert live["depends_on"] == {"loader": {"condition": "service_completed_successfully"}}
    assert live["entrypoint"] == loader["entrypoint"] and live["image"] == loader["image"]
    assert live["restart"] == "unless-stopped"
    live_args = [str(a) for a in live["command"]]
    assert live_args[0] == "live" and option(live_args, "--database-url") == option(args, "--database-url")

    grafana = services["grafana"]
    assert grafana["depends_on"] == {"loader": {"condition": "service_completed_successfully"}}
    assert "3000:3000" in grafana["ports"]
    genv = grafana["environment"]
    assert genv["GF_AUTH_ANONYMOUS_ENABLED"] == "true" and genv["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"

    _, datasource_yaml = config_content(compose, "grafana", "/provisioning/datasources/erpgen.yaml")
    (source,) = yaml.safe_load(datasource_yaml)["datasources"]
    assert source["type"] == "postgres" and source["url"] == "postgres:5432"
    assert (source["user"], source["secureJsonData"]["password"], source["jsonData"]["database"]) == (
        user,
        password,
        db,
    )

    _, provider_yaml = config_content(compose, "grafana", "/provisioning/dashboards/erpgen.yaml")
    (provider,) = yaml.safe_load(provider_yaml)["providers"]
    board_path, _ = config_content(compose, "grafana", ".json")
    assert PurePosixPath(board_path).parent == PurePosixPath(provider["options"]["path"])
    assert genv["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] == board_path

    board = dashboard(compose)
    assert board["refresh"] == "5s"  # what erpgen live commits shows on its own
    start_, end = dashboard_range(board)
    assert start_ <= datetime.fromisoformat(option(args, "--date-from")).replace(tzinfo=UTC)
    assert end.date() >= datetime.fromisoformat(option(args, "--date-till")).date()
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells = [cell for p in panels for cell in grid_cells(p["gridPos"])]
    assert len(set(cells)) == len(cells), "dashboard panels overlap"
    for panel in panels:
        assert panel["datasource"] == {"uid": source["uid"]}, panel["title"]
        assert panel["targets"] and all(t["datasource"] == {"uid": source["uid"]} for t in panel["targets"])


def grid_cells(pos: dict) -> list[tuple[int, int]]:
    assert pos["x"] + pos["w"] <= 24, pos  # Grafana's grid is 24 columns wide
    return [
        (x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])
    ]


def stop_processes(pids: list[int]) -> list[int]:
    """SIGSTOP the server processes `pids` (a frozen host or a cut network leaves its sessions so): the ones
    stopped; the test is skipped where they are not this machine's PostgreSQL processes to stop."""
    stopped = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"postgres" not in f.read():
                    raise ProcessLookupError(pid)
            os.kill(pid, signal.SIGSTOP)
        except (OSError, ProcessLookupError):
            for done in stopped:
                os.kill(done, signal.SIGCONT)
            pytest.skip("the server's sessions are not processes of this machine that this user can stop")
        stopped.append(pid)
    return stopped


def sessions(url: str) -> list[int]:
    """The server processes of the other sessions on the PostgreSQL database at `url`."""
    database = url.rsplit("/", 1)[1]
    return [
        pid
        for (pid,) in rows(
            url,
            f"SELECT pid FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid()",
        )
    ]
