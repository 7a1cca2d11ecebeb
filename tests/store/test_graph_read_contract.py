"""Who may read the ``node`` and ``link`` tables with their own SQL (step 1 of
``docs/packed-task-runs.md``): the reading layer, the writers, and (until they move) the set
readers. A packed task run (issue 20) has no ``node``/``link`` rows, so a module that selects
from those tables itself would silently miss it; this test finds any such module before that
happens. The scan is textual (every statement in the package is a literal or an f-string), so
it also sees SQL that is built in pieces, as long as the table name follows its keyword.
"""

from __future__ import annotations

import re
from pathlib import Path

import ferroflow

PACKAGE = Path(ferroflow.__file__).parent

#: ``FROM node``, ``JOIN link l``, ``INSERT INTO node(``, ``UPDATE node SET``, in either case;
#: not Python's ``yield from node.body`` (an attribute follows).
TABLE_SQL = re.compile(
    r"\b(?:FROM|JOIN|INTO|UPDATE)\s+(?:node|link|task_run|input_ref)\b(?!\.)", re.IGNORECASE
)

#: Modules that may name the tables, each with why (paths under python/ferroflow).
ALLOWED: dict[str, str] = {
    # the reading layer: point reads and walks, and the node filters of ferroflow.query
    "store/graph_read.py": "the reading layer",
    "store/graph_find.py": "the reading layer (find_nodes/find_runs filters)",
    "store/packed_read.py": "the reading layer (the packed half: task_run and input_ref rows)",
    # the write side keeps its SQL in step 1 (docs/packed-task-runs.md, step 4 moves it)
    "store/deletion.py": "write side",
    "store/deletion_packed.py": "write side (deleting a run: its packed rows)",
    "export/importer.py": "write side",
    "store/owners.py": "write side",
    "store/faults.py": "write side",
    "store/schema.py": "write side (DDL, views for the sqlite3 shell, pk counter)",
    "store/rows.py": "write side",
    "store/cache_keys.py": "write side (cache keys: marking one, and the original of a key)",
    "store/cancels.py": "write side",
    "store/writer.py": "write side",
}
#: The set readers' layer, which may be split by concept into several modules.
ALLOWED_PATTERNS = (re.compile(r"store/graph_sets\w*\.py"), re.compile(r"store/graph_counts\.py"))
#: Write-side modules that hold no such SQL today (their statements live in the modules they
#: import); allowed all the same, so moving a statement between write modules needs no edit.
MAY_BE_CLEAN = {"store/cancels.py", "store/writer.py"}


def table_sql(text: str) -> list[str]:
    """The statements' fragments in ``text`` that name ``node`` or ``link`` as a table."""
    return [match.group(0) for match in TABLE_SQL.finditer(text)]


def _modules() -> dict[str, str]:
    return {
        path.relative_to(PACKAGE).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def _allowed(name: str) -> bool:
    return name in ALLOWED or any(pattern.fullmatch(name) for pattern in ALLOWED_PATTERNS)


def test_the_scan_sees_each_form_of_a_statement_and_not_python() -> None:
    hostile = """
        sql = f"SELECT {cols} FROM node WHERE pk = ?"
        more = "SELECT l.src FROM link l JOIN node n ON n.pk = l.dst"
        lower = "select pk from node"
        write = "INSERT INTO link(src, dst) VALUES (?, ?)"
        change = "UPDATE node SET state = 1"
        split = (
            "SELECT pk FROM"
            " node WHERE 1"
        )
    """
    found = table_sql(hostile)
    assert found == [
        "FROM node",
        "FROM link",
        "JOIN node",
        "from node",
        "INTO link",
        "UPDATE node",
    ]
    # continued string literals put a quote between keyword and table: not matched here, so
    # a literal ending in its keyword is refused on its own (the next test)
    python = "yield from node.body.walk(tag)\nfor link in links: pass\nnode_view, link_src"
    assert table_sql(python) == []


def test_only_the_reading_layer_and_the_writers_name_node_and_link() -> None:
    offenders = {
        name: table_sql(text)
        for name, text in _modules().items()
        if table_sql(text) and not _allowed(name)
    }
    assert offenders == {}, (
        "these modules read node/link with their own SQL: ask store/graph_read.py (point "
        "reads, walks, filters) or the set readers' layer instead, so packed task runs are "
        f"read too (docs/packed-task-runs.md): {offenders}"
    )


def test_no_statement_splits_a_table_name_from_its_keyword() -> None:
    """The scan reads each line's text: ``"... FROM"`` then ``" node ..."`` on the next line
    would slip past it, so outside the allowlist no string literal may end in a keyword that a
    table follows (the allowed modules may name the tables anyway)."""
    split = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE)\s*[\"']\s*$", re.MULTILINE)
    assert split.findall('sql = (\n    "SELECT pk FROM"\n    " node")') == ['FROM"']
    found = {name: split.findall(text) for name, text in _modules().items() if not _allowed(name)}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_the_moved_readers_hold_no_graph_sql() -> None:
    """The point readers moved onto graph_read in step 1 (kept off the allowlist for good)."""
    modules = _modules()
    moved = (
        "store/reading.py",
        "query.py",
        "restart.py",
        "cache_why.py",
        "store/task_output.py",
    )
    assert {name: table_sql(modules[name]) for name in moved} == {name: [] for name in moved}
    assert not any(_allowed(name) for name in moved)


def test_the_allowlist_is_no_wider_than_needed() -> None:
    """Every listed module exists and still names the tables: once a set reader has moved, its
    entry must go (so the list keeps saying which modules are left to move)."""
    modules = _modules()
    missing = [name for name in ALLOWED if name not in modules]
    assert missing == []
    stale = [name for name in ALLOWED if name not in MAY_BE_CLEAN and not table_sql(modules[name])]
    assert stale == []


def test_the_scan_sees_the_packed_tables() -> None:
    """A packed task run is read from ``task_run``/``input_ref`` only by the reading layer:
    a module outside the allowlist that names them would read half a store's forms."""
    text = 'sql = "SELECT pk FROM task_run t JOIN input_ref r ON r.dst = t.pk"\nupdate task_run'
    assert table_sql(text) == ["FROM task_run", "JOIN input_ref", "update task_run"]
