"""Operators on futures: ``a.result + 1``, ``total < 0``, ``wg.inputs.n * 2`` add a small task.

WorkGraph users write conditions and small arithmetic on sockets (``If(total < 0)``,
``wg.outputs.y = s * 10``). An operator on a future cannot compute anything while the graph is
being built, so, as in WorkGraph, it adds a task to the current graph that applies the operator
when its operands exist, and returns that task's ``result`` socket. The tasks are named as
WorkGraph names them (``op_add``, ``op_lt``, … numbered when repeated), take inputs ``x`` and
``y``, and are recorded like any task (a calculation with two inputs and one output), so the
provenance says where the value came from. Their functions live here, importable by name, so a
restart or a loaded graph finds them again.

Arithmetic ``+ - * / // % **`` (and the reflected forms, ``1 + socket``) and comparisons
``< <= > >= == !=``. Truth (``bool``, ``if``), iteration and the bitwise operators still raise
:class:`~ferroflow.errors.FutureUsageError`: a decision needs the value, which only a task body or
a graph body running at run time has. ``==`` on sockets builds a task too; sockets keep identity
hashing, so they still work as dict keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .binding import bind_inputs
from .context_read import ContextRead
from .graph import Graph, TaskNode, current_graph, require_graph
from .sockets import FutureSocket, GraphInputSocket
from .spec import Namespace
from .taskdef import TaskDef

__all__ = ["OPERATORS", "apply_operator", "select"]


def _task(func: Callable[[Any, Any], Any]) -> TaskDef:
    """An operator's task; the module name binds to it, so ``module.op_add`` (its process
    type) imports back to the task, as a ``@task`` function's name does."""
    return TaskDef(func)


@_task
def op_add(x: Any, y: Any) -> Any:
    return x + y


@_task
def op_sub(x: Any, y: Any) -> Any:
    return x - y


@_task
def op_mul(x: Any, y: Any) -> Any:
    return x * y


@_task
def op_truediv(x: Any, y: Any) -> Any:
    return x / y


@_task
def op_floordiv(x: Any, y: Any) -> Any:
    return x // y


@_task
def op_mod(x: Any, y: Any) -> Any:
    return x % y


@_task
def op_pow(x: Any, y: Any) -> Any:
    return x**y


@_task
def op_lt(x: Any, y: Any) -> Any:
    return x < y


@_task
def op_le(x: Any, y: Any) -> Any:
    return x <= y


@_task
def op_gt(x: Any, y: Any) -> Any:
    return x > y


@_task
def op_ge(x: Any, y: Any) -> Any:
    return x >= y


@_task
def op_eq(x: Any, y: Any) -> Any:
    return x == y


@_task
def op_ne(x: Any, y: Any) -> Any:
    return x != y


@_task
def select(condition: Any, true: Any = None, false: Any = None) -> Any:
    """WorkGraph's ``workgraph.select``: ``true`` if ``condition`` holds, else ``false`` (the
    branch not taken usually comes from a skipped zone task and reads as ``None``)."""
    return true if condition else false


#: dunder name -> (its task, its symbol, whether it is arithmetic, with a reflected form)
OPERATORS: dict[str, tuple[TaskDef, str, bool]] = {
    name: (handle, symbol, arithmetic)
    for name, handle, symbol, arithmetic in (
        ("add", op_add, "+", True),
        ("sub", op_sub, "-", True),
        ("mul", op_mul, "*", True),
        ("truediv", op_truediv, "/", True),
        ("floordiv", op_floordiv, "//", True),
        ("mod", op_mod, "%", True),
        ("pow", op_pow, "**", True),
        ("lt", op_lt, "<", False),
        ("le", op_le, "<=", False),
        ("gt", op_gt, ">", False),
        ("ge", op_ge, ">=", False),
        ("eq", op_eq, "==", False),
        ("ne", op_ne, "!=", False),
    )
}


def apply_operator(handle: TaskDef, symbol: str, left: Any, right: Any) -> FutureSocket:
    """Add ``handle``'s task with ``x=left, y=right`` to the current graph; its result socket.
    A whole namespace of outputs is refused: an operator takes single values."""
    for operand in (left, right):
        if isinstance(operand, FutureSocket) and isinstance(operand._spec, Namespace):
            operand._refuse(f"the operator {symbol} (on a namespace of outputs)")
    graph = current_graph() or _graph_of(left) or _graph_of(right) or require_graph(handle.name)
    # (an operator inside a zone's block is one of its children, as in WorkGraph)
    name, n = graph.next_name(handle.name)
    bindings = bind_inputs(
        f"{graph.path}/{name}", handle.func, handle.inputs, None, (), {"x": left, "y": right}
    )
    node = graph.add(handle, bindings, name, n)
    return FutureSocket(node, ("result",), handle.outputs.fields["result"])


def _graph_of(operand: Any) -> Graph | None:
    """Outside a ``with`` block or graph body (``wg.outputs.y = a.outputs.result * 2`` on an
    explicit graph): the graph of the operand's task or graph input, if it has not run."""
    if isinstance(operand, FutureSocket):
        task = operand._task
        if isinstance(task, TaskNode) and task.id is None:
            return task.graph
    if isinstance(operand, GraphInputSocket) and isinstance(operand.owner, Graph):
        return operand.owner
    if isinstance(operand, ContextRead):
        return _graph_of(operand.entry)
    return None


def _method(handle: TaskDef, symbol: str, reflected: bool) -> Callable[[Any, Any], FutureSocket]:
    if reflected:
        return lambda self, other: apply_operator(handle, symbol, other, self)
    return lambda self, other: apply_operator(handle, symbol, self, other)


for _name, (_handle, _symbol, _arithmetic) in OPERATORS.items():
    for _cls in (FutureSocket, GraphInputSocket, ContextRead):
        setattr(_cls, f"__{_name}__", _method(_handle, _symbol, reflected=False))
        if _arithmetic:
            setattr(_cls, f"__r{_name}__", _method(_handle, _symbol, reflected=True))
