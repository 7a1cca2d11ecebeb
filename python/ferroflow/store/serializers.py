"""Serialisers for types the store cannot keep well, chosen by the user (WorkGraph's F13b).

The store keeps JSON-able values as JSON, arrays as ``.npy`` and anything else by pickle. Some
objects pickle refuses (an ASE ``Atoms`` carrying a calculator with a lambda in it), or should
not be pickled (a file meant for others to read). :func:`register_serializer` names a type
(the class, or its ``"module.ClassName"`` so the library need not be imported) and two
functions: ``to_storable(value)`` returns plain data (dicts with ``str`` keys, lists, tuples,
``str``, ``int``, ``float``, ``bool``, ``None`` and numpy arrays of numbers), kept as JSON under
the codec ``registered``; ``from_storable(data)`` rebuilds the value when it is read.

The stored form is data only (no pickle, arrays as base64 of their bytes), so a shared store
or export holding it can be read safely. A process that has not registered the type reads a
:class:`RegisteredValue` (the type's name and the data) instead of the object. ASE's ``Atoms``
is registered by name from the start: ``Atoms.todict()`` (which leaves the calculator out) and
``Atoms.fromdict()``.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from typing import Any

from ..errors import FerroflowError, UnreadableValueError

__all__ = [
    "REGISTERED",
    "RegisteredValue",
    "decode_registered",
    "encode_registered",
    "read_registered",
    "register_serializer",
    "serializer_of",
]

#: the value codec of a value stored by a registered serialiser
REGISTERED = "registered"

_Entry = tuple[Callable[[Any], Any], Callable[[Any], Any]]
#: "module.ClassName" -> (to_storable, from_storable)
_REGISTRY: dict[str, _Entry] = {}
#: class -> its entry or None (memo of the lookup by name, cleared when one is registered)
_BY_CLASS: dict[type, _Entry | None] = {}
_ARRAY = "__ndarray__"


class RegisteredValue:
    """A value stored by a serialiser this process has not registered: its type's name and
    the data ``to_storable`` made (register the type and read again for the object)."""

    __slots__ = ("data", "type_name")

    def __init__(self, type_name: str, data: Any) -> None:
        self.type_name = type_name
        self.data = data

    def __repr__(self) -> str:
        return f"<RegisteredValue of {self.type_name} (not registered in this process)>"


def _name(tp: type) -> str:
    return f"{tp.__module__}.{tp.__qualname__}"


def register_serializer(
    tp: type | str, to_storable: Callable[[Any], Any], from_storable: Callable[[Any], Any]
) -> None:
    """Store values of exactly type ``tp`` (a class, or ``"module.ClassName"``) as
    ``to_storable(value)`` and read them back with ``from_storable(data)``; replaces an
    earlier registration of the same type."""
    name = tp if isinstance(tp, str) else _name(tp)
    if not isinstance(name, str) or "." not in name:
        raise TypeError(f"register_serializer: name a class or 'module.ClassName', got {tp!r}")
    if not callable(to_storable) or not callable(from_storable):
        raise TypeError("register_serializer: to_storable and from_storable must be callables")
    global _BY_CLASS
    _REGISTRY[name] = (to_storable, from_storable)
    _BY_CLASS = {}  # a new memo: a lookup racing on another thread fills the old one


def serializer_of(cls: type) -> _Entry | None:
    """The registered serialiser for values of exactly ``cls``, if any."""
    memo = _BY_CLASS
    try:
        return memo[cls]
    except KeyError:
        found = memo[cls] = _REGISTRY.get(_name(cls))
        return found


def _tree(value: Any, where: str) -> Any:
    """``to_storable``'s result as JSON-able data (arrays tagged), or TypeError naming where."""
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if kind in (list, tuple):
        return [_tree(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if kind is dict:
        if not all(isinstance(key, str) for key in value):
            raise TypeError(f"{where}: dict keys must be str")
        if _ARRAY in value or "__float__" in value:
            raise TypeError(f"{where}: a dict key may not be {_ARRAY!r} or '__float__'")
        return {key: _tree(item, f"{where}.{key}") for key, item in value.items()}
    dtype = getattr(value, "dtype", None)
    if dtype is not None and hasattr(value, "tobytes") and not dtype.hasobject:
        array = value if value.flags.c_contiguous else value.copy(order="C")
        return {
            _ARRAY: {
                "dtype": dtype.str,
                "shape": list(array.shape),
                "b64": base64.b64encode(array.tobytes()).decode("ascii"),
            }
        }
    raise TypeError(f"{where}: {kind.__qualname__} is not plain data")


def _untree(data: Any) -> Any:
    if isinstance(data, list):
        return [_untree(item) for item in data]
    if isinstance(data, dict):
        if set(data) == {_ARRAY}:
            import numpy  # an optional dependency: only for stored arrays

            spec = data[_ARRAY]
            flat = numpy.frombuffer(base64.b64decode(spec["b64"]), dtype=numpy.dtype(spec["dtype"]))
            return flat.reshape(spec["shape"]).copy()
        if set(data) == {"__float__"}:
            return float(data["__float__"])
        return {key: _untree(item) for key, item in data.items()}
    return data


def encode_registered(value: Any, entry: _Entry) -> str:
    """The stored text of ``value`` through its registered serialiser; raises what the
    serialiser raised, or TypeError if it did not return plain data."""
    name = _name(type(value))
    data = _tree(entry[0](value), f"to_storable of {name}")
    return json.dumps({"type": name, "data": data}, ensure_ascii=True, separators=(",", ":"))


def read_registered(payload: str | bytes) -> RegisteredValue:
    """The type name and data stored as ``payload``, without calling any serialiser (what an
    import checks); FerroflowError if it is not such a record."""
    try:
        text = payload if isinstance(payload, str) else bytes(payload).decode("ascii")
        record = json.loads(text)
        return RegisteredValue(str(record["type"]), _untree(record["data"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise FerroflowError(f"a registered value is malformed: {exc}") from None


def decode_registered(payload: str | bytes) -> Any:
    """The value stored as ``payload``: rebuilt by its registered serialiser, or a
    :class:`RegisteredValue` when this process has none for its type."""
    stored = read_registered(payload)
    name, data = stored.type_name, stored.data
    entry = _REGISTRY.get(name)
    if entry is None:
        return RegisteredValue(name, data)
    try:
        return entry[1](data)
    except Exception as exc:  # data it never wrote (an imported file's): say so, by type
        raise UnreadableValueError(
            f"a stored {name} could not be rebuilt by its registered from_storable "
            f"({type(exc).__name__}: {str(exc)[:200]})"
        ) from exc


def _atoms_to_storable(atoms: Any) -> Any:
    return atoms.todict()  # positions, numbers, cell, pbc, ...: not the calculator


def _atoms_from_storable(data: Any) -> Any:
    import ase  # an optional dependency: only for stored Atoms

    atoms: Any = ase.Atoms
    return atoms.fromdict(data)


register_serializer("ase.atoms.Atoms", _atoms_to_storable, _atoms_from_storable)
