"""erpgen's version, as installed (the run log records it with every dataset)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("erpgen")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.1.0"
