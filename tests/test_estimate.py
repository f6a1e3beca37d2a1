"""--dry-run estimates rows and size within 25% of the real run, and writes nothing."""

from __future__ import annotations

import re

from sqlalchemy import text

from erpgen.database import connect
from erpgen.urls import parse

ARGS = ["--n-customers", "10000", "--seed", "5"]


def estimated(out: str) -> dict[str, int]:
    return {t: int(n.replace(",", "")) for t, n in re.findall(r"^  (\w+)\s+([\d,]+) rows$", out, re.M)}


def estimated_mb(out: str) -> float:
    return float(re.search(r"size \(\w+\): about ([\d,]+) MB", out).group(1).replace(",", ""))


def test_dry_run_writes_nothing_and_estimates_sqlite(erpgen, tmp_path):
    target = tmp_path / "erpgen.db"
    url = f"sqlite:///{target}"
    dry = erpgen("generate", *ARGS, "--database-url", url, "--dry-run")
    assert dry.code == 0 and "nothing written" in dry.out and "time: about" in dry.out
    assert not target.exists() and list(tmp_path.iterdir()) == []
    assert erpgen("generate", *ARGS, "--database-url", url, "-q").code == 0
    guess = estimated(dry.out)
    with connect(parse(url)) as conn:
        for table, n in guess.items():
            real = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            assert abs(n - real) <= 0.25 * real, (table, n, real)
    real_mb = target.stat().st_size / 1e6
    assert abs(estimated_mb(dry.out) - real_mb) <= 0.25 * real_mb


def test_dry_run_on_postgres_does_not_connect_and_estimates_size(erpgen, pg_url):
    unreachable = "postgresql://postgres@127.0.0.1:1/nowhere"
    assert erpgen("generate", *ARGS, "--database-url", unreachable, "--dry-run").code == 0
    dry = erpgen("generate", *ARGS, "--database-url", pg_url, "--dry-run")
    with connect(parse(pg_url)) as conn:
        assert conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar() == 0
        base = conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
    assert erpgen("generate", *ARGS, "--database-url", pg_url, "-q").code == 0
    with connect(parse(pg_url)) as conn:
        real_mb = (conn.execute(text("SELECT pg_database_size(current_database())")).scalar() - base) / 1e6
        lines = conn.execute(text("SELECT count(*) FROM sales_transactions")).scalar()
    assert abs(estimated(dry.out)["sales_transactions"] - lines) <= 0.25 * lines
    assert abs(estimated_mb(dry.out) - real_mb) <= 0.25 * real_mb, (estimated_mb(dry.out), real_mb)
