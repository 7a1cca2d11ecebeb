"""One run's cache lookups: the key of a task's inputs, the stored results it reuses, and the
key its retries carry (:mod:`ferroflow.engine.caching` makes the keys)."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from ..errors import StoreError, UncacheableError
from ..model.graph import TaskNode
from ..model.labels import flatten, unflatten
from ..model.vocabulary import Link
from ..store.recorder import Recorder
from ..store.values import UnserialisableValue
from .caching import code_digest, key_recipe

__all__ = ["RunCache"]

log = logging.getLogger("ferroflow")


class RunCache:
    """The cache side of one run (``run(cache=True)``, ``@task(cache=True)``, restarts)."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        #: tasks whose results were reused from the store (cache hits), in completion order
        self.hits: list[TaskNode] = []
        #: a restart of a script's run from a module: (module now, "__main__"); a miss is
        #: looked up again under the function's old process_type
        self.alias: tuple[str, str] | None = None
        self._keys: dict[int, bytes] = {}  # task id -> cache key (missed, so it ran)

    def key_of(self, task: TaskNode) -> bytes | None:
        """The cache key a retry's attempt node carries: the key of the task's first inputs."""
        return self._keys.get(task.id) if task.id is not None else None

    def lookup(self, task: TaskNode, inputs: dict[str, Any]) -> dict[str, Any] | None:
        """Reuse the results of an earlier FINISHED run of the same function and code on the
        same input values (:mod:`ferroflow.engine.caching`), if the store has one: the task's
        process node is marked ``cached_from`` that run and gets new output nodes holding the
        stored values (AiiDA's "one creator" rule; blobs are content-addressed, so a large value
        is not stored twice). Returns the task's outputs on a hit; None on a miss (the key is
        stored with the node, so later runs can hit this one) or when the task has no key."""
        handle = task.handle
        recorder = self.recorder
        pk = task.pk
        assert pk is not None
        try:
            leaves = [
                (label, leaf.value) for n, v in inputs.items() for label, leaf in flatten(v, (n,))
            ]
            recipe = key_recipe(handle.process_type, code_digest(handle), leaves)
            key = recipe.key
        except UncacheableError as exc:
            log.info("task '%s' runs without caching: %s", task.path, exc)
            return None
        try:
            found = recorder.cached_outputs(key)
            alias = self.alias
            if found is None and alias and handle.process_type.startswith(alias[0] + "."):
                then = alias[1] + handle.process_type[len(alias[0]) :]
                found = recorder.cached_outputs(recipe._replace(process_type=then).key)
        except (sqlite3.Error, StoreError) as exc:  # not expected: say so loudly
            log.warning("task '%s': cache lookup failed, it runs: %s", task.path, exc)
            found = None
        except Exception as exc:  # a stored value that does not decode (an untrusted pickle,
            # a class that no longer exists): the task runs instead
            log.info("task '%s': cached results unreadable, it runs: %s", task.path, exc)
            found = None
        if found is not None:
            original, created = found
            if not any(type(v) is UnserialisableValue for _, v in created):
                outputs = unflatten(created, handle.single_output)
                recorder.cache_key(pk, key, original)
                recorder.outputs_made(pk, outputs, Link.CREATE)
                task.cached_from = original
                self.hits.append(task)
                return outputs
        recorder.cache_key(pk, key, None)
        if handle.needs_runner or task.handlers is not None:
            assert task.id is not None
            self._keys[task.id] = key  # a retry's attempt node carries the key too
        return None
