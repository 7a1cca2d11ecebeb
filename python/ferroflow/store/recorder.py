"""The engine's only way to record provenance: events of a run, turned into AiiDA's nodes and
links.

The engine says *what happened* (a task started with these inputs, made these outputs, ended in
this state); the recorder decides which rows that is: the process node, its CALL link from its
caller, one INPUT link per leaf input (namespaces flattened to ``a__b`` labels), CREATE or RETURN
links to its outputs. :class:`StoreRecorder` queues them on the store's writer;
:class:`Recorder` itself (``run(provenance=False)``) records nothing and hands out pks that
name nothing stored. The fast lane records in Rust through the queue
:meth:`Recorder.fast_lane` gives.
"""

from __future__ import annotations

import itertools
import time
import traceback
from collections.abc import Callable
from typing import Any

from .. import _core
from ..errors import StoreWriteError
from ..model.data import DataNode
from ..model.graph import TaskNode
from ..model.labels import flatten, join_label
from ..model.outputs import output_extras
from ..model.vocabulary import Kind, Link, State
from .annotations import extra_rows, text_row
from .store import Store
from .task_output import output_row
from .unrun import unrun_row
from .values import UnserialisableValue

__all__ = ["FastLaneSink", "Recorder", "StoreRecorder", "error_text"]

#: The fast lane's way into the writer: its queue, the backpressure call, how many fast-lane
#: entries may wait before a worker calls it (None, None, 0: record nothing), and the writer's
#: row conversion when it packs task runs (the workers then queue them packed), else None.
FastLaneSink = tuple["list[Any] | None", "Callable[[], None] | None", int, "_core.SqlWriter | None"]

_CALL = {Kind.CALC: Link.CALL_CALC, Kind.WORK: Link.CALL_WORK}
_INPUT = {Kind.CALC: Link.INPUT_CALC, Kind.WORK: Link.INPUT_WORK}
#: rows one fast-lane entry expands to (process, CALL, INPUT, data, CREATE, update)
_ROWS_PER_FAST_ENTRY = 6


def error_text(exc: BaseException) -> str:
    """What a failed process node stores as its error: the whole traceback."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _null_refill(at_least: int) -> tuple[int, int]:
    """Blocks for :class:`Recorder`'s stream, from the same process-wide count as its
    ``new_pk`` (nothing recording takes them in a run: for the ``_Recorder`` protocol)."""
    first = next(Recorder._pks)
    for _ in range(at_least - 1):
        next(Recorder._pks)
    return first, first + at_least


_NULL_STREAM = _core.PkStream(_null_refill)


class Recorder:
    """What the engine tells the provenance store, as events of a run. This base records
    nothing (``run(provenance=False)`` uses it as it is): process pks are still unique per
    process, so task views stay consistent, and data nodes keep ``pk=None``. Every method is
    cheap and never waits for disk, except under backpressure (the writer is far behind)."""

    recording = False
    _pks = itertools.count(1)

    def new_pk(self) -> int:
        return next(self._pks)

    @property
    def pk_stream(self) -> _core.PkStream:
        """Where the fast lane takes a task's consecutive pks (its own, its output's at
        ``pk + 1``, its inline constants' after); this base's are unique per process."""
        return _NULL_STREAM

    def record_data(self, node: DataNode) -> int:
        return 0

    def fast_lane(self) -> FastLaneSink:
        return None, None, 0, None

    def run_started(
        self, pk: int, uuid: str, name: str, process_type: str, inputs: dict[str, Any]
    ) -> None:
        return None

    def code(self, run_pk: int, process_type: str, digest: bytes) -> None:
        return None

    def process_started(
        self, task: TaskNode, label: str, caller: tuple[int, int], inputs: dict[str, Any]
    ) -> None:
        return None

    def outputs_made(self, pk: int, outputs: dict[str, Any], link: str) -> None:
        return None

    def output_extras(self, task: TaskNode, outputs: dict[str, Any]) -> None:
        """``task`` finished with ``outputs``: put the ``meta(extras=...)`` of its output
        sockets on their data nodes (and, recording, in the store)."""
        if task.handle.output_extras:
            for node, extras in output_extras(task.handle.outputs, outputs):
                node.set_extras(extras)
                self._store_extras(node, extras)

    def _store_extras(self, node: DataNode, extras: dict[str, Any]) -> None:
        return None

    def process_ended(self, pk: int, state: str, mtime: float, error: str | None = None) -> None:
        return None

    def executor(self, pk: int, name: str) -> None:
        """Process node ``pk`` (a task run, or a run: its default) ran on executor ``name``:
        kept as its ``executor`` extra (``ferroflow node show``)."""
        return None

    def cache_key(self, pk: int, key: bytes, original: int | None = None) -> None:
        return None

    def task_output(self, pk: int, text: str, dropped: int) -> None:
        """What process ``pk`` printed and logged (:mod:`ferroflow.engine.capture`)."""
        return None

    def cached_outputs(self, key: bytes) -> tuple[int, list[tuple[str, Any]]] | None:
        return None

    def tasks_not_run(
        self, run_pk: int, tasks: list[tuple[int, str, str, str, list[int | str]]]
    ) -> None:
        """Tasks of run ``run_pk`` that never started, each ``(graph run pk, name,
        process_type, state, what it waited on: process pks, or the names of tasks of its graph that
        never started either)`` (:mod:`.unrun`)."""
        return None

    def run_ended(self, pk: int, state: str, error: str | None = None) -> None:
        return None

    def unstored_mark(self) -> int:
        return 0

    def unstored_since(self, mark: int) -> dict[int, UnserialisableValue]:
        return {}


class StoreRecorder(Recorder):
    """Records into a :class:`~ferroflow.store.Store` (its background writer commits)."""

    recording = True

    def __init__(self, store: Store) -> None:
        self.store = store

    def new_pk(self) -> int:
        return self.store.new_pk()

    @property
    def pk_stream(self) -> _core.PkStream:
        stream: _core.PkStream = self.store.pk_stream
        return stream

    def record_data(self, node: DataNode) -> int:
        return self.store.record_data(node)

    def fast_lane(self) -> FastLaneSink:
        store = self.store
        packer = store.packer  # (a packed entry is one row, an OP_CALC entry several)
        limit = max(store.queue_limit // (1 if packer else _ROWS_PER_FAST_ENTRY), 1)
        return store.queue, store.throttle, limit, packer

    def run_started(
        self, pk: int, uuid: str, name: str, process_type: str, inputs: dict[str, Any]
    ) -> None:
        # Claimed before the node is queued, so a committed run node always has its owner row
        # (a run whose process dies is then shown KILLED, not RUNNING for ever).
        store = self.store
        store.claim_run(pk)
        store.record_process(
            pk, uuid, Kind.WORK, name, process_type, State.RUNNING, time.time(), None
        )
        for label, node in flatten(inputs):
            store.record_link(store.record_data(node), pk, Link.INPUT_WORK, label)

    def code(self, run_pk: int, process_type: str, digest: bytes) -> None:
        self.store.record_code(run_pk, process_type, digest)

    def process_started(
        self, task: TaskNode, label: str, caller: tuple[int, int], inputs: dict[str, Any]
    ) -> None:
        """``task`` (its pk, uuid and ctime set) started, as attempt ``label``, called by
        ``caller`` = (run pk, caller pk), with ``inputs`` (data nodes, nested for namespaces)."""
        store = self.store
        pk = task.pk
        assert pk is not None and task.uuid is not None and task.ctime is not None
        kind = Kind.WORK if task.handle.is_graph else Kind.CALC
        run_pk, caller_pk = caller
        process_type = task.handle.process_type
        store.record_process(
            pk, task.uuid, kind, label, process_type, State.RUNNING, task.ctime, run_pk
        )
        described = task.described()
        if described is not None:
            store.record_rows([text_row(pk, *described)])
        store.record_link(caller_pk, pk, _CALL[kind], label)
        link = _INPUT[kind]
        record_data, record_link = store.record_data, store.record_link
        for name, node in inputs.items():
            if type(node) is DataNode:  # the common case: one value per input
                record_link(record_data(node), pk, link, join_label((name,)))
            else:
                for leaf_label, leaf in flatten(node, (name,)):
                    record_link(record_data(leaf), pk, link, leaf_label)

    def outputs_made(self, pk: int, outputs: dict[str, Any], link: str) -> None:
        store = self.store
        for label, node in flatten(outputs):
            store.record_link(pk, store.record_data(node), link, label)

    def _store_extras(self, node: DataNode, extras: dict[str, Any]) -> None:
        store = self.store
        store.record_rows(extra_rows(store.record_data(node), extras))

    def process_ended(self, pk: int, state: str, mtime: float, error: str | None = None) -> None:
        self.store.update_process(pk, state, mtime, error=error)

    def executor(self, pk: int, name: str) -> None:
        self.store.record_rows(extra_rows(pk, {"executor": name}))

    def cache_key(self, pk: int, key: bytes, original: int | None = None) -> None:
        self.store.mark_cache(pk, key, original)

    def task_output(self, pk: int, text: str, dropped: int) -> None:
        self.store.record_rows([output_row(pk, text, dropped)])

    def cached_outputs(self, key: bytes) -> tuple[int, list[tuple[str, Any]]] | None:
        return self.store.cached_outputs(key)

    def tasks_not_run(
        self, run_pk: int, tasks: list[tuple[int, str, str, str, list[int | str]]]
    ) -> None:
        self.store.record_rows(unrun_row(run_pk, *task) for task in tasks)

    def run_ended(self, pk: int, state: str, error: str | None = None) -> None:
        """Record the run's end and wait until all of it is on disk. Should rows be lost (a
        row the store refused, or a fault of its file: :mod:`.faults`), the run is marked
        FAILED with what was lost instead, and the error is raised: a run never shows FINISHED
        with rows missing."""
        store = self.store
        store.update_process(pk, state, time.time(), error=error)
        store.release_run(pk)
        try:
            store.flush()
        except StoreWriteError as exc:
            text = f"{type(exc).__name__}: {exc}"
            if error:
                text = f"{error}\n{text}"
            store.fail_run(pk, text)
            raise

    def unstored_mark(self) -> int:
        return self.store.unserialisable_count()

    def unstored_since(self, mark: int) -> dict[int, UnserialisableValue]:
        store = self.store
        pks = store.unserialisable_pks(mark)
        return {pk: store.load_node(pk).value for pk in sorted(pks)}
