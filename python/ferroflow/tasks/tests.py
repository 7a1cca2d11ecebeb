"""The small tasks WorkGraph's documentation builds its examples from
(``aiida_workgraph.tasks.tests``): ``from ferroflow.tasks.tests import add, multiply``."""

from __future__ import annotations

from typing import Any

from ..task import task

__all__ = ["add", "multiply"]


@task
def add(x: Any, y: Any) -> Any:
    """``x + y``."""
    return x + y


@task
def multiply(x: Any, y: Any) -> Any:
    """``x * y``."""
    return x * y
