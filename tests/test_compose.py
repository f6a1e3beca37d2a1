"""The dashboard demo in docker-compose.yml holds together, although Docker cannot run here.

The structure is read from the file: PostgreSQL with a health check, a one-shot loader that waits for it,
Grafana that waits for the loader and is provisioned inline. The loader's erpgen arguments are run for
real against PostgreSQL, and every dashboard panel's SQL is run on what they load, so the dashboard and
the schema cannot drift apart.
"""

from __future__ import annotations

import json
import re
import tomllib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import PurePosixPath

import psycopg
import pytest
import yaml

from .conftest import REPO

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
    return json.loads(config_content(compose, "grafana", ".json")[1])


def panel_queries(board: dict) -> list[tuple[str, str, str]]:
    """(panel title, format, SQL) of every query of every panel."""
    return [(p["title"], t["format"], t["rawSql"]) for p in board["panels"] for t in p["targets"]]


def expand_macros(sql: str, time_from: datetime, time_to: datetime) -> str:
    """Grafana's PostgreSQL macros as its backend expands them (pkg/tsdb/grafana-postgresql-datasource/
    macros.go), for the ones the dashboard may use; any other macro or variable fails the test."""
    stamp = {"from": f"'{time_from.isoformat().replace('+00:00', 'Z')}'"}
    stamp["to"] = f"'{time_to.isoformat().replace('+00:00', 'Z')}'"
    macros = {
        "__timeFilter": lambda column: f"{column} BETWEEN {stamp['from']} AND {stamp['to']}",
        "__timeFrom": lambda: stamp["from"],
        "__timeTo": lambda: stamp["to"],
    }

    def expand(m: re.Match) -> str:
        assert m.group(1) in macros, f"the test cannot expand ${m.group(1)}: add it to expand_macros"
        args = [a.strip() for a in m.group(2).split(",") if a.strip()]
        return macros[m.group(1)](*args)

    expanded = re.sub(r"\$([_a-zA-Z0-9]+)\(([^)]*)\)", expand, sql)
    assert "$" not in expanded, f"unexpanded Grafana variable in {expanded}"
    return expanded


def dashboard_range(board: dict) -> tuple[datetime, datetime]:
    return tuple(datetime.fromisoformat(board["time"][k]).astimezone(UTC) for k in ("from", "to"))


def check_compose_file() -> None:
    """What `docker compose up -d` relies on; also run for the README's `docker compose` lines."""
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
    start, end = dashboard_range(board)
    assert start <= datetime.fromisoformat(option(args, "--date-from")).replace(tzinfo=UTC)
    assert end.date() >= datetime.fromisoformat(option(args, "--date-till")).date()
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells = [cell for p in panels for cell in _cells(p["gridPos"])]
    assert len(set(cells)) == len(cells), "dashboard panels overlap"
    for panel in panels:
        assert panel["datasource"] == {"uid": source["uid"]}, panel["title"]
        assert panel["targets"] and all(t["datasource"] == {"uid": source["uid"]} for t in panel["targets"])


def _cells(pos: dict) -> list[tuple[int, int]]:
    assert pos["x"] + pos["w"] <= 24, pos  # Grafana's grid is 24 columns wide
    return [
        (x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])
    ]


def test_compose_file_structure():
    check_compose_file()


def test_interpolation_rejects_a_compose_variable():
    with pytest.raises(AssertionError, match="unescaped"):
        interpolated({"sql": "WHERE $__timeFilter(invoice_date)"})
    assert interpolated(['exec erpgen "$$@"']) == ['exec erpgen "$@"']


def test_macro_expansion_is_grafanas():
    start, end = datetime(2016, 1, 1, tzinfo=UTC), datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
    sql = "SELECT 1 FROM t WHERE $__timeFilter(t.invoice_date) AND x < $__timeTo()"
    assert expand_macros(sql, start, end) == (
        "SELECT 1 FROM t WHERE t.invoice_date BETWEEN '2016-01-01T00:00:00Z' AND '2025-12-31T23:59:59Z'"
        " AND x < '2025-12-31T23:59:59Z'"
    )
    with pytest.raises(AssertionError, match="cannot expand"):
        expand_macros("SELECT $__timeGroupAlias(d, '1d')", start, end)
    with pytest.raises(AssertionError, match="unexpanded"):
        expand_macros("SELECT $channel", start, end)


def test_the_loader_command_is_a_valid_erpgen_invocation(erpgen, pg_url):
    args = with_option(loader_args(load_compose()), "--database-url", pg_url)
    r = erpgen(*args, "--dry-run")
    assert r.code == 0, r
    assert "nothing written" in r.out and "sales_transactions" in r.out, r


def test_every_dashboard_panel_query_returns_rows_on_the_loaders_data(erpgen, pg_url):
    """The loader's own command with fewer customers loads a real database; each panel's SQL must run
    on it and give rows, time series ordered by time, no column left all NULL."""
    compose = load_compose()
    args = with_option(loader_args(compose), "--database-url", pg_url)
    r = erpgen(*with_option(args, "--n-customers", "400"), "-q")
    assert r.code == 0, r

    board = dashboard(compose)
    start, end = dashboard_range(board)
    queries = panel_queries(board)
    assert len(queries) >= 8
    failures = []
    with psycopg.connect(pg_url) as conn:
        for title, fmt, sql in queries:
            try:
                cur = conn.execute(expand_macros(sql, start, end))
                columns, rows = [d.name for d in cur.description], cur.fetchall()
            except psycopg.Error as e:
                conn.rollback()
                failures.append(f"{title}: {e}")
                continue
            if not rows:
                failures.append(f"{title}: no rows")
                continue
            empty = [c for i, c in enumerate(columns) if all(row[i] is None for row in rows)]
            if empty:
                failures.append(f"{title}: column(s) {empty} all NULL")
            if fmt == "time_series":
                times = [row[0] for row in rows]
                if columns[0] != "time" or times != sorted(times):
                    failures.append(f"{title}: a time series needs a first column `time`, ordered")
                values = [row[-1] for row in rows]
                if not all(isinstance(v, int | Decimal | float) for v in values):
                    failures.append(f"{title}: its last column is not numeric")
    assert not failures, "\n".join(failures)
