"""Property-based fuzzing of ``ferroflow import`` (hypothesis): random JSON, random text and real
exports mutated field by field (keys deleted, types changed, huge/NaN/infinite numbers, lone
surrogates, uuids swapped for ones the store holds, links added between random nodes, records
duplicated or dropped) never crash with anything but a :class:`FerroflowError`, never change or
remove a row the store held before (a refused import writes nothing at all), and never leave
the store failing ``PRAGMA integrity_check`` or the link-rule queries of ``store_rules``."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from ferroflow import load_profile
from ferroflow.errors import FerroflowError
from ferroflow.export import import_run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from provenance_flows import export_json, run_howto, run_mixed, write_json
from store_rules import snapshot, violations

NODE_KEYS = [
    "uuid", "pk", "kind", "type", "label", "state", "error", "run", "ctime", "mtime", "hash",
    "cached_from", "codec", "blob", "value", "value_json", "value_b64",
]  # fmt: skip
LINK_KEYS = ["src", "dst", "type", "label"]
TOP_KEYS = ["format", "version", "run", "nodes", "links", "code"]
WORDS = [
    "data", "calc", "work", "FINISHED", "FAILED", "RUNNING", "INPUT_CALC", "INPUT_WORK",
    "CREATE", "RETURN", "CALL_CALC", "CALL_WORK", "json", "npy", "bytes", "pickle",
    "pickle-untrusted", "unserialisable", "a\ud800", "", "m.f\n", "AAAA", "ab" * 40, "{",
]  # fmt: skip

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.floats()
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def _ops(uuids: list[str]) -> st.SearchStrategy[tuple[Any, ...]]:
    """One mutation of a document, as data (applied by :func:`_apply`)."""
    index = st.integers(min_value=0, max_value=200)
    value = JSON_VALUES | st.sampled_from(WORDS) | st.sampled_from(uuids)
    return st.one_of(
        st.tuples(
            st.just("set"),
            st.sampled_from(["nodes", "links"]),
            index,
            st.sampled_from(NODE_KEYS + LINK_KEYS),
            value,
        ),
        st.tuples(
            st.just("del"),
            st.sampled_from(["nodes", "links"]),
            index,
            st.sampled_from(NODE_KEYS + LINK_KEYS),
        ),
        st.tuples(st.just("top"), st.sampled_from(TOP_KEYS), value),
        st.tuples(st.just("deltop"), st.sampled_from(TOP_KEYS)),
        st.tuples(st.just("stored"), index, st.sampled_from(uuids)),
        st.tuples(st.just("link"), index, index, st.sampled_from(WORDS[6:12]), st.text(max_size=4)),
        st.tuples(st.just("dup"), st.sampled_from(["nodes", "links"]), index),
        st.tuples(st.just("drop"), st.sampled_from(["nodes", "links"]), index),
    )


def _apply(document: dict[str, Any], op: tuple[Any, ...], uuids: list[str]) -> None:
    kind = op[0]
    records = document.get(op[1]) if kind in ("set", "del", "dup", "drop") else None
    if kind in ("set", "del", "dup", "drop"):
        if not isinstance(records, list) or not records:
            return
        at = op[2] % len(records)
        if kind == "dup":
            records.append(copy.deepcopy(records[at]))
        elif kind == "drop":
            records.pop(at)
        elif isinstance(records[at], dict):
            if kind == "set":
                records[at][op[3]] = op[4]
            else:
                records[at].pop(op[3], None)
    elif kind == "top":
        document[op[1]] = op[2]
    elif kind == "deltop":
        document.pop(op[1], None)
    elif kind == "stored":  # a node of the file takes the uuid of a node of the store
        nodes = document.get("nodes")
        if isinstance(nodes, list) and nodes and isinstance(nodes[op[1] % len(nodes)], dict):
            nodes[op[1] % len(nodes)]["uuid"] = op[2]
    elif kind == "link":  # a link between random nodes of the file and the store
        nodes = document.get("nodes") if isinstance(document.get("nodes"), list) else []
        ends = [n["uuid"] for n in nodes if isinstance(n, dict) and "uuid" in n] + uuids
        links = document.get("links")
        if isinstance(links, list):
            links.append(
                {"src": ends[op[1] % len(ends)], "dst": ends[op[2] % len(ends)],
                 "type": op[3], "label": op[4]}
            )  # fmt: skip


def test_random_and_mutated_files_never_crash_nor_touch_stored_rows(tmp_path: Path) -> None:
    source = load_profile("a").store
    documents = [export_json(source, run_howto(2)), export_json(source, run_mixed())]
    store = load_profile("b").store
    run_howto(3)  # a run of the target's own
    import_run(store, write_json(documents[1], tmp_path / "mixed.json"))  # and an imported one
    store.flush()
    assert violations(store.path) == []
    stored = [bytes(row[1]).hex() for row in snapshot(store.path)["node"]]
    uuids = [f"{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}" for u in stored]
    path = tmp_path / "fuzz.json"
    outcomes = {"imported": 0, "refused": 0}

    @settings(
        max_examples=200,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        start=st.integers(min_value=0, max_value=9),
        ops=st.lists(_ops(uuids), max_size=4),
        raw=st.text(max_size=40),
        value=JSON_VALUES,
    )
    def check(start: int, ops: list[tuple[Any, ...]], raw: str, value: Any) -> None:
        if start == 0:  # random text
            path.write_text(raw, encoding="utf-8", errors="surrogatepass")
        elif start == 1:  # random JSON
            path.write_text(json.dumps(value))
        else:  # a real export, mutated
            document = copy.deepcopy(documents[start % 2])
            for op in ops:
                _apply(document, op, uuids)
            path.write_text(json.dumps(document))
        before = snapshot(store.path)
        try:
            import_run(store, path)
        except FerroflowError:
            outcomes["refused"] += 1
            assert snapshot(store.path) == before  # refused: nothing written at all
        else:
            outcomes["imported"] += 1
            after = snapshot(store.path)
            for table, rows in before.items():
                assert rows <= after[table], table  # only additions
        assert violations(store.path) == []

    check()
    # the fuzzing reached both outcomes (else it proved little)
    assert outcomes["imported"] > 0 and outcomes["refused"] > 0
