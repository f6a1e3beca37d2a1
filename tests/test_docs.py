"""The CLI reference is generated from --help and must not go stale; every command and option explains itself."""

from __future__ import annotations

from erpgen.clidoc import commands, render

from .conftest import REPO


def test_cli_reference_is_current():
    on_disk = (REPO / "docs" / "cli.md").read_text()
    assert on_disk == render(), "docs/cli.md is stale: run python -m erpgen.clidoc > docs/cli.md"


def test_every_command_and_option_has_help():
    for path, command in commands():
        assert (command.help or "").strip(), f"{path} has no help text"
        for param in command.params:
            if param.param_type_name == "option":
                assert (param.help or "").strip(), f"{path} {param.opts[0]} has no help text"


def test_the_reference_covers_every_command():
    text = render()
    for path, _ in commands():
        assert f"## `{path}`" in text
    assert "erpgen generate" in text and "--resume" in text and "--scenario" in text
