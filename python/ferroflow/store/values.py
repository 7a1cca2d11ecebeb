"""Serialisation of data-node values for the provenance store.

A value becomes ``(codec, payload)``; the codec says how to read the payload back:

``json``
    ``None``, ``bool``, ``int``, ``float`` (``nan`` and ``±inf`` included), ``str`` and any nesting
    of ``list``, ``tuple``, ``dict``, ``set`` and ``frozenset`` of those. Only *exact* builtin types
    qualify, so subclasses (``numpy.float64``, ``IntEnum``, ``OrderedDict``...) are pickled instead
    of silently losing their type. Tuples, sets and dicts whose keys are not all ``str`` are written
    as ``{"__ff__": "<kind>", "items": [...]}`` so they read back as the same type; a dict that
    happens to contain the key ``"__ff__"`` is always written in that escaped form, so the tag can
    never be confused with user data. Floats use ``repr`` and so round-trip exactly. Output is
    ASCII (``ensure_ascii``) so lone surrogates in strings cannot break the SQLite insert. A
    string holding a high surrogate right before a low one (two code points, e.g. from
    ``os.fsdecode``) is pickled instead: JSON writes the two as ``\\ud800\\udfff``, which
    every reader decodes as *one* character, so the value would read back changed.
``npy``
    ``numpy.ndarray`` (exact type, no object dtype) as ``.npy`` bytes written with
    ``allow_pickle=False``: dtype, shape, memory order and bytes round-trip exactly.
``bytes``
    ``bytes`` verbatim.
``pickle``
    Everything else that :mod:`pickle` accepts. Reading unpickles, which can run arbitrary code:
    that is fine for a store you wrote yourself, not for one received from somebody else.
``pickle-untrusted``
    A ``pickle`` payload that came from outside this store: ``ferroflow import`` of a file made by
    somebody else, without ``trust=True``. The bytes are kept unchanged (so a later trusted import
    or an export carries them on), but :func:`decode` refuses them with
    :class:`~ferroflow.errors.UntrustedValueError` instead of unpickling: unpickling runs
    whatever code the payload names. A distinct codec string, not a schema column, so the mark
    travels with the payload everywhere the codec does (node rows, blob rows and their digests,
    exports) and every reader that does not know it fails closed ("unknown codec").
``registered``
    A value of a type with a serialiser of the user's (:mod:`.serializers`, ASE's ``Atoms``
    built in): JSON of ``{"type", "data"}``, data only, rebuilt on read where the type is
    registered. Chosen before pickle, so the user's form wins.
``unserialisable``
    A value that even pickle refused. The writer must not die on it, so it stores a JSON record
    ``{"type", "repr", "error"}`` and reading returns an :class:`UnserialisableValue` that carries
    the type name, the ``repr`` and the pickling error text.

Payloads of ``npy`` and ``bytes`` always go to the content-addressed ``blob`` table (so identical
arrays are stored once); ``json`` and ``pickle`` payloads larger than :data:`INLINE_LIMIT` do too.
Encoding runs on the writer thread, never on the workers' hot path.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import re
import sys
from typing import Any, NamedTuple

from ..errors import UntrustedValueError
from .serializers import REGISTERED, decode_registered, encode_registered, serializer_of

__all__ = [
    "CODECS",
    "INLINE_LIMIT",
    "PICKLE_UNTRUSTED",
    "Encoded",
    "UnserialisableValue",
    "decode",
    "digest",
    "encode",
    "npy_summary",
    "shorten",
    "type_name",
]

#: Payloads above this many bytes are moved from the node row to the blob table.
INLINE_LIMIT = 4096

JSON = "json"
NPY = "npy"
BYTES = "bytes"
PICKLE = "pickle"
PICKLE_UNTRUSTED = "pickle-untrusted"  # 16 bytes: the longest blake2b ``person`` allowed
UNSERIALISABLE = "unserialisable"
CODECS = (JSON, NPY, BYTES, PICKLE, PICKLE_UNTRUSTED, UNSERIALISABLE, REGISTERED)

_TAG = "__ff__"
_PICKLE_PROTOCOL = 5
_MAX_REPR = 2000


class Encoded(NamedTuple):
    """A serialised value: ``payload`` is ``str`` for inline JSON, otherwise ``bytes``."""

    codec: str
    payload: str | bytes
    blob: bool  # True: the payload belongs in the blob table


class UnserialisableValue:
    """Stands in for a value that could not be serialised when it was stored.

    ``type`` is the qualified type name, ``repr`` the value's ``repr`` at write time (truncated),
    ``error`` the text of the exception pickle raised.
    """

    __slots__ = ("error", "repr", "type")

    def __init__(self, type: str, repr: str, error: str) -> None:
        self.type = type
        self.repr = repr
        self.error = error

    def __repr__(self) -> str:
        return f"<unserialisable {self.type}: {self.repr}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UnserialisableValue):
            return NotImplemented
        return (self.type, self.repr, self.error) == (other.type, other.repr, other.error)

    def __hash__(self) -> int:
        return hash((self.type, self.repr, self.error))


class _NotJSON(Exception):
    pass


def type_name(value: Any) -> str:
    """``int`` for builtins, ``module.QualName`` for everything else."""
    cls = type(value)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


#: a high surrogate followed by a low one: JSON cannot keep them two (see the docstring)
_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")


def _json_keeps(text: str) -> bool:
    """Whether JSON reads ``text`` back unchanged (:data:`_PAIR`)."""
    return text.isascii() or _PAIR.search(text) is None


def _to_json(value: Any) -> Any:
    cls = type(value)
    if value is None or cls is bool or cls is int or cls is float:
        return value
    if cls is str:
        if _json_keeps(value):
            return value
        raise _NotJSON
    if cls is list:
        return [_to_json(item) for item in value]
    if cls is dict:
        if _TAG not in value and all(type(key) is str and _json_keeps(key) for key in value):
            return {key: _to_json(item) for key, item in value.items()}
        return {_TAG: "dict", "items": [[_to_json(k), _to_json(v)] for k, v in value.items()]}
    if cls is tuple:
        return {_TAG: "tuple", "items": [_to_json(item) for item in value]}
    if cls is set or cls is frozenset:
        return {_TAG: cls.__name__, "items": [_to_json(item) for item in value]}
    raise _NotJSON


def _from_json(obj: dict[str, Any]) -> Any:
    kind = obj.get(_TAG)
    if kind is None:
        return obj
    items = obj["items"]
    if kind == "tuple":
        return tuple(items)
    if kind == "dict":
        return dict(items)  # keys decode hashable again (tuples, frozensets)
    if kind == "set":
        return set(items)
    if kind == "frozenset":
        return frozenset(items)
    raise ValueError(f"unknown tagged JSON value {kind!r}")


# One reusable encoder: json.dumps() with non-default options builds a new one per call (~3 us).
_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=True)
_dumps = _ENCODER.encode
_SCALAR_JSON = {None: "null", True: "true", False: "false"}


def encode(value: Any) -> Encoded:
    """Serialise ``value``; never raises (see the module docstring for the codecs)."""
    cls = type(value)
    # Fast paths for the most common task outputs.
    if cls is int:
        try:
            return Encoded(JSON, int.__repr__(value), False)  # what json writes for an int
        except ValueError:  # beyond sys.get_int_max_str_digits(): pickle it
            pass
    elif cls is bool or value is None:
        return Encoded(JSON, _SCALAR_JSON[value], False)
    elif cls is float or (cls is str and len(value) <= INLINE_LIMIT // 6 and _json_keeps(value)):
        return Encoded(JSON, _dumps(value), False)  # short enough to stay inline even escaped
    numpy = sys.modules.get("numpy")  # if numpy was never imported, value is no ndarray
    if numpy is not None and cls is numpy.ndarray and not value.dtype.hasobject:
        buffer = io.BytesIO()
        try:
            numpy.save(buffer, value, allow_pickle=False)
        except (ValueError, TypeError):
            pass
        else:
            return Encoded(NPY, buffer.getvalue(), True)
    if cls is bytes:
        return Encoded(BYTES, value, True)
    entry = serializer_of(cls)
    if entry is not None:
        try:
            stored = encode_registered(value, entry)
        except Exception as exc:
            return _unserialisable(value, exc)
        big = len(stored) > INLINE_LIMIT
        return Encoded(REGISTERED, stored.encode("ascii") if big else stored, big)
    try:
        text = _dumps(_to_json(value))
    except (_NotJSON, RecursionError, ValueError, TypeError):
        pass
    else:
        if len(text) > INLINE_LIMIT:
            return Encoded(JSON, text.encode("ascii"), True)
        return Encoded(JSON, text, False)
    try:
        data = pickle.dumps(value, protocol=_PICKLE_PROTOCOL)
    except Exception as exc:
        return _unserialisable(value, exc)
    return Encoded(PICKLE, data, len(data) > INLINE_LIMIT)


def _unserialisable(value: Any, exc: BaseException) -> Encoded:
    try:
        text = repr(value)
    except Exception as repr_exc:
        text = f"<{type_name(value)} object (repr failed: {type(repr_exc).__name__})>"
    record = {
        "type": type_name(value),
        "repr": shorten(text, _MAX_REPR),
        "error": f"{type(exc).__name__}: {exc}",
    }
    return Encoded(UNSERIALISABLE, _dumps(record), False)


def decode(codec: str, payload: str | bytes) -> Any:
    """Inverse of :func:`encode`. ``pickle`` payloads are unpickled: trust your own store only.

    ``pickle-untrusted`` payloads are never unpickled: :class:`UntrustedValueError`.
    """
    if codec == JSON:
        text = payload if isinstance(payload, str) else bytes(payload).decode("ascii")
        return json.loads(text, object_hook=_from_json)
    if codec == NPY:
        import numpy

        return numpy.load(io.BytesIO(payload), allow_pickle=False)  # type: ignore[arg-type]
    if codec == BYTES:
        return bytes(payload)  # type: ignore[arg-type]
    if codec == PICKLE:
        return pickle.loads(payload)  # type: ignore[arg-type]
    if codec == REGISTERED:
        return decode_registered(payload)
    if codec == PICKLE_UNTRUSTED:
        raise UntrustedValueError(
            "this value is a pickle imported from another store without trust; unpickling it "
            "could run arbitrary code, so ferroflow refuses. If you trust where the file came "
            "from, import it again with trust=True (`ferroflow import --trust FILE`) into a "
            "profile that does not hold it yet"
        )
    if codec == UNSERIALISABLE:
        text = payload if isinstance(payload, str) else bytes(payload).decode("utf-8")
        record = json.loads(text)
        return UnserialisableValue(record["type"], record["repr"], record["error"])
    raise ValueError(f"unknown value codec {codec!r}")


def digest(codec: str, payload: bytes) -> bytes:
    """Content address of a blob: blake2b-256 of the payload, personalised with the codec.

    Including the codec keeps ``b"..."`` stored as bytes apart from the same bytes read as npy.
    """
    return hashlib.blake2b(payload, digest_size=32, person=codec.encode("ascii")).digest()


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def npy_summary(head: bytes) -> str | None:
    """``ndarray float64 (3, 4)`` from the first bytes of an ``.npy`` payload (no full load)."""
    try:
        from numpy.lib import format as npy_format

        fp = io.BytesIO(head)
        version = npy_format.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = npy_format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, _, dtype = npy_format.read_array_header_2_0(fp)
        else:
            return None
    except Exception:
        return None
    return f"ndarray {dtype} {tuple(shape)}"
