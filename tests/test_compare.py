"""``benches/compare.py --quick`` runs end to end and prints what it promises.

One subprocess run, as a user types it, on tiny n (4 and 100) with the peers of the ``test``
extra (loop, threads, Dask's threaded scheduler); aiida-workgraph is forced missing with
``--pretend-missing`` and the thread pool is capped below the largest n, so both ways a cell
can go unmeasured are exercised. Checked: a table per workload with a row for every requested
engine, numeric cells and ratios, the "not installed" and "skipped: n > cap" cells, and the plot
and JSON files. Speeds are never asserted (the numbers are whatever this machine gives).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import matplotlib  # noqa: F401 (in the test extra: the plot must be written)
import pytest

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ["ferroflow", "ferroflow-noprov", "loop", "threads", "dask-threads", "workgraph"]
WORKLOADS = ["scatter", "howto"]
MEASURED = re.compile(r"^(?P<us>[\d,]+(?:\.\d+)?) µs · (?P<ratio>[\d,]+(?:\.\d+)?)× · [\d,]+ MiB$")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    out = tmp_path_factory.mktemp("compare")
    cmd = [
        sys.executable,
        str(ROOT / "benches" / "compare.py"),
        "--quick",
        "--workloads",
        *WORKLOADS,
        "--peers",
        "loop",
        "threads",
        "dask-threads",
        "workgraph",
        "--pretend-missing",
        "workgraph",
        "--sizes",
        "4",
        "100",
        "--cap",
        "threads=50",
        "--budget",
        "0.2",
        "--out",
        str(out),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, out


def tables(stdout: str) -> dict[str, dict[str, list[str]]]:
    """workload → engine → its cells (n columns, then growth)."""
    found: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in stdout.splitlines():
        if line.startswith("### "):
            current = found.setdefault(line[4:].split(":")[0], {})
        elif current is not None and line.startswith("| ") and not line.startswith("| engine"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            current[cells[0]] = cells[1:]
    return found


def test_a_table_per_workload_with_every_engine(run: tuple[str, Path]) -> None:
    found = tables(run[0])
    assert list(found) == WORKLOADS
    for rows in found.values():
        assert list(rows) == ENGINES


def test_measured_cells_have_numeric_times_and_ratios(run: tuple[str, Path]) -> None:
    for workload, rows in tables(run[0]).items():
        for engine in ["ferroflow", "ferroflow-noprov", "loop", "dask-threads"]:
            *cells, growth = rows[engine]
            assert len(cells) == 2, (workload, engine, cells)
            for cell in cells:
                match = MEASURED.match(cell)
                assert match, (workload, engine, cell)
                assert float(match["us"].replace(",", "")) > 0
                ratio = float(match["ratio"].replace(",", ""))
                assert ratio > 0
                if engine == "ferroflow":
                    assert ratio == 1.0
            assert re.match(r"^[\d.,]+× \(.+→.+\)$", growth), growth


def test_missing_and_capped_peers_say_so(run: tuple[str, Path]) -> None:
    stdout = run[0]
    assert "* `workgraph`: " in stdout and "NOT INSTALLED (--pretend-missing)" in stdout
    for rows in tables(stdout).values():
        assert rows["workgraph"] == ["not installed", "not installed", "-"]
        small, large, _ = rows["threads"]
        assert MEASURED.match(small), small
        assert large == "skipped: n > cap 50"


def test_plot_and_json_are_written(run: tuple[str, Path]) -> None:
    stdout, out = run
    png, svg = out / "compare.png", out / "compare.svg"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert svg.read_text().lstrip().startswith("<?xml")
    assert "plot: " in stdout
    cells = json.loads((out / "compare.json").read_text())["cells"]
    engines = {c["engine"] for c in cells}
    assert engines == set(ENGINES)
    assert {c["status"] for c in cells if c["engine"] == "workgraph"} == {"not installed"}
