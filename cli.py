"""Top-level shim: `python cli.py generate ...` is the same as `erpgen generate ...`."""

import sys

from erpgen.cli import main

if __name__ == "__main__":
    sys.exit(main())
