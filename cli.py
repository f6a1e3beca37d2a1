"""Top-level shim: `python cli.py generate ...` is the same as `erpgen generate ...`."""

from erpgen.cli import command

if __name__ == "__main__":
    command()
