"""Restarting a stored run: rebuild its graph and run it again, reusing what finished.

``WorkGraph.load(run)`` imports the run's graph function by its ``process_type`` (or takes the
one passed as ``graph=``), rebuilds the graph with the run's stored inputs (the same data nodes,
so the new run's INPUT_WORK links point at them), and marks the new WorkGraph as a restart. Its
``run()`` then

1. computes the cache keys of the old run's FINISHED task runs that have none (a run recorded
   without caching, or killed): from their stored input values and the code digests the run
   recorded in the ``code`` table (:func:`fill_cache_keys`), and
2. runs with caching on (``run(cache=True)``): every calc task whose key matches a finished
   task run reuses its stored outputs (a new task-run node ``cached_from`` the old one), every
   other task (failed, skipped, cancelled, never started, or whose code or inputs changed)
   runs. Graph tasks always re-run their bodies (they are cheap and rebuild the nesting).

This is AiiDA's "clone on cache hit" rather than WorkGraph's "same pks": the old run stays an
immutable record (also of a crash), and the new one is complete on its own. A task with
``@task(cache=False)`` (a clock, a random source) always runs again.

Works for a run killed with SIGKILL: everything the writer committed before the kill is there
(at most about one commit interval is lost), the run and the tasks it was running are marked
KILLED (:mod:`ferroflow.store.owners`), and those tasks simply run again. A run whose process is
still alive on this host is refused (restarting it would run its tasks twice); for a run owned
by another host, which cannot be asked, a warning says so and the restart goes on.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from typing import TYPE_CHECKING, Any

from .engine.caching import KeyRecipe, value_digest
from .errors import FerroflowError, UncacheableError
from .model.data import DataNode
from .model.labels import join_label, nest, split_label
from .model.taskdef import GraphDef
from .model.vocabulary import Link
from .store import graph_read

if TYPE_CHECKING:
    from .store import Store, StoredNode

__all__ = ["check_not_running", "fill_cache_keys", "find_graph", "import_object", "stored_inputs"]


def check_not_running(store: Store, run_pk: int) -> None:
    """Refuse to restart a run that a live process on this host is still running; warn for one
    claimed by a process on another host (call after :meth:`Store.reap_dead_runs`)."""
    owner = store.run_owner(run_pk)
    if owner is None:
        return
    host, pid, alive = owner
    if alive:
        raise FerroflowError(
            f"run {run_pk} is still running (pid {pid} on this host): restarting it now would "
            f"run its tasks twice; wait for it to end or stop it first"
        )
    if alive is None:
        warnings.warn(
            f"run {run_pk} is claimed by pid {pid} on host {host!r}, which this process cannot "
            f"check: if it is still running there, its tasks will run twice",
            stacklevel=3,
        )


def import_object(qualified: str, load: bool = True) -> Any:
    """The object a ``module.qualname`` names (a task or graph function), or None when it
    cannot be imported by that name (functions defined inside functions); a module that exists
    but fails to import raises its error. ``__main__.name``
    is looked up in this process's ``__main__`` (a script or notebook restarting its own run);
    a new process has another ``__main__``, where it is usually missing.

    ``load=False`` only looks among the modules this process has already imported, so it runs
    no module code: for names that came from an imported file (importing a module runs it, and
    the current directory is on ``sys.path``)."""
    parts = qualified.split(".")
    if "<locals>" in parts:
        return None
    # a qualname may hold dots (a function defined in a class): try the longest module first
    for cut in range(len(parts) - 1, 0, -1):
        name = ".".join(parts[:cut])
        try:
            found: Any = (
                sys.modules[name]
                if name == "__main__" or not load
                else importlib.import_module(name)
            )
        except ModuleNotFoundError as exc:
            if exc.name is not None and (name == exc.name or name.startswith(f"{exc.name}.")):
                continue  # no module of this name: try a shorter one
            raise  # the module exists but what it imports does not: say so, do not hide it
        except KeyError:
            continue
        for attr in parts[cut:]:
            found = getattr(found, attr, None)
        return found
    return None


def find_graph(process_type: str, imported: bool = False) -> GraphDef:
    """The ``@task.graph`` function named by a run's process_type (``module.qualname``).

    For an ``imported`` run (:meth:`Store.imported`) the name is someone else's: a module is
    then not imported by it (that would run its code, e.g. a file of that name in the current
    directory); only a module this process has already imported is looked in, and otherwise
    the user must name the graph function."""
    found = import_object(process_type, load=not imported)
    if imported and not isinstance(found, GraphDef):
        raise FerroflowError(
            f"the run was imported from another store, so ferroflow does not import the module "
            f"its file names for the graph function ('{process_type}'): that would run code "
            f"chosen by whoever wrote the file. Name the graph function yourself: "
            f"ferroflow restart RUN --graph module.name, or WorkGraph.load(run, graph=my_graph)"
        )
    if not isinstance(found, GraphDef):
        raise FerroflowError(
            f"cannot find the graph function '{process_type}' of the run to restart (it must "
            f"be importable by that name: functions defined inside other functions are not, "
            f"nor those of another process's __main__ script): pass it, e.g. "
            f"WorkGraph.load(run, graph=my_graph) or ferroflow restart RUN --graph module.name"
        )
    return found


def stored_inputs(store: Store, run: StoredNode, handle: GraphDef) -> dict[str, Any]:
    """The run's inputs as keyword arguments of ``handle.build``: the stored data nodes
    themselves (same pk and uuid), nested again for namespaces and ``**kwargs``."""
    kwargs: dict[str, Any] = {}
    members: list[tuple[str, DataNode]] = []  # of namespaces, and of **kwargs (unprefixed)
    for link_type, label, node in run.inputs:
        if link_type != Link.INPUT_WORK:
            continue
        data = DataNode(node.value, node.uuid, node.pk)
        keys = split_label(label)
        if len(keys) == 1 and keys[0] in handle.inputs:
            kwargs[keys[0]] = data
        else:
            if keys[0] == handle.var_kw:  # **kwargs are unprefixed
                keys = keys[1:]
            members.append((join_label(keys), data))
    return kwargs | nest(members)


def fill_cache_keys(store: Store, run_pk: int) -> int:
    """Compute and store the cache keys of run ``run_pk``'s FINISHED task runs that have none;
    returns how many got one. A task run whose code digest was not recorded (a store written
    by an older ferroflow) or whose input has no digest keeps none, and so runs again."""
    reader = store._reader
    tasks = {
        pk: (ptype, digest)
        for pk, ptype, digest in graph_read.keyless_finished_tasks(reader.query, run_pk)
    }
    if not tasks:
        return 0
    inputs: dict[int, list[tuple[str, int]]] = {}
    for link in graph_read.links(reader.query, tasks, True, (Link.INPUT_CALC,)):
        inputs.setdefault(link.dst, []).append((link.label, link.src))
    digests: dict[int, bytes | None] = {}
    wanted = sorted({src for links in inputs.values() for _, src in links})
    for pk, parts in graph_read.value_parts(reader.query, wanted).items():
        try:
            digests[pk] = value_digest(reader.decode_row(*parts))
        except (UncacheableError, FerroflowError, ValueError, TypeError):
            digests[pk] = None
    filled = 0
    for pk, (process_type, code) in tasks.items():
        pairs: list[tuple[str, bytes]] = []
        for label, src in inputs.get(pk, []):
            digest = digests.get(src)
            if digest is None:
                break
            pairs.append((label, digest))
        else:
            store.mark_cache(pk, KeyRecipe(process_type, code, sorted(pairs)).key)
            filled += 1
    store.flush()
    return filled
