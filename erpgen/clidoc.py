"""The CLI reference (docs/cli.md), rendered from the commands' own --help.

    python -m erpgen.clidoc > docs/cli.md

tests/test_docs.py fails when docs/cli.md is stale or a command or option has no help text.
"""

from __future__ import annotations

import click

from erpgen.cli import cli


def commands(group: click.Group = cli, prefix: str = "erpgen"):
    """(path, command) for every command, depth first, in name order."""
    yield prefix, group
    if isinstance(group, click.Group):
        for name in sorted(group.commands):
            yield from commands(group.commands[name], f"{prefix} {name}")


def render() -> str:
    out = [
        "# erpgen command-line reference",
        "",
        "Generated from `--help` by `python -m erpgen.clidoc`; do not edit.",
        "",
    ]
    for path, command in commands():
        ctx = click.Context(
            command,
            info_name=path,
            terminal_width=100,
            max_content_width=100,
            help_option_names=["-h", "--help"],
        )
        out += [f"## `{path}`", "", "```text", command.get_help(ctx).rstrip(), "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(render(), end="")
