"""Acceptance: the AiiDA WorkGraph scatter-gather how-to runs on ferroflow with only its import
lines changed, prints what the how-to prints, and records the provenance WorkGraph records.

``tests/api/howto/scatter_gather.py`` is the how-to's code with its indentation restored (the
reference text was extracted from HTML and lost it). The first test proves that the script *is*
the how-to, line by line and block by block; the others run it in a subprocess the way the
documentation page was produced (``tests/api/howto/gallery.py``: cell by cell, showing each cell's
last expression) and check its output and the store it leaves behind.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ferroflow.store import Store, StoredNode
from ferroflow.views.provenance import build_provenance_graph

TESTS = Path(__file__).resolve().parent
HOWTO_DIR = TESTS / "howto"
SCRIPT = HOWTO_DIR / "scatter_gather.py"
RUNNER = HOWTO_DIR / "gallery.py"
REFERENCE = TESTS.parents[2] / "shared" / "reference" / "scatter-gather-howto.txt"
SNAPSHOT = HOWTO_DIR / "reference.json"

# The only lines the port may change: the imports of the two AiiDA packages.
AIIDA_IMPORT = re.compile(r"from (aiida|aiida_workgraph) import (.+)")
PORT_IMPORT = re.compile(r"from ferroflow import (.+)")

# The how-to shows this block as an illustration of what does *not* work (it refers to an
# undefined ``n``); the documentation never executes it, so the script leaves it out.
NON_WORKING_INTRO = "At first glance, one might try to write the scatter logic directly"

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
NODE = rf"uuid: (?P<uuid>{UUID}) \(pk: (?P<pk>\d+)\) value: (?P<value>-?\d+)"
PROFILE_LINE = r"Profile<uuid='[0-9a-f]{32}' name='(?P<name>[A-Za-z0-9_.-]+)'>"


# ---------------------------------------------------------------------------------------------
# Reading the code out of the how-to text


@dataclass
class Block:
    """Consecutive code lines of the how-to, with the prose line just before them."""

    intro: str
    lines: list[str] = field(default_factory=list)


def _parses(text: str) -> SyntaxError | None:
    try:
        ast.parse(text)
    except SyntaxError as exc:
        return exc
    return None


def _unclosed(error: SyntaxError | None) -> bool:
    message = str(error.msg) if error else ""
    return "was never closed" in message or "unterminated triple-quoted" in message


def _as_statement(text: str) -> ast.stmt | None:
    """The statement ``text`` (one logical line, indentation lost) starts, or None if it is
    not Python. Headers of compound statements and ``return`` lines are completed so that
    they parse on their own."""
    if text.startswith("@"):
        wrapped, pick = f"{text}\ndef _f(): pass", 0
    elif text.endswith(":"):
        wrapped, pick = f"{text}\n pass", 0
    elif re.match(r"(return|yield)\b", text):
        wrapped, pick = f"def _f():\n {text}", -1
    else:
        wrapped, pick = text, 0
    try:
        tree = ast.parse(wrapped)
    except SyntaxError:
        return None
    if len(tree.body) != 1:
        return None
    stmt = tree.body[0]
    if pick == -1:
        assert isinstance(stmt, ast.FunctionDef)
        stmt = stmt.body[0]
    return stmt


def _bound_names(stmt: ast.stmt) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def extract_code_blocks(text: str) -> list[Block]:
    """The how-to's code, as blocks of stripped lines, in order.

    A line (joined with the next ones while a bracket or triple quote is open) is code when it
    parses as a Python statement, except that prose which happens to parse is recognised by
    meaning: a bare name is code only if the code bound it before (``wg`` is, a heading such
    as ``Scatter`` or ``Tip`` is not), a bare string only as a docstring right after a ``def``
    header, and a comment only inside a block. Output lines (``Profile<...>``, ``Results:``,
    ``1² = uuid: ...``) and sentences do not parse.
    """
    lines = [line.strip() for line in text.splitlines()]
    blocks: list[Block] = []
    bound: set[str] = set()
    previous_code: str | None = None  # the last logical code line, None after prose
    intro = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        end = i
        logical = line
        while _unclosed(_parses(logical)) and end + 1 < len(lines) and end - i < 30:
            end += 1
            logical = f"{logical}\n{lines[end]}"
        stmt = None if not line else _as_statement(logical)
        is_code = False
        if line.startswith("#"):
            is_code = previous_code is not None
            end = i
        elif stmt is not None:
            is_code = True
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Name):
                is_code = stmt.value.id in bound
            elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                is_code = (
                    previous_code is not None
                    and re.match(r"(async\s+)?def\b", previous_code) is not None
                )
        if not is_code:
            if line:
                intro = line
                previous_code = None
            i += 1
            continue
        if previous_code is None:
            blocks.append(Block(intro))
        blocks[-1].lines.extend(lines[i : end + 1])
        if stmt is not None:
            bound |= _bound_names(stmt)
        previous_code = logical
        i = end + 1
    return blocks


def script_cells(source: str) -> list[list[str]]:
    """The script's blank-line separated groups of stripped lines."""
    groups: list[list[str]] = [[]]
    for line in source.splitlines():
        if line.strip():
            groups[-1].append(line.strip())
        elif groups[-1]:
            groups.append([])
    return [g for g in groups if g]


def _imported(line: str, pattern: re.Pattern[str]) -> list[str] | None:
    """The names an import line of ``pattern``'s form imports, else None."""
    match = pattern.fullmatch(line)
    if match is None:
        return None
    return [name.strip() for name in match.group(match.lastindex or 1).split(",")]


def snapshot(text: str) -> dict[str, object]:
    """What the tests need of the reference: its code blocks and the output lines it printed,
    with digests (kept in ``tests/api/howto/reference.json``, so a clone without ``../shared``
    runs every test; the full comparison runs whenever the reference is there)."""
    blocks = [{"intro": b.intro, "lines": b.lines} for b in extract_code_blocks(text)]
    output = [
        line
        for line in text.splitlines()
        if any(p and re.fullmatch(p, line) for p in expected_lines())
    ]
    return {
        "reference_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "code_sha256": _code_digest(blocks, output),
        "blocks": blocks,
        "output": output,
    }


def _code_digest(blocks: object, output: object) -> str:
    payload = json.dumps([blocks, output], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _stored() -> dict[str, Any]:
    stored: dict[str, Any] = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    return stored


def _reference_blocks() -> list[Block]:
    return [Block(b["intro"], list(b["lines"])) for b in _stored()["blocks"]]


def test_the_stored_reference_is_the_howto() -> None:
    """With ``../shared`` beside the clone, the stored code and output are exactly what the
    how-to holds; without it, they are unchanged since they were taken from it (their digest)."""
    stored = _stored()
    assert _code_digest(stored["blocks"], stored["output"]) == stored["code_sha256"]
    assert len(stored["blocks"]) > 5 and len(stored["output"]) == len(expected_lines()) - 2
    if REFERENCE.is_file():
        assert snapshot(REFERENCE.read_text(encoding="utf-8")) == stored


def test_extractor_finds_the_howto_code() -> None:
    blocks = _reference_blocks()
    first = blocks[0].lines
    assert first == [
        "import typing as t",
        "from aiida import load_profile",
        "from aiida_workgraph import namespace, task, dynamic",
        "load_profile()",
    ]
    code = [line for block in blocks for line in block.lines]
    # prose and output lines are not code
    for not_code in ("Scatter", "Gather", "Tip", "Note", "Workflow view", "Results:"):
        assert not_code not in code
    assert not any(line.startswith(("Profile<", "1²", "Aggregated Result:")) for line in code)
    # bare expressions the notebook displays are code
    assert "wg" in code and "wg.generate_provenance_graph()" in code
    assert code[-1] == "assert wg.outputs.result.value == 30"
    illustration = [b for b in blocks if b.intro.startswith(NON_WORKING_INTRO)]
    assert len(illustration) == 1
    assert illustration[0].lines[-1] == "squares[key] = square(x=value).result"


def test_script_is_the_howto_with_only_imports_changed() -> None:
    blocks = [b for b in _reference_blocks() if not b.intro.startswith(NON_WORKING_INTRO)]
    cells = script_cells(SCRIPT.read_text(encoding="utf-8"))
    # one script cell per executed code block of the how-to, same lines in the same order
    assert len(cells) == len(blocks)
    for block, cell in zip(blocks, cells, strict=True):
        ref_imports = [names for line in block.lines if (names := _imported(line, AIIDA_IMPORT))]
        port_imports = [names for line in cell if (names := _imported(line, PORT_IMPORT))]
        ref_rest = [line for line in block.lines if not AIIDA_IMPORT.fullmatch(line)]
        port_rest = [line for line in cell if not PORT_IMPORT.fullmatch(line)]
        assert port_rest == ref_rest
        # the imports name the same things, from ferroflow, at the same place
        assert sorted(n for names in port_imports for n in names) == sorted(
            n for names in ref_imports for n in names
        )
        if ref_imports:
            first_ref = next(
                i for i, line in enumerate(block.lines) if AIIDA_IMPORT.fullmatch(line)
            )
            first_port = next(i for i, line in enumerate(cell) if PORT_IMPORT.fullmatch(line))
            assert block.lines[:first_ref] == cell[:first_port]
    assert sum(1 for cell in cells for line in cell if PORT_IMPORT.fullmatch(line)) >= 1


# ---------------------------------------------------------------------------------------------
# Running it


@dataclass
class HowtoRun:
    stdout: str
    stderr: str
    returncode: int
    home: Path
    out_dir: Path


@pytest.fixture(scope="module")
def howto_run(tmp_path_factory: pytest.TempPathFactory) -> HowtoRun:
    root = tmp_path_factory.mktemp("howto")
    home, out_dir = root / "ferroflow_home", root / "displayed"
    env = {**os.environ, "FERROFLOW_HOME": str(home), "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run(
        [sys.executable, str(RUNNER), str(SCRIPT), str(out_dir)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    return HowtoRun(proc.stdout, proc.stderr, proc.returncode, home, out_dir)


@pytest.fixture
def store(howto_run: HowtoRun) -> Iterator[Store]:
    assert howto_run.returncode == 0, howto_run.stderr
    s = Store.open(howto_run.home / "default" / "provenance.sqlite")
    yield s
    s.close()


def expected_lines() -> list[str]:
    squares = [rf"{x}² = {NODE}" for x in range(1, 5)]
    return [PROFILE_LINE, "", "Results:", *squares, "", rf"Aggregated Result: {NODE}"]


def test_expected_output_patterns_match_the_reference() -> None:
    """The patterns below describe what the how-to itself printed (its pks and uuids differ)."""
    text = _stored()["output"]
    for pattern in expected_lines():
        if pattern:
            assert any(re.fullmatch(pattern, line) for line in text), pattern


def test_howto_prints_every_value(howto_run: HowtoRun) -> None:
    assert howto_run.returncode == 0, howto_run.stderr
    lines = howto_run.stdout.splitlines()
    patterns = expected_lines()
    assert len(lines) == len(patterns), howto_run.stdout
    matches = []
    for line, pattern in zip(lines, patterns, strict=True):
        match = re.fullmatch(pattern, line)
        assert match, f"{line!r} does not match {pattern!r}"
        matches.append(match)
    assert matches[0]["name"] == "default"
    values = [int(m["value"]) for m in matches if "value" in m.groupdict()]
    assert values == [1, 4, 9, 16, 30]
    pks = [int(m["pk"]) for m in matches if "pk" in m.groupdict()]
    uuids = [m["uuid"] for m in matches if "uuid" in m.groupdict()]
    assert len(set(pks)) == len(pks) == 5
    assert len(set(uuids)) == 5


def test_displayed_views(howto_run: HowtoRun) -> None:
    assert howto_run.returncode == 0, howto_run.stderr
    pages = sorted(howto_run.out_dir.glob("cell*.html"))
    pictures = sorted(howto_run.out_dir.glob("cell*.gv"))
    assert len(pages) == 1 and len(pictures) == 1  # `wg` and `wg.generate_provenance_graph()`
    page = pages[0].read_text(encoding="utf-8")
    assert "ParallelSquare" in page
    for name in ("square", "square1", "square2", "square3"):
        assert name in page
    picture = pictures[0].read_text(encoding="utf-8")
    assert picture.startswith("digraph")
    for label in (
        r"CALL_CALC\nsquare3",
        r"INPUT_WORK\ndata__number_1",
        r"INPUT_CALC\nx",
        r"CREATE\nresult",
        r"RETURN\nsquares__number_4",
    ):
        assert label in picture


def _links(node: StoredNode, incoming: bool = False) -> dict[tuple[str, str], StoredNode]:
    """Data links in (``INPUT_*``) or all links out, by (type, label)."""
    found = node.inputs if incoming else node.outputs
    if incoming:
        found = [link for link in found if link[0].startswith("INPUT_")]
    table = {(kind, label): other for kind, label, other in found}
    assert len(table) == len(found)
    return table


def _run(store: Store, label: str) -> StoredNode:
    runs = [r for r in store.runs() if r.label == label]
    assert len(runs) == 1, store.runs()
    return runs[0]


def test_scatter_provenance(store: Store, howto_run: HowtoRun) -> None:
    run = _run(store, "ParallelSquare")
    assert run.kind == "work" and run.state == "FINISHED"
    inputs = _links(run, incoming=True)
    assert {label for _, label in inputs} == {f"data__number_{i}" for i in range(1, 5)}
    assert all(kind == "INPUT_WORK" for kind, _ in inputs)
    out = _links(run)
    calls = {label: node for (kind, label), node in out.items() if kind == "CALL_CALC"}
    assert sorted(calls) == ["square", "square1", "square2", "square3"]
    returned = {label: node for (kind, label), node in out.items() if kind == "RETURN"}
    assert [returned[f"squares__number_{i}"].value for i in range(1, 5)] == [1, 4, 9, 16]
    printed = [int(m) for m in re.findall(r"² = uuid: \S+ \(pk: (\d+)\)", howto_run.stdout)]
    assert printed == [returned[f"squares__number_{i}"].pk for i in range(1, 5)]
    for square in calls.values():
        x = _links(square, incoming=True)[("INPUT_CALC", "x")]
        result = _links(square)[("CREATE", "result")]
        assert x.pk == inputs[("INPUT_WORK", f"data__number_{x.value}")].pk
        assert result.value == x.value**2
        assert result.pk == returned[f"squares__number_{x.value}"].pk  # no copies


def test_scatter_gather_provenance(store: Store, howto_run: HowtoRun) -> None:
    """The shape of workgraph-semantics.md §4, node for node."""
    root = _run(store, "ScatterGatherSquare")
    assert root.kind == "work" and root.state == "FINISHED"
    root_in = _links(root, incoming=True)
    assert list(root_in) == [("INPUT_WORK", "n")]
    n = root_in[("INPUT_WORK", "n")]
    assert n.value == 4

    root_out = _links(root)
    assert set(root_out) == {
        ("CALL_CALC", "generate_numbers"),
        ("CALL_WORK", "ParallelSquare"),
        ("CALL_CALC", "gather_and_sum"),
        ("RETURN", "result"),
    }
    generate = root_out[("CALL_CALC", "generate_numbers")]
    scatter = root_out[("CALL_WORK", "ParallelSquare")]
    gather = root_out[("CALL_CALC", "gather_and_sum")]
    result = root_out[("RETURN", "result")]
    assert (generate.kind, scatter.kind, gather.kind) == ("calc", "work", "calc")
    for process in (generate, scatter, gather):
        assert process.state == "FINISHED" and process.run_pk == root.pk

    # generate_numbers: INPUT_CALC n (the run's own input node) -> CREATE data__number_1..4
    assert _links(generate, incoming=True) == {("INPUT_CALC", "n"): n}
    numbers = {label: node for (kind, label), node in _links(generate).items()}
    assert all(kind == "CREATE" for kind, _ in _links(generate))
    assert {k: v.value for k, v in numbers.items()} == {f"data__number_{i}": i for i in range(1, 5)}

    # ParallelSquare: the SAME number nodes come in (no copies), four squares are called
    scatter_in = _links(scatter, incoming=True)
    assert {label: node.pk for (_, label), node in scatter_in.items()} == {
        label: node.pk for label, node in numbers.items()
    }
    assert all(kind == "INPUT_WORK" for kind, _ in scatter_in)
    scatter_out = _links(scatter)
    squares = {label: node for (kind, label), node in scatter_out.items() if kind == "CALL_CALC"}
    assert sorted(squares) == ["square", "square1", "square2", "square3"]
    returned = {label: node for (kind, label), node in scatter_out.items() if kind == "RETURN"}
    assert sorted(returned) == [f"squares__number_{i}" for i in range(1, 5)]
    assert len(scatter_out) == 8
    created_by_squares = {}
    for square in squares.values():
        assert square.caller == scatter and square.run_pk == root.pk
        (x,) = [node for kind, label, node in square.inputs if (kind, label) == ("INPUT_CALC", "x")]
        assert x.pk == numbers[f"data__number_{x.value}"].pk
        (made,) = [node for kind, label, node in square.outputs if kind == "CREATE"]
        assert made.value == x.value**2 and made.creator == square
        created_by_squares[x.value] = made
    for i in range(1, 5):
        assert returned[f"squares__number_{i}"].pk == created_by_squares[i].pk

    # gather_and_sum: the squares' own nodes come in, its result is what the run returns
    gather_in = _links(gather, incoming=True)
    assert {label: node.pk for (kind, label), node in gather_in.items()} == {
        f"data__number_{i}": created_by_squares[i].pk for i in range(1, 5)
    }
    assert _links(gather) == {("CREATE", "result"): result}
    assert result.value == 30 and result.creator == gather
    printed = re.search(rf"Aggregated Result: {NODE}", howto_run.stdout)
    assert printed and int(printed["pk"]) == result.pk and printed["uuid"] == result.uuid

    # 1 input + 4 numbers + 4 squares + 1 sum: every value stored exactly once
    data = {node.pk for node in n.descendants() if node.is_data} | {n.pk}
    assert len(data) == 10

    source = build_provenance_graph(store, root.pk).source
    for label in (
        r"CALL_CALC\ngenerate_numbers",
        r"CALL_WORK\nParallelSquare",
        r"CALL_CALC\ngather_and_sum",
        r"CREATE\ndata__number_1",
        r"INPUT_WORK\ndata__number_2",
        r"RETURN\nsquares__number_2",
        r"INPUT_CALC\ndata__number_3",
        r"RETURN\nresult",
    ):
        assert label in source
