"""Running a graph body and binding what it returns to the graph's output sockets.

The body runs with concrete inputs (data nodes, dicts of data nodes for namespaces), so Python
loops and branches over them work; it may only *wire* tasks. What it returns must be made of
sockets (or unchanged graph inputs): a value computed in the body would have no creator in the
provenance graph, so it is refused with :class:`GraphReturnError`.
"""

from __future__ import annotations

import fnmatch
import warnings
from typing import Any

from ..errors import GraphReturnError
from .data import DataNode
from .graph import Graph, graph_context
from .labels import key_problem
from .sockets import FutureSocket
from .spec import Leaf, Namespace, SocketSpec
from .taskdef import GraphDef

__all__ = ["apply_graph_handlers", "bind_graph_outputs", "run_body"]


def _in(path: str) -> str:
    """``, output 'data'`` before a problem in a nested output; nothing at the top level."""
    return f", output '{path}'" if path else ""


def run_body(handle: GraphDef, graph: Graph) -> None:
    """Execute ``handle``'s body with ``graph`` current and bind its return value."""
    kwargs = dict(graph.inputs)
    extra = kwargs.pop(handle.var_kw, {}) if handle.var_kw else {}
    with graph_context(graph):
        returned = handle.func(**kwargs, **extra)
    graph.outputs = bind_graph_outputs(graph.path, handle.outputs, returned)
    apply_graph_handlers(handle, graph)


def _is_socket(value: Any) -> bool:
    return isinstance(value, (FutureSocket, DataNode))


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _refuse(where: str, socket: str, value: Any) -> GraphReturnError:
    return GraphReturnError(
        f"graph '{where}', output '{socket}': got the plain value {value!r} "
        f"({type(value).__qualname__}). A graph body may only return task outputs (sockets) or "
        f"its own inputs; a value computed in the body would have no provenance. Compute it in "
        f"a @task and return that task's output instead."
    )


def _bind(where: str, path: str, spec: SocketSpec, value: Any) -> Any:
    if isinstance(value, FutureSocket):
        return value
    if isinstance(spec, Namespace):
        if isinstance(value, DataNode) and isinstance(value.value, dict):
            return value
        if not isinstance(value, dict):
            raise _refuse(where, path, value)
        bound: dict[str, Any] = {}
        for key, item in value.items():
            problem = key_problem(key)
            if problem is not None:
                raise GraphReturnError(f"graph '{where}'{_in(path)}: {problem}")
            child = spec.child(key)
            if child is None:
                raise GraphReturnError(
                    f"graph '{where}': returned unknown output '{_join(path, key)}'; declared: "
                    f"{', '.join(spec.fields) or '<none>'}. Declare it in the return annotation."
                )
            bound[key] = _bind(where, _join(path, key), child, item)
        return bound
    if isinstance(value, DataNode):
        return value
    if isinstance(value, dict) and value and all(_is_socket(v) for v in value.values()):
        for key in value:
            problem = key_problem(key)
            if problem is not None:
                raise GraphReturnError(f"graph '{where}'{_in(path)}: {problem}")
        return dict(value)
    raise _refuse(where, path, value)


def bind_graph_outputs(where: str, spec: Namespace, returned: Any) -> dict[str, Any] | FutureSocket:
    """Map a body's return value onto the declared outputs (WorkGraph's rules):
    ``None`` → no outputs; one socket → the first declared output; a task's whole outputs
    namespace → copied by name (taken whole if the outputs are dynamic); a dict → by key; a
    tuple → by position."""
    fields = list(spec.fields)
    if returned is None:
        required = [k for k, s in spec.fields.items() if not isinstance(s, Leaf) or s.required]
        if required:
            raise GraphReturnError(
                f"graph '{where}' declares output(s) {', '.join(required)} but its body "
                f"returned None. Return the task outputs that produce them."
            )
        return {}
    if (
        isinstance(returned, FutureSocket)
        and isinstance(returned._spec, Namespace)
        and spec.dynamic is not None
        and (not returned._path or not fields)
    ):
        # a dynamic graph output takes a whole namespace: its keys are known only at run time
        return returned
    if isinstance(returned, FutureSocket) and not returned._path:
        # a task's whole outputs namespace: copy by name
        outputs = returned._spec
        assert isinstance(outputs, Namespace)  # a task's outputs (path ()) are a namespace
        if len(fields) == 1 and spec.dynamic is None and fields[0] not in outputs.fields:
            return {fields[0]: returned}
        return {name: returned._child(name) for name in fields}
    if _is_socket(returned):
        if not fields:
            raise GraphReturnError(f"graph '{where}' returned {returned!r} but declares no outputs")
        return {fields[0]: _bind(where, fields[0], spec.fields[fields[0]], returned)}
    if isinstance(returned, tuple):
        paired = spec.by_position(returned)
        if isinstance(paired, str):
            raise GraphReturnError(f"graph '{where}' {paired}")
        return {name: _bind(where, name, child, value) for name, child, value in paired}
    if isinstance(returned, dict):
        if fields == ["result"] and spec.dynamic is None and "result" not in returned:
            return {"result": _bind(where, "result", spec.fields["result"], returned)}
        bound = _bind(where, "", spec, returned)
        assert isinstance(bound, dict)
        return bound
    raise _refuse(where, fields[0] if fields else "outputs", returned)


def apply_graph_handlers(handle: GraphDef, graph: Graph) -> None:
    """Give each calc task of ``graph``'s body the handlers of ``handle`` (the graph function)
    that name it (by task name, e.g. ``square1``, or function name, e.g. ``square``; shell
    patterns allowed), after its own. Called when the body has run (at build, or when a nested
    graph expands). Only the body's own tasks are served: a nested graph's tasks get the
    handlers of *its* graph function. A handler that names no task of a body that made some is
    most likely a typo: one warning per graph function and handler says so, pointing at the
    graph function (a recursion's base case, which makes no task, is not warned about)."""
    handlers = handle.child_error_handlers
    if not handlers:
        return
    calcs = [task for task in graph.tasks if not task.handle.is_graph]
    used: set[str] = set()
    for task in calcs:
        names = (task.name, task.handle.name)
        mine = tuple(
            h for h in handlers if any(fnmatch.fnmatchcase(n, p) for p in h.tasks for n in names)
        )
        if mine:
            task.handlers = task.handle.error_handlers + mine
            task.fast_ok = False  # handlers run in the general runner's attempt loop
            used.update(h.name for h in mine)
    if not calcs:
        return
    for h in handlers:
        if h.name not in used and h.name not in handle.warned_handlers:
            handle.warned_handlers.add(h.name)
            have = sorted({t.name for t in calcs})
            code = handle.func.__code__
            warnings.warn_explicit(
                f"@task.graph '{handle.name}': error handler '{h.name}' serves tasks "
                f"{list(h.tasks)}, but its body made no such task (it made: {', '.join(have)})",
                UserWarning,
                filename=code.co_filename,
                lineno=code.co_firstlineno,
                module=handle.func.__module__,
            )
