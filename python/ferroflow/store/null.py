"""A store that records nothing: ``run(provenance=False)`` for measuring the engine alone or
for throw-away runs. Data nodes keep ``pk=None``; process pks are still unique per process so
task views stay consistent."""

from __future__ import annotations

import itertools

from ..data import DataNode

__all__ = ["NullStore"]

_pks = itertools.count(1)


class NullStore:
    """Same recording interface as :class:`~ferroflow.store.Store`, all no-ops."""

    def new_pk(self) -> int:
        return next(_pks)

    def record_data(self, node: DataNode) -> int:
        return 0

    def record_process(self, *args: object, **kwargs: object) -> None:
        return None

    def update_process(self, *args: object, **kwargs: object) -> None:
        return None

    def record_link(self, *args: object, **kwargs: object) -> None:
        return None

    def claim_run(self, run_pk: int) -> None:
        return None

    def release_run(self, run_pk: int) -> None:
        return None

    def flush(self) -> None:
        return None
