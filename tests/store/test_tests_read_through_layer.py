"""Which test files may read the ``node`` and ``link`` tables with their own SQL.

Step 2 of ``docs/packed-task-runs.md`` stores a finished no-op-shaped task run as one
``task_run`` row, with no ``node`` or ``link`` rows: a test that asks a graph question (a run's
nodes, its links, counts by state or label, a node's value) with its own ``SELECT ... FROM
node`` would then silently see less and keep passing. So the tests ask those questions through
the reading layer (``ferroflow.store.graph_read``/``graph_find``; over a connection of their own
with ``tests/layer_query.py`` when they read from another process, a raw file or after a crash),
and only the files below keep raw statements, because they test the physical layout on purpose.

Each entry gives the number of such statements the file holds, so a new raw graph question in an
allowed file fails here too; the scan is textual (``FROM``/``JOIN`` followed by a table name, in
any case), and writes (``INSERT INTO``, ``UPDATE``) that tamper with a file are not reads.
"""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

#: ``FROM node``, ``JOIN link l``, in either case; not ``node_view``, ``link_src`` or Python's
#: ``yield from node.body`` (an attribute follows).
READ_SQL = re.compile(r"\b(?:FROM|JOIN)\s+(?:node|link)\b(?!\.)", re.IGNORECASE)
#: A string literal that ends in ``FROM``/``JOIN``: the table name would be on the next line,
#: where :data:`READ_SQL` cannot see it (upper case, as the tests write SQL: a sentence may end
#: in "from").
SPLIT_SQL = re.compile(r"\b(?:FROM|JOIN)\s*[\"']\s*$", re.MULTILINE)

#: test file (under tests/) -> (raw statements naming node/link it holds, why they stay raw)
ALLOWED: dict[str, tuple[int, str]] = {
    "store_rules.py": (
        15,
        "the store's rules as plain SQL over its tables: the independent check of every file",
    ),
    "store/test_graph_read.py": (11, "the reading layer's oracle: each answer against the file"),
    "store/test_graph_sets.py": (
        10,
        "the set readers' oracle: temp tables and counts against the old joins and scans",
    ),
    "store/test_graph_read_contract.py": (10, "SQL as sample text for the product's scan"),
    "store/test_tests_read_through_layer.py": (15, "SQL as sample text for this scan"),
    "store/test_crash.py": (
        32,
        "soundness after SIGKILL over the tables SQLite recovered (dangling rows, type codes)",
    ),
    "store/test_store_writers.py": (2, "pk blocks: the highest pk and every value row written"),
    "store/test_store_faults.py": (3, "after a full disk: no link row left without its node rows"),
    "store/test_commit_path.py": (1, "a statement the statement cache keeps, by an index"),
    "store/test_checkpointer.py": (3, "data rows read from the file while and after it is copied"),
    "export/test_import_hostile.py": (2, "forges a second creator into a copy of the file"),
    "cli/test_cli_runs.py": (3, "delete/import round trips compare every row of every table"),
    "packing.py": (
        16,
        "the test packer: rewrites node/link rows into packed task_run rows, and says why a"
        " task run stays in node form",
    ),
    "store/test_packed_reads.py": (1, "the pks of every node of the unpacked file, to ask both"),
    "store/test_store.py": (1, "a version-1 view over node, forged to test its migration"),
}


def read_sql(text: str) -> list[str]:
    """The fragments of ``text`` that read ``node`` or ``link`` as a table."""
    return [match.group(0) for match in READ_SQL.finditer(text)]


def _test_files() -> dict[str, str]:
    return {
        path.relative_to(TESTS).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(TESTS.rglob("*.py"))
    }


def test_the_scan_sees_each_form_of_a_read_and_not_python_or_views() -> None:
    hostile = """
        sql = f"SELECT {cols} FROM node WHERE pk = ?"
        more = "SELECT l.src FROM link l JOIN node n ON n.pk = l.dst"
        lower = "select count(*) from  node"
        nested = "SELECT * FROM link WHERE src NOT IN (SELECT pk FROM node)"
    """
    assert read_sql(hostile) == [
        "FROM node",
        "FROM link",
        "JOIN node",
        "from  node",
        "FROM link",
        "FROM node",
    ]
    python = (
        "yield from node.body\nfor link in links: pass\n"
        "SELECT * FROM node_view\nSELECT * FROM link_view\n"
        "INSERT INTO link VALUES (?, ?, 2, 'forged')\nUPDATE node SET type = ?"
    )
    assert read_sql(python) == []
    assert SPLIT_SQL.findall('sql = (\n    "SELECT pk FROM"\n    " node")') == ['FROM"']


def test_only_the_listed_test_files_read_node_and_link_with_their_own_sql() -> None:
    found = {name: len(read_sql(text)) for name, text in _test_files().items()}
    raw = {name: n for name, n in found.items() if n}
    allowed = {name: n for name, (n, _) in ALLOWED.items()}
    assert raw == allowed, (
        "a test asks the graph with its own SQL over node/link: ask ferroflow.store.graph_read "
        "(point reads, a run's nodes, links, counts) or graph_find instead, over a connection of "
        "its own with tests/layer_query.py where needed, so a store with packed task runs "
        "(docs/packed-task-runs.md) is read in full; only a test of the physical layout goes "
        f"on ALLOWED, with its count and why. Found {raw}, allowed {allowed}"
    )


def test_no_test_splits_a_table_name_from_its_keyword() -> None:
    found = {name: SPLIT_SQL.findall(text) for name, text in _test_files().items()}
    assert {name: hits for name, hits in found.items() if hits and name not in ALLOWED} == {}


def test_the_shared_helpers_read_through_the_layer() -> None:
    """The helpers many suites compare runs with (lanes, backends, exports) are not allowed
    raw reads at all: a packed run must describe itself as the same provenance."""
    files = _test_files()
    for name in ("provenance_flows.py", "layer_query.py"):
        assert name not in ALLOWED
        assert read_sql(files[name]) == []
    assert "graph_read" in files["provenance_flows.py"]
