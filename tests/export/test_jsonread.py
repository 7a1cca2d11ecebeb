"""The streaming JSON reader of imports (``ferroflow.export.jsonread``): it reads exactly what
``json.loads`` reads, at any chunk boundary, refuses what is not one JSON object, and an import
holds a fraction of what loading the whole document would."""

from __future__ import annotations

import io
import json
import os
import tracemalloc
from pathlib import Path
from typing import Any

import ferroflow.export.jsonread as jsonread
import pytest
from ferroflow import get_current_profile, task
from ferroflow.export import export_run, import_run
from ferroflow.store import Store
from hypothesis import given, settings
from hypothesis import strategies as st

_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_json = st.recursive(
    _leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["nodes", "links", "a", "b", "format"]), _json, max_size=5),
    st.integers(1, 9),
    st.sampled_from(["", " ", "\n  "]),
)
def test_it_reads_what_json_reads_at_any_chunk_size(
    document: dict[str, Any], chunk: int, space: str
) -> None:
    text = json.dumps(document, indent=1 if space else None) + space
    streamed: dict[str, list[tuple[int, Any]]] = {"nodes": [], "links": []}
    handlers = {
        key: (lambda item, index, key=key: streamed[key].append((index, item))) for key in streamed
    }
    old = jsonread._CHUNK
    jsonread._CHUNK = chunk  # every boundary: inside strings, numbers, escapes
    try:
        others = jsonread.read_object(io.StringIO(text), handlers)
    finally:
        jsonread._CHUNK = old
    for key, value in document.items():
        if key in streamed and isinstance(value, list):
            assert [item for _, item in streamed[key]] == value
            assert [index for index, _ in streamed[key]] == list(range(len(value)))
        else:
            assert others[key] == value
    assert set(others) == set(document)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        '{"a": 1',
        '{"a": 1} {"b": 2}',
        '{"a": 1, "a": 2}',  # json.load would keep the last silently
        '{"nodes": [1, 2,]}',
        '{"nodes": [1 2]}',
        "{1: 2}",
        '{"a": tru}',
    ],
)
def test_what_is_not_one_json_object_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"offset|Expecting|expected"):
        jsonread.read_object(io.StringIO(text), {"nodes": lambda item, index: None})


@task
def square(x: int) -> int:
    return x * x


@task.graph
def squares(n: int) -> None:
    for i in range(n):
        square(x=i)


def test_an_import_holds_far_less_than_the_whole_document(tmp_path: Path) -> None:
    wg = squares.build(4000)
    wg.run(progress=False)
    path = tmp_path / "run.json"
    export_run(get_current_profile().store, wg.pk, "json", path)
    size = os.path.getsize(path)
    tracemalloc.start()
    try:
        with open(path, encoding="utf-8") as fp:
            json.load(fp)  # what the whole document costs as Python objects
        whole = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        with Store.open(tmp_path / "other.sqlite") as target:
            result = import_run(target, path)
        streamed = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.created == 3 * 4000 + 1 + 1  # every node came across
    # the import (records, checks and rows included) peaks below the document alone, where it
    # used to hold the document and its records together
    assert streamed < whole, (streamed / size, whole / size)
