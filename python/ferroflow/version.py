"""The installed ferroflow's version, in a module of its own so that exports can name it without
importing the whole package (``ferroflow/__init__.py`` imports every layer)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("ferroflow")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"
