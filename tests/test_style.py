"""The code keeps the style its pyproject.toml sets: ruff's checks pass and its formatter has nothing to change."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import REPO

CODE = ["erpgen", "tests", "bench", "alembic", "cli.py"]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff_has_nothing_to_say(command):
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", *command, *CODE], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
