"""Cache keys: when two task runs are interchangeable.

A task run's **cache key** is a blake2b-256 digest over

* the function's identity: its ``process_type`` (``module.qualname``),
* its **code digest**: of ``@task(version=...)`` when given, else of the function's source text
  (decorators included), else, for functions without source (REPL, ``exec``), of its code object,
* and, for every input leaf sorted by link label (``data__x`` for namespaces), the label and the
  **value digest** of the value.

Why source and not bytecode: the source changes exactly when the user edits the function, the
bytecode also with every Python upgrade (which would invalidate every cache, the pain AiiDA hit
with package versions in its hashes). Known limit, as in redun and Prefect: helper functions,
globals and closures the body uses are not part of the key; change ``version=`` to force
re-execution when only they changed.

Value digests are **canonical and typed**: ``1``, ``1.0``, ``True`` and ``"1"`` differ; dicts and
sets hash the same whatever their insertion order; a tuple differs from a list; floats are exact
(``float.hex``: AiiDA rounds to 14 significant digits, which can make a hit of a run whose
inputs differed; we prefer a miss); numpy arrays hash their dtype, shape and bytes in C order
(so a Fortran-ordered copy hits too); any other value hashes its type name and pickle bytes. A
value pickle refuses (or one the store kept only as its repr) makes the task uncacheable: it
runs, and ``ferroflow cache why`` says why it has no key.

The digest of a value read back from the store equals that of the value that was stored (the
store's codecs round-trip types exactly), which is what lets :mod:`ferroflow.restart` compute
the keys of a run that was recorded without caching.
"""

from __future__ import annotations

import hashlib
import inspect
import marshal
import pickle
import struct
import sys
import textwrap
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from ..errors import UncacheableError
from ..store.values import UnserialisableValue, type_name

__all__ = [
    "KeyRecipe",
    "UncacheableError",
    "code_digest",
    "key_recipe",
    "value_digest",
]

_PERSON_VALUE = b"ff-value-v1"
_PERSON_KEY = b"ff-cache-key-v1"
_PERSON_CODE = b"ff-code-v1"


def _h(tag: bytes, *parts: bytes) -> bytes:
    h = hashlib.blake2b(digest_size=32, person=_PERSON_VALUE)
    h.update(tag)
    for part in parts:
        h.update(struct.pack("<Q", len(part)))
        h.update(part)
    return h.digest()


def value_digest(value: Any) -> bytes:
    """Canonical typed digest (32 bytes) of a task input value; see the module docstring."""
    kind = type(value)
    if value is None:
        return _h(b"none")
    if kind is bool:
        return _h(b"bool", b"1" if value else b"0")
    if kind is int:
        return _h(b"int", str(value).encode())
    if kind is float:
        return _h(b"float", value.hex().encode())
    if kind is str:
        return _h(b"str", value.encode("utf-8", "surrogatepass"))
    if kind is bytes:
        return _h(b"bytes", value)
    if kind is list or kind is tuple:
        return _h(b"list(" if kind is list else b"tuple(", *(value_digest(v) for v in value))
    if kind is dict:
        pairs = sorted(value_digest(k) + value_digest(v) for k, v in value.items())
        return _h(b"dict(", *pairs)
    if kind is set or kind is frozenset:
        return _h(b"set(" if kind is set else b"frozenset(", *sorted(map(value_digest, value)))
    np = sys.modules.get("numpy")  # not imported: the value cannot be an array (no import cost)
    if np is not None:
        if kind is np.ndarray and value.dtype != object:
            shape = ",".join(map(str, value.shape)).encode()
            data = np.ascontiguousarray(value).tobytes()
            return _h(b"ndarray", value.dtype.str.encode(), shape, data)
        if isinstance(value, np.generic) and not isinstance(value, np.object_):
            return _h(b"npscalar", value.dtype.str.encode(), value.tobytes())

    if kind is UnserialisableValue:
        raise UncacheableError(
            f"the value of type {value.type} was stored only as its repr, so it has no digest"
        )
    try:
        payload = pickle.dumps(value, protocol=5)
    except Exception as exc:
        raise UncacheableError(
            f"a value of type {type_name(value)} cannot be pickled ({exc}), so it has no digest"
        ) from None
    return _h(b"pickle", type_name(value).encode(), payload)


def _source_of(func: Callable[..., Any]) -> bytes:
    try:
        return textwrap.dedent(inspect.getsource(func)).encode()
    except (OSError, TypeError):
        code = getattr(func, "__code__", None)
        if code is None:
            return repr(func).encode()
        return marshal.dumps(code)


def code_digest(handle: Any) -> bytes:
    """Digest of a task's code (``version=`` if declared, else its source); computed once per
    handle and kept on it."""
    found: bytes | None = getattr(handle, "_code_digest", None)
    if found is None:
        h = hashlib.blake2b(digest_size=32, person=_PERSON_CODE)
        version = getattr(handle, "version", None)
        if version is not None:
            h.update(b"version:" + str(version).encode())
        else:
            h.update(b"source:" + _source_of(handle.func))
        found = h.digest()
        handle._code_digest = found
    return found


class KeyRecipe(NamedTuple):
    """What went into a cache key (``ferroflow cache why`` prints it)."""

    process_type: str
    code: bytes
    #: (link label, value digest) per input leaf, sorted by label
    inputs: list[tuple[str, bytes]]

    @property
    def key(self) -> bytes:
        h = hashlib.blake2b(digest_size=32, person=_PERSON_KEY)
        h.update(self.process_type.encode() + b"\0")
        h.update(self.code)
        for label, digest in self.inputs:
            h.update(label.encode() + b"\0")
            h.update(digest)
        return h.digest()


def key_recipe(process_type: str, code: bytes, inputs: Iterable[tuple[str, Any]]) -> KeyRecipe:
    """The recipe of a task run with these (link label, input value) pairs; raises
    :class:`UncacheableError` when a value has no digest (naming its input)."""
    digests: list[tuple[str, bytes]] = []
    for label, value in inputs:
        try:
            digests.append((label, value_digest(value)))
        except UncacheableError as exc:
            raise UncacheableError(f"input '{label}': {exc}") from None
    digests.sort()
    return KeyRecipe(process_type, code, digests)
