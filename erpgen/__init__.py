"""erpgen: simulate a company's customers and sales over many years, straight into a relational database."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("erpgen")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.1.0"

__all__ = ["__version__", "generate"]


def generate(**kwargs):  # noqa: ANN201 - thin re-export, documented in erpgen.pipeline.generate
    """Generate a dataset; keyword arguments are named like the CLI flags (see erpgen.pipeline.generate)."""
    from erpgen.pipeline import generate as _generate

    return _generate(**kwargs)
