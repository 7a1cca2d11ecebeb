"""Binding a task call's arguments to its input sockets, with early, precise errors.

A call in a graph body gives values (bound as :class:`DataNode`), futures of other tasks'
outputs, or nested dicts of both for namespaces; anything that cannot fit the declared socket
(unknown name, missing input, a constant of the wrong type) is refused at the call, naming the
task and the socket, so a wrong workflow never starts.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..errors import TaskInputError
from .calcfunction import NodeArg
from .context_read import ContextRead
from .data import RAW_CONSTANTS, DataNode
from .labels import key_problem
from .sockets import NO_PRODUCERS, FutureSocket, GraphInputSocket
from .spec import NO_DEFAULT, Leaf, Namespace, SocketSpec
from .structured import fields_of
from .typecheck import exact_type, type_matches

__all__ = [
    "UNPLANNED",
    "CallPlan",
    "bind_given",
    "bind_inputs",
    "bind_keywords",
    "bind_value",
    "call_plan",
    "check_arrived",
    "complete_inputs",
]


def _where(task: str, path: str) -> str:
    """``task 'G/square', input 'data.a'`` for messages."""
    return f"task '{task}', input '{path}'"


def _check_leaf(where: str, spec: Leaf, value: Any) -> None:
    raw = value.value if isinstance(value, DataNode) else value
    if not type_matches(spec.type, raw):
        raise TaskInputError(
            f"{where}: expected {spec.describe()}, got {type(raw).__qualname__} {raw!r}. "
            f"Pass a value of the declared type or change the annotation."
        )


def check_arrived(task: Any, name: str, value: Any) -> None:
    """A value from another task arrived at ``task``'s input ``name`` at run time: raise
    :class:`TaskInputError` if it does not fit the input's declared type (constants were
    checked when the graph was built)."""
    spec = task.handle.inputs.get(name)
    if isinstance(spec, Leaf):
        _check_leaf(f"{_where(task.path, name)} (a value from another task)", spec, value)


def _bind_value(task: str, path: str, spec: SocketSpec, value: Any) -> Any:
    """Turn one argument into a binding: sockets stay, data nodes stay, raw values become new
    (unstored) data nodes; dicts bound to namespaces are bound item by item. ``task`` and the
    dotted socket ``path`` name the input in error messages."""
    kind = type(value)
    if kind is FutureSocket or kind is GraphInputSocket or kind is ContextRead:
        return value
    if kind is NodeArg:  # orm.Int(2) and its arithmetic: bound as a plain data node
        value, kind = DataNode(value.value, value._uuid, value._pk), DataNode
    if type(spec) is Leaf and kind is not dict:
        # Hot path: one plain value (or node) for one leaf input.
        raw = value.value if kind is DataNode else value
        if not type_matches(spec.type, raw):
            _check_leaf(_where(task, path), spec, value)  # raises with the full message
        return value if kind is DataNode else DataNode(value)
    where = _where(task, path)
    if isinstance(value, FutureSocket):
        return value
    if isinstance(spec, Namespace):
        if isinstance(value, DataNode):
            value = value.value  # a whole dict value: one node per key from here on
        split = fields_of(value)  # a dataclass / pydantic instance: one node per field
        if split is not None:
            value = split
        if not isinstance(value, dict):
            raise TaskInputError(
                f"{where}: expected a dict for namespace input {spec.describe()}, "
                f"got {type(value).__qualname__} {value!r}. Pass a dict with one entry per "
                f"key (or another task's namespace output)."
            )
        bound: dict[str, Any] = {}
        for key, item in value.items():
            problem = key_problem(key)
            if problem is not None:
                raise TaskInputError(f"{where}: {problem}")
            child = spec.child(key)
            if child is None:
                raise TaskInputError(
                    f"{_where(task, f'{path}.{key}')}: unknown input; this namespace accepts "
                    f"{', '.join(spec.fields) or 'no keys'}. Remove it, or make the namespace "
                    f"dynamic(...) to accept any key."
                )
            bound[key] = _bind_value(task, f"{path}.{key}", child, item)
        for key, field in spec.fields.items():  # namespace(b=(int, 5)): b is 5 unless given
            if key not in bound and type(field) is Leaf and field.default is not NO_DEFAULT:
                # as a parameter's default: the declaration's own value, not type-checked
                bound[key] = DataNode(field.default)
        missing = [
            k
            for k, s in spec.fields.items()
            if k not in bound and isinstance(s, Leaf) and s.required
        ]
        if missing:
            raise TaskInputError(
                f"{where}: missing required input(s) {', '.join(missing)}; add them to the dict"
            )
        return bound
    assert isinstance(spec, Leaf)
    if isinstance(value, dict) and any(
        isinstance(v, (FutureSocket, DataNode)) for v in value.values()
    ):
        # a dict of sockets for a plain input: resolved to a dict value at run time
        for key in value:
            problem = key_problem(key)
            if problem is not None:
                raise TaskInputError(f"{where}: {problem}")
        return {k: _bind_value(task, f"{path}.{k}", Leaf(), v) for k, v in value.items()}
    _check_leaf(where, spec, value)
    return value if isinstance(value, DataNode) else DataNode(value)


_Layout = tuple[inspect.Signature, frozenset[str], dict[str, Any], frozenset[str]]
_layouts: dict[Any, _Layout] = {}


def _layout(func: Any) -> _Layout:
    """Signature facts of a task function, computed once (inspect.signature costs ~50 µs)."""
    layout = _layouts.get(func)
    if layout is None:
        signature = inspect.signature(func)
        params = signature.parameters.values()
        simple = all(p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in params)
        names = frozenset(p.name for p in params) if simple else frozenset()
        defaults = {p.name: p.default for p in params if p.default is not p.empty}
        required = frozenset(p.name for p in params if p.default is p.empty)
        layout = _layouts[func] = (signature, names, defaults, required)
    return layout


#: Argument kinds :func:`bind_keywords` leaves to :func:`_bind_value`: they are bound as they
#: are, unwrapped, or bound item by item (a dict of sockets for a plain input).
_SPECIAL = frozenset({dict, GraphInputSocket, ContextRead, NodeArg})

#: One input of a :class:`CallPlan`: its name, its spec, and the class whose exact instances
#: fit it without a closer look (None: any value fits).
CallPlan = tuple[tuple[str, Leaf, Any], ...]

#: Marks a handle whose plan is not made yet (compared by identity).
UNPLANNED: CallPlan = (("", Leaf(), None),)


def call_plan(func: Any, specs: dict[str, SocketSpec], var_kw: str | None) -> CallPlan | None:
    """What :func:`bind_keywords` needs to bind a task's keyword calls, computed once per task
    definition; None when its calls always take :func:`bind_inputs` (``**kwargs``, a
    namespace input, or parameters the inputs do not mirror one to one)."""
    _, names, _, _ = _layout(func)
    if var_kw is not None or names != frozenset(specs):
        return None
    plan: list[tuple[str, Leaf, Any]] = []
    for name, spec in specs.items():
        if type(spec) is not Leaf:
            return None
        plan.append((name, spec, exact_type(spec.type)))
    return tuple(plan)


def bind_keywords(
    plan: CallPlan, kwargs: dict[str, Any], graph: Any, base: str
) -> tuple[dict[str, Any], list[Any] | None, bool] | None:
    """The bindings of a call that passes every input by keyword (the common case in graph
    bodies), the distinct tasks whose outputs they use, in input order (None: a binding other
    than a socket or data node, for :func:`~.graph.producers`), and whether a plain constant
    was left as it is (see ``TaskNode.inputs``); None when the call
    does not name exactly the plan's inputs (then :func:`bind_inputs` binds it, or words the
    error). Binds as :func:`_bind_value` does, which it calls for anything but sockets, data
    nodes and values exactly of the input's class. The task will be the next of ``base`` in
    ``graph`` (a :class:`~.graph.Graph`): its label for messages is made only when needed."""
    if len(kwargs) != len(plan):
        return None
    # A call's own keyword dict (fresh for every call) becomes the task's bindings when the
    # order of its keys cannot differ from the plan's: one dict per task made, not two (most
    # tasks of a scatter take one input).
    inputs: dict[str, Any] = kwargs if len(plan) == 1 else {}
    found: list[Any] = NO_PRODUCERS
    general = raw = False
    try:
        for name, spec, accept in plan:
            value = kwargs[name]
            kind = type(value)
            if kind is FutureSocket:
                used = value._task
                if found is NO_PRODUCERS:
                    found = [used]
                elif all(p is not used for p in found):
                    found.append(used)
            elif kind is DataNode:
                if accept is not None and type(value.value) is not accept:
                    value = _bind_value(_next_label(graph, base), name, spec, value)
            elif kind not in _SPECIAL and (accept is None or kind is accept):
                if kind in RAW_CONSTANTS:
                    raw = True  # its data node is made on first use (TaskNode.inputs)
                else:
                    value = DataNode(value)
            else:
                value = _bind_value(_next_label(graph, base), name, spec, value)
                general = True
            inputs[name] = value
    except KeyError:
        return None
    return inputs, (None if general else found), raw


def _next_label(graph: Any, base: str) -> str:
    """``G/name`` of the task the graph's next call of ``base`` adds."""
    return f"{graph.path}/{graph.next_name(base)[0]}"


def bind_inputs(
    task_label: str,
    func: Any,
    specs: dict[str, SocketSpec],
    var_kw: str | None,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> dict[str, Any]:
    """Bind a call's arguments to the task's input sockets (see :func:`_bind_value`)."""
    signature, names, defaults, required = _layout(func)
    if not args and var_kw is None and required.issubset(kwargs) and names.issuperset(kwargs):
        # Fast path (keyword calls, the common case in graph bodies): no Signature.bind.
        return {
            name: _bind_value(
                task_label, name, specs[name], kwargs[name] if name in kwargs else defaults[name]
            )
            for name in specs
        }
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        listed = [n for n in specs if n != var_kw]
        unknown = [k for k in kwargs if k not in specs]
        if unknown and var_kw is None:
            detail = f"unknown input '{unknown[0]}' (check its spelling)"
        else:
            missing = [
                n
                for n, p in signature.parameters.items()
                if p.default is inspect.Parameter.empty
                and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
                and n not in kwargs
            ][len(args) :]
            detail = (
                f"missing required input '{missing[0]}' (pass {missing[0]}=...)"
                if missing
                else str(exc)
            )
        raise TaskInputError(
            f"task '{task_label}': {detail}. Its inputs are: {', '.join(listed) or '<none>'}"
            + (f" and any keyword (**{var_kw})" if var_kw else "")
        ) from None
    bound.apply_defaults()
    result: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        if name == var_kw:
            result[name] = _bind_value(task_label, name, specs[name], _spread(var_kw, value))
        else:
            result[name] = _bind_value(task_label, name, specs[name], value)
    return result


def _spread(var_kw: str, given: dict[str, Any]) -> Any:
    """The ``**kwargs`` namespace of a call. ``f(data=ns)`` for ``def f(**data)`` feeds the
    whole namespace ``ns`` (a namespace socket or a dict), as WorkGraph does, rather than one
    entry named ``data``: the function is then called as ``f(**ns)``."""
    if len(given) == 1 and var_kw in given:
        whole = given[var_kw]
        if isinstance(whole, (FutureSocket, dict)):
            return whole
    return dict(given)


def bind_given(
    task_label: str, specs: dict[str, SocketSpec], var_kw: str | None, given: dict[str, Any]
) -> dict[str, Any]:
    """Bind the inputs given so far to a task added explicitly (``wg.add_task``): the others
    may still come by ``add_link``, ``set_inputs`` or ``run(inputs=...)``, so only unknown
    names are refused here; :func:`complete_inputs` checks the rest before the run."""
    result: dict[str, Any] = {}
    spread: dict[str, Any] = {}
    for name, value in given.items():
        if name == var_kw and isinstance(value, FutureSocket):
            result[name] = _bind_value(task_label, name, specs[name], value)
        elif name == var_kw and isinstance(value, dict):
            spread.update(value)
        elif name in specs and name != var_kw:
            result[name] = _bind_value(task_label, name, specs[name], value)
        elif var_kw is not None:
            spread[name] = value
        else:
            raise TaskInputError(
                f"task '{task_label}': unknown input '{name}' (check its spelling). Its inputs "
                f"are: {', '.join(specs) or '<none>'}"
            )
    if var_kw is not None and spread:
        result[var_kw] = _bind_value(task_label, var_kw, specs[var_kw], spread)
    return result


def complete_inputs(task_label: str, func: Any, bound: dict[str, Any]) -> dict[str, Any]:
    """``bound`` with the defaults of the inputs nobody gave; a required input still missing is
    refused, naming the task and the socket, before anything runs."""
    _, _, defaults, required = _layout(func)
    missing = [name for name in required if name not in bound and _is_plain(func, name)]
    if missing:
        raise TaskInputError(
            f"task '{task_label}': missing required input '{missing[0]}'; give it in "
            f"add_task(..., {missing[0]}=...), link it with wg.add_link, or pass "
            f"run(inputs={{'{task_label.rsplit('/', 1)[-1]}': {{'{missing[0]}': ...}}}})"
        )
    for name, value in defaults.items():
        if name not in bound:
            bound[name] = value if isinstance(value, DataNode) else DataNode(value)
    return bound


def _is_plain(func: Any, name: str) -> bool:
    """Whether parameter ``name`` takes one argument (not ``*args`` / ``**kwargs``)."""
    kind = _layout(func)[0].parameters[name].kind
    return kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def bind_value(task_label: str, path: str, spec: SocketSpec, value: Any) -> Any:
    """One value bound to one socket, checked against its spec (see :func:`_bind_value`)."""
    return _bind_value(task_label, path, spec, value)
