"""``benches/compare.py --quick`` runs end to end and prints what it promises.

One subprocess run, as a user types it, on tiny n (4 and 100) with the peers of the ``test``
extra (loop, threads, Dask's threaded scheduler); aiida-workgraph is forced missing with
``--pretend-missing`` and the thread pool is capped below the largest n, so both ways a cell
can go unmeasured are exercised. Checked: a table per workload with a row for every requested
engine, numeric cells and ratios, the "not installed" and "skipped: n > cap" cells, and the plot
and JSON files. Speeds are never asserted (the numbers are whatever this machine gives).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import ModuleType

import matplotlib  # noqa: F401 (in the test extra: the plot must be written)
import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Parsl, jobflow and Prefect live in their own venvs (never installed by the tests): forced
#: missing, so their rows, legend lines and JSON cells are still checked
NEW_PEERS = ["parsl-threads", "parsl-htex", "jobflow", "prefect"]
ENGINES = [
    "ferroflow",
    "ferroflow-noprov",
    "loop",
    "threads",
    "dask-threads",
    "workgraph",
    *NEW_PEERS,
]
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
        *NEW_PEERS,
        "--pretend-missing",
        "workgraph",
        *NEW_PEERS,
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


def test_new_peers_missing_say_so(run: tuple[str, Path]) -> None:
    stdout = run[0]
    for engine in NEW_PEERS:
        line = next(x for x in stdout.splitlines() if x.startswith(f"* `{engine}`: "))
        assert line.endswith("NOT INSTALLED (--pretend-missing)"), line
        for rows in tables(stdout).values():
            assert rows[engine] == ["not installed", "not installed", "-"]


def _benches(name: str) -> ModuleType:
    """A module of ``benches/`` (they import each other as siblings)."""
    path = str(ROOT / "benches")
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module(name)


def test_setup_options_exist_for_each_peer_tool() -> None:
    compare = _benches("compare")
    args = compare.parse_args(["--setup-parsl", "--setup-prefect"])
    assert (args.setup_parsl, args.setup_jobflow, args.setup_prefect) == (True, False, True)
    assert set(compare.compare_peers.ENGINES) <= set(compare.PEERS)
    assert set(compare.compare_peers.PEER_WORKLOADS) <= set(compare.WORKLOADS)


def test_peer_child_env_uses_its_venv_and_a_fresh_prefect_home(tmp_path: Path) -> None:
    peers = _benches("compare_peers")
    base = {"PATH": "/usr/bin", "PREFECT_API_URL": "http://example.invalid/api"}
    env = peers.child_env("prefect", base, str(tmp_path))
    assert env["PATH"].split(os.pathsep)[0] == str(ROOT / "benches" / ".venv-prefect" / "bin")
    assert "PREFECT_API_URL" not in env  # so Prefect starts its ephemeral local server
    assert Path(env["PREFECT_HOME"]).parent == tmp_path
    assert env["PYTHONPATH"] == str(ROOT / "benches")  # HTEX workers import the bodies
    parsl_env = peers.child_env("parsl-htex", base, str(tmp_path))
    assert parsl_env["PATH"].startswith(str(ROOT / "benches" / ".venv-parsl" / "bin"))
    assert "PREFECT_HOME" not in parsl_env


def test_peer_bodies_match_the_howto() -> None:
    bodies = _benches("compare_peer_bodies")
    data = bodies.generate_numbers(4)["data"]
    squares = {key: bodies.square(value) for key, value in data.items()}
    assert bodies.gather_and_sum(squares) == bodies.expected_howto(4) == 30
    assert bodies.gather_list(list(squares.values())) == 30
    assert [bodies.fanout_body(n) for n in (8, 26, 27, 1000)] == [2, 2, 3, 10]


def test_run_child_returns_and_stops_what_the_child_left_running(tmp_path: Path) -> None:
    """A child that leaves a helper holding its stdout (as Prefect's server does) neither
    blocks the parent nor outlives the measurement."""
    compare = _benches("compare")
    pidfile = tmp_path / "helper.pid"
    child = tmp_path / "child.py"
    child.write_text(
        textwrap.dedent(
            f"""
            import subprocess, sys
            helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
            open({str(pidfile)!r}, "w").write(str(helper.pid))
            print({compare.MARKER!r} + '{{"seconds": 0.5, "times": [0.5]}}', flush=True)
            """
        )
    )
    record = compare.run_child([sys.executable, str(child)], dict(os.environ), timeout=60)
    assert record == {"seconds": 0.5, "times": [0.5]}
    helper = int(pidfile.read_text())
    state = Path(f"/proc/{helper}/stat")

    def gone() -> bool:  # SIGKILL is delivered asynchronously: allow it a moment to land
        try:
            return state.read_text().split(")")[1].split()[0] == "Z"
        except (FileNotFoundError, ProcessLookupError):
            return True

    for _ in range(100):
        if gone():
            break
        time.sleep(0.1)
    assert gone(), f"helper {helper} still running"
