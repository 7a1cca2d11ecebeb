"""One task of a recipe: its name, function, inputs and ordering, the ``label`` /
``description`` of its call's ``metadata=``, and the options of its task definition.

An explicit graph takes a task definition as the user made it: usually a module-level
``@task`` function, which a restart imports by name with all its options; but also one made
inline, ``wg.add_task(task(retries=2, error_handlers=...)(f), ...)``, whose options live only
in the object. So the recipe keeps a definition's options that differ from the defaults
(:func:`handle_options`): ``kind`` (``calcfunction``, ``monitor``, ``pythonjob``), ``name``,
``retries``, ``retry_on``, ``backoff``, ``timeout``, ``cache``, ``version``, ``executor``,
``error_handlers`` and the ``outputs`` / ``inputs`` specs it declared beyond its signature.
Functions and exception classes are written by ``module.qualname``, an error handler's
``kwargs`` as embedded values (:func:`.recipe_bindings.embed`).

On load (:func:`rebuild_options`): when the imported object is a definition with the same
options, it is used as it is (a module-level handle with a lambda handler comes back
whole); otherwise the definition is made again from the function with the recorded options,
and a name that does not import (a lambda, a function or class defined inside another) is
refused with a :class:`FerroflowError` naming the task and the option: a restart without the
handler or the retry rule would run the task differently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import FerroflowError
from ..model.graph import TaskNode, producers
from ..model.own_inputs import wrapper_kind
from ..model.spec import Namespace, SocketSpec, input_specs, output_spec
from ..model.taskdef import CalcFunctionDef, TaskDef
from .recipe_bindings import BindingWriter, embed, embedded, read_binding
from .recipe_specs import Resolve, read_spec, spec_json

__all__ = ["SignatureSpecs", "handle_options", "read_task", "rebuild_options", "task_entry"]


def _name(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _kind(handle: TaskDef) -> str | None:
    if isinstance(handle, CalcFunctionDef):
        return "calcfunction"
    return wrapper_kind(handle.func)


#: ``id(function) -> (function, its output spec, its input specs, its **kwargs name)``
SignatureSpecs = dict[int, tuple[Any, Namespace, dict[str, SocketSpec], str | None]]


def _signature_specs(
    func: Any, cache: SignatureSpecs | None
) -> tuple[Any, Namespace, dict[str, SocketSpec], str | None]:
    """What a plain ``@task`` of ``func`` declares, once per function in ``cache``
    (``add_task(f)`` makes a definition per call, and reading the output spec may read the
    function's source)."""
    found = None if cache is None else cache.get(id(func))
    if found is None:
        specs, var_kw = input_specs(func)
        found = (func, output_spec(func), specs, var_kw)
        if cache is not None:
            cache[id(func)] = found
    return found


def handle_options(handle: TaskDef, cache: SignatureSpecs | None = None) -> dict[str, Any]:
    """What the recipe keeps of ``handle``'s options: those that differ from a plain
    ``@task``'s (see the module docstring); nothing for a graph's. ``cache`` keeps what
    each function's signature declares across calls."""
    if handle.is_graph:
        return {}
    found: dict[str, Any] = {}
    kind = _kind(handle)
    if kind is not None:
        found["kind"] = kind
    if handle.name != handle.func.__name__:
        found["name"] = handle.name
    if handle.retries:
        found["retries"] = handle.retries
    if handle.retry_on != (Exception,):
        found["retry_on"] = [_name(e) for e in handle.retry_on]
    if handle.backoff:
        found["backoff"] = handle.backoff
    for key in ("timeout", "cache", "version", "executor"):
        if getattr(handle, key) is not None:
            found[key] = getattr(handle, key)
    if handle.error_handlers:
        found["error_handlers"] = [
            {
                "name": h.name,
                "handler": _name(h.handler),
                "exceptions": [_name(e) for e in h.exceptions],
                "max_retries": h.max_retries,
                "kwargs": {key: embed(value) for key, value in h.kwargs.items()},
            }
            for h in handle.error_handlers
        ]
    _, outputs, specs, var_kw = _signature_specs(handle.func, cache)
    if handle.outputs != outputs:
        found["outputs"] = spec_json(handle.outputs)
    declared = {
        key: spec_json(spec)
        for key, spec in handle.inputs.items()
        if key != var_kw and specs.get(key) != spec
    }
    if declared:
        found["inputs"] = declared
    return found


def task_entry(
    node: TaskNode, writer: BindingWriter, options: Callable[[TaskDef], dict[str, Any]]
) -> dict[str, Any]:
    """Task ``node`` as recipe data; ``options`` is :func:`handle_options` (cached by the
    caller: a handle is shared by many tasks)."""
    used = {id(p) for p in producers(node.inputs)}
    entry: dict[str, Any] = {
        "name": node.name,
        "type": node.handle.process_type,
        "inputs": {key: writer.binding(b) for key, b in node.inputs.items()},
        "after": [p.name for p in node.producers if id(p) not in used],
    }
    described = node.described()
    if described is not None:
        entry["meta"] = list(described)
    found = options(node.handle)
    if found:
        entry["options"] = found
    return entry


def read_task(where: str, task: Any) -> dict[str, Any]:
    """One task of a recipe, its bindings read by :func:`.recipe_bindings.read_binding`:
    ``{"name", "type", "inputs", "after", "meta", "options"}`` (``meta`` a ``(label,
    description)`` pair or None, ``options`` left as data for :func:`rebuild_options`, or None
    when the recipe recorded none: version 1, whose tasks are their imported definitions)."""
    name = str(task["name"])
    meta = task.get("meta")
    if meta is not None and not (
        isinstance(meta, list)
        and len(meta) == 2
        and all(m is None or isinstance(m, str) for m in meta)
    ):
        raise FerroflowError(f"{where}, task {name!r}: not a label and description: {meta!r}")
    options = task.get("options")  # None: a version-1 recipe, which recorded none
    if options is not None and not isinstance(options, dict):
        raise FerroflowError(f"{where}, task {name!r}: not a dict of options: {options!r}")
    return {
        "name": name,
        "type": str(task["type"]),
        "inputs": {
            str(key): read_binding(f"{where}, task {name!r}, input {key!r}", b)
            for key, b in task["inputs"].items()
        },
        "after": [str(before) for before in task["after"]],
        "meta": None if meta is None else (meta[0], meta[1]),
        "options": options,
    }


def _resolved(where: str, what: str, name: Any, resolve: Resolve, check: Any) -> Any:
    found = resolve(str(name)) if isinstance(name, str) else None
    if found is None or not check(found):
        raise FerroflowError(
            f"{where}: {what} '{name}' cannot be imported by that name (a lambda, or a "
            f"function or class defined inside another), so the task cannot be rebuilt as it "
            f"ran; define it at module level, or build the graph again"
        )
    return found


def _exception(found: Any) -> bool:
    return isinstance(found, type) and issubclass(found, BaseException)


def rebuild_options(
    where: str, options: dict[str, Any], resolve: Resolve, loosened: list[str]
) -> tuple[str | None, dict[str, Any]]:
    """``(kind, keyword options of TaskDef)`` from recorded ``options``, names resolved by
    ``resolve``; what does not resolve is refused, naming ``where`` (the task) and the option,
    except a socket's type, which is read as ``Any`` and described in ``loosened``."""
    kwargs: dict[str, Any] = {}
    for key in ("name", "retries", "backoff", "timeout", "cache", "version", "executor"):
        if key in options:
            kwargs[key] = options[key]
    if "retry_on" in options:
        kwargs["retry_on"] = tuple(
            _resolved(where, "retry_on exception class", name, resolve, _exception)
            for name in options["retry_on"]
        )
    handlers: dict[str, Any] = {}
    for entry in options.get("error_handlers", ()):
        label = f"error handler '{entry['name']}'"
        handlers[str(entry["name"])] = {
            "handler": _resolved(
                where, f"{label}: its function", entry["handler"], resolve, callable
            ),
            "exceptions": tuple(
                _resolved(where, f"{label}: its exception class", name, resolve, _exception)
                for name in entry["exceptions"]
            ),
            "max_retries": entry["max_retries"],
            "kwargs": {
                str(key): embedded(f"{where}: {label}, kwarg {key!r}", value)
                for key, value in entry["kwargs"].items()
            },
        }
    if handlers:
        kwargs["error_handlers"] = handlers
    if "outputs" in options:
        outputs = read_spec(f"{where}: outputs", options["outputs"], resolve, loosened)
        if not isinstance(outputs, Namespace):
            raise FerroflowError(f"{where}: its outputs are not a namespace")
        kwargs["outputs"] = outputs
    if "inputs" in options:
        kwargs["inputs"] = Namespace(
            {
                str(key): read_spec(f"{where}: input '{key}'", spec, resolve, loosened)
                for key, spec in options["inputs"].items()
            }
        )
    kind = options.get("kind")
    return (None if kind is None else str(kind)), kwargs
