"""Value isolation: every call of a task gets inputs of its own.

One data node feeds many consumers, the caller's own objects are graph inputs, and the store
serialises values later, on its writer thread. A task that mutated an input in place would
change what its siblings see, the caller's object and the stored provenance (and so cache
keys). So a value is handed to a call through :func:`isolate`, never as the stored object:

* immutable scalars (``int``, ``float``, ``str``, ``bytes``, ``bool``, ``None``, ``complex``)
  and tuples / frozensets of them are passed as they are, at no cost (the fast lane checks the
  first five by exact type in Rust and never calls here for them);
* a numpy array is passed as a **read-only view** of the same memory, without copying: a task
  that writes into an input array gets numpy's ``ValueError: ... read-only`` and must
  ``.copy()`` it first (an array of Python objects is copied instead: its items are mutable);
* a dict whose keys and values are all immutable scalars is copied shallowly (a full copy, for
  it; half the cost of pickling);
* any other value (lists, sets, nested containers, user objects) is copied per call, by a
  pickle round trip (measured 2.5-7x faster than :func:`copy.deepcopy` on lists and dicts of
  scalars; for a flat list also faster than checking its items), or :func:`copy.deepcopy`
  where pickling is refused (a local class); a value neither can copy (a lock, a generator) is
  passed as it is. The cost is in ``benches/README.md`` ("Value isolation").

The stored value is therefore the value as produced: no consumer holds the producer's object.
"""

from __future__ import annotations

import copy
import pickle
import sys
from typing import Any

__all__ = ["IMMUTABLE", "isolate"]

#: Types whose values no task can change: passed to calls as they are.
IMMUTABLE = frozenset({int, float, str, bytes, bool, type(None), complex, range})
_immutable = IMMUTABLE.__contains__


def _readonly(array: Any) -> Any:
    view = array.view()
    view.flags.writeable = False
    return view


def isolate(value: Any) -> Any:
    """``value`` as one call may receive it: itself if immutable, a read-only view of a numpy
    array, otherwise a copy (see the module docstring)."""
    kind = type(value)
    if kind in IMMUTABLE:
        return value
    if (kind is tuple or kind is frozenset) and all(map(_immutable, map(type, value))):
        return value
    if (
        kind is dict
        and all(map(_immutable, map(type, value.values())))
        and all(map(_immutable, map(type, value)))
    ):
        return value.copy()  # flat: a shallow copy is a full one (2x faster than pickle)
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.ndarray) and not value.dtype.hasobject:
        return _readonly(value)
    try:
        return pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
    except Exception:
        pass
    try:
        return copy.deepcopy(value)
    except Exception:
        return value  # nothing can copy it: shared, as the module docstring says
