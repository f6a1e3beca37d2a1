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


def test_no_file_holds_a_merge_conflict():
    """A merge left half done (its <<<<<<< / >>>>>>> lines) must not land, in the README above all."""
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    if not tracked:  # not a git checkout (an unpacked copy): the files that matter are still checked
        tracked = [str(p.relative_to(REPO)) for p in REPO.rglob("*.md")]
    marked = []
    for name in tracked:
        path = REPO / name
        if path.suffix not in {".md", ".py", ".toml", ".yml", ".yaml", ".ini", ".json", ".sh", ".txt", ""}:
            continue
        try:
            lines = path.read_text().splitlines()
        except (UnicodeDecodeError, OSError):
            continue
        marked += [
            f"{name}:{i + 1}" for i, line in enumerate(lines) if line.startswith(("<<<<<<< ", ">>>>>>> "))
        ]
    assert not marked, marked
