"""Every ``ferroflow`` command through the installed console script, in subprocesses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from provenance_flows import howto_counts

SCRIPT = Path(sys.executable).parent / "ferroflow"
COMMANDS = [
    [],
    ["demo"],
    ["runs"],
    ["runs", "list"],
    ["runs", "show"],
    ["runs", "cancel"],
    ["runs", "delete"],
    ["node"],
    ["node", "show"],
    ["logs"],
    ["graph"],
    ["view"],
    ["export"],
    ["import"],
    ["query"],
    ["restart"],
    ["cache"],
    ["cache", "why"],
    ["executors"],
    ["executors", "list"],
    ["executors", "add"],
    ["executors", "remove"],
]


class CLI:
    """Runs the console script with a private FERROFLOW_HOME."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "FERROFLOW_HOME": str(self.home)}
        proc = subprocess.run(
            [str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=120
        )
        if ok:
            assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc

    def raw(self, *args: str) -> bytes:
        env = {**os.environ, "FERROFLOW_HOME": str(self.home)}
        proc = subprocess.run([str(SCRIPT), *args], capture_output=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CLI]:
    """One home for the module, holding the demo's two runs (made through the CLI)."""
    assert SCRIPT.is_file(), f"console script missing: {SCRIPT} (pip install -e .)"
    runner = CLI(tmp_path_factory.mktemp("cli_home"))
    out = runner("demo", "-n", "4").stdout
    assert "Aggregated Result: uuid: " in out and out.rstrip().endswith("runs show " + run_pk(out))
    yield runner


def run_pk(demo_output: str) -> str:
    return re.search(r"ferroflow runs show (\d+)", demo_output).group(1)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def runs(cli: CLI) -> dict[str, str]:
    """pk of each demo run by graph name, read from `runs list`."""
    lines = cli("runs", "list").stdout.splitlines()[2:]
    return {line.split()[1]: line.split()[0] for line in lines}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "ferroflow")
def test_help_everywhere(cli: CLI, command: list[str]) -> None:
    proc = cli(*command, "--help")
    assert proc.stdout.startswith("usage: ferroflow")
    assert " ".join(["ferroflow", *command]) in proc.stdout.splitlines()[0]


def test_demo_and_runs_list(cli: CLI, runs: dict[str, str]) -> None:
    assert set(runs) == {"ScatterGatherSquare", "ParallelSquare"}
    out = cli("runs", "list", "--limit", "1").stdout.splitlines()
    assert out[0].split() == ["pk", "graph", "state", "started", "duration", "error"]
    assert len(out) == 3 and "ScatterGatherSquare" in out[2] and "FINISHED" in out[2]


def test_runs_show_is_a_tree_with_states_and_durations(cli: CLI, runs: dict[str, str]) -> None:
    lines = cli("runs", "show", runs["ScatterGatherSquare"]).stdout.splitlines()
    assert lines[0].startswith(f"ScatterGatherSquare [graph pk={runs['ScatterGatherSquare']}]")
    assert len(lines) == howto_counts(4)["processes"]
    by_name = {line.strip().split()[0]: line for line in lines}
    assert by_name["ParallelSquare"].startswith("  ParallelSquare [graph")
    assert by_name["square3"].startswith("    square3 [task")  # nested one level deeper
    duration = re.compile(r" FINISHED \d+(\.\d+)? (µs|ms|s)$")
    assert all(duration.search(line) for line in lines), lines


def test_node_show_for_data_and_process(cli: CLI, runs: dict[str, str]) -> None:
    out = cli("node", "show", runs["ScatterGatherSquare"]).stdout
    assert "kind     work" in out and "state    FINISHED" in out
    assert re.search(r"RETURN\s+result\s+pk=(\d+)", out)
    result_pk = re.search(r"RETURN\s+result\s+pk=(\d+)", out).group(1)  # type: ignore[union-attr]
    data = cli("node", "show", result_pk).stdout
    assert "kind     data" in data and "value    30" in data
    uuid = re.search(r"uuid\s+(\S+)", data).group(1)  # type: ignore[union-attr]
    assert f"pk       {result_pk}" in cli("node", "show", uuid[:28]).stdout  # a uuid prefix
    missing = cli("node", "show", "999999", ok=False)
    assert missing.returncode == 1 and missing.stderr.startswith("error: no node with pk=999999")


def test_graph_writes_dot_svg_and_png(cli: CLI, runs: dict[str, str], tmp_path: Path) -> None:
    run = runs["ScatterGatherSquare"]
    dot = cli("graph", run, "-f", "dot", "-o", "-").stdout
    assert dot.startswith("digraph") and f"N{run} [color=black penwidth=3]" in dot
    full = dot.count("->")
    assert full == sum(v for k, v in howto_counts(4).items() if k.isupper())
    shallow = cli("graph", run, "--descendants", "1", "--ancestors", "0", "-o", "-", "-f", "dot")
    assert 0 < shallow.stdout.count("->") < full
    svg = tmp_path / "run.svg"
    cli("graph", run, "-o", str(svg))  # format from the suffix
    assert b"<svg" in svg.read_bytes()
    png = tmp_path / "run.png"
    cli("graph", run, "-o", str(png))
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # Around a data node: what it came from and what was computed from it.
    number = re.search(r"N(\d+) \[label=\"Int \(\d+\)\\nvalue: 3\"", dot).group(1)  # type: ignore[union-attr]
    around = cli("graph", number, "-a", "2", "-d", "2", "-f", "dot", "-o", "-").stdout
    assert "generate_numbers" in around and "square" in around and "gather_and_sum" not in around


def test_export_every_format(cli: CLI, runs: dict[str, str], tmp_path: Path) -> None:
    run = runs["ScatterGatherSquare"]
    counts = howto_counts(4)
    document = json.loads(cli("export", run).stdout)  # json to stdout by default
    assert document["format"] == "ferroflow-run" and len(document["nodes"]) == counts["nodes"]
    target = tmp_path / "run.prov.json"
    proc = cli("export", run, "--format", "prov-json", "-o", str(target))
    assert proc.stderr.strip() == f"wrote {target}"
    prov = json.loads(target.read_text())
    assert len(prov["activity"]) == counts["processes"]
    crate = tmp_path / "crate.zip"
    proc = cli(
        "export",
        run,
        "-f",
        "ro-crate",
        "-o",
        str(crate),
        "--license",
        "https://spdx.org/licenses/MIT",
    )
    assert crate.is_file() and "8 actions" in proc.stderr
    assert cli("export", run, "-f", "mermaid").stdout.startswith("flowchart TD\n")
    assert cli("export", run, "-f", "dot").stdout.startswith("digraph")
    assert b"<svg" in cli.raw("export", run, "-f", "svg")
    nested = next(n["pk"] for n in document["nodes"] if n["kind"] == "calc")  # not a run
    refused = cli("export", str(nested), ok=False)
    assert refused.returncode == 1 and "not a top-level run" in refused.stderr
    bad = cli("export", run, "-f", "json", "--license", "x", ok=False)
    assert bad.returncode == 1 and "--license" in bad.stderr


def test_import_into_another_profile(cli: CLI, runs: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    cli("export", runs["ScatterGatherSquare"], "-o", str(path))
    out = cli("import", str(path), "--profile", "copy", "--create").stdout
    n = howto_counts(4)["nodes"]
    assert f"{n} new nodes, 0 already present, 35 new links" in out
    again = cli("--profile", "copy", "import", str(path)).stdout  # the global option works too
    assert f"0 new nodes, {n} already present, 0 new links" in again
    listed = cli("runs", "list", "--profile", "copy").stdout
    assert "ScatterGatherSquare" in listed and "ParallelSquare" not in listed
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "other"}')
    refused = cli("import", str(broken), "--profile", "copy2", "--create", ok=False)
    assert refused.returncode == 1 and "not a ferroflow export" in refused.stderr


def test_a_profile_name_with_a_typo_is_an_error_not_a_new_empty_profile(cli: CLI) -> None:
    typo = cli("--profile", "defualt", "runs", "list", ok=False)
    assert typo.returncode == 1
    assert "no profile 'defualt'" in typo.stderr
    assert re.search(r"profiles there: [^)]*\bdefault\b", typo.stderr) and "--create" in typo.stderr
    again = cli("runs", "list", "--profile", "defualt", ok=False)  # nothing was made
    assert again.returncode == 1 and "no profile 'defualt'" in again.stderr
    made = cli("--profile", "fresh", "--create", "runs", "list")
    assert made.returncode == 0 and cli("--profile", "fresh", "runs", "list").returncode == 0


def test_version(cli: CLI) -> None:
    from ferroflow import __version__

    out = cli("--version").stdout
    assert out.strip() == f"ferroflow {__version__}"


def test_import_keeps_pickles_untrusted_unless_told(cli: CLI, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); from ferroflow import load_profile;"
        "from ferroflow.export import export_run; import provenance_flows as f;"
        "load_profile('poison'); wg = f.Poisoned.build(sys.argv[2]); wg.run();"
        "export_run(load_profile('poison').store, wg.pk, 'json', sys.argv[3])"
    )
    path = tmp_path / "poison.json"
    env = {**os.environ, "FERROFLOW_HOME": str(cli.home)}
    args = [
        sys.executable,
        "-c",
        script,
        str(Path(__file__).resolve().parents[1]),
        str(marker),
        str(path),
    ]
    subprocess.run(args, check=True, env=env, timeout=120)
    out = cli("import", str(path), "--profile", "careful", "--create").stdout
    assert "1 pickled value(s) kept untrusted" in out
    evil = next(n for n in json.loads(path.read_text())["nodes"] if n["codec"] == "pickle")
    shown = cli("--profile", "careful", "node", "show", evil["uuid"]).stdout
    assert "<untrusted pickle: provenance_flows.Evil>" in shown
    assert not marker.exists()
    trusted = cli("import", str(path), "--trust", "--profile", "brave", "--create").stdout
    assert "untrusted" not in trusted
    assert not marker.exists()  # importing never unpickles, trusted or not


def test_query(cli: CLI, runs: dict[str, str]) -> None:
    out = cli("query", "--task", "square").stdout.splitlines()
    assert out[0].split() == ["pk", "kind", "name", "state", "created", "duration/value"]
    assert len(out) == 2 + 8  # four squares in each demo run
    run = runs["ScatterGatherSquare"]
    data = cli("query", "--run", run, "--kind", "data", "--since", "1h").stdout.splitlines()
    assert len(data) == 2 + howto_counts(4)["data"]
    assert any(line.split()[-1] == "30" for line in data[2:])
    finished = cli("query", "--state", "FINISHED", "--kind", "graph", "--limit", "2").stdout
    assert len(finished.splitlines()) == 4
    assert len(cli("query", "--until", "2000-01-01").stdout.splitlines()) == 2  # headers only
    bad = cli("query", "--state", "DONE", ok=False)
    assert bad.returncode == 1 and "unknown state" in bad.stderr


def test_runs_show_names_the_failure(cli: CLI) -> None:
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); from ferroflow import load_profile;"
        "import provenance_flows as f; load_profile('failing'); print(f.run_mixed())"
    )
    env = {**os.environ, "FERROFLOW_HOME": str(cli.home)}
    made = subprocess.run(
        [sys.executable, "-c", script, str(Path(__file__).resolve().parents[1])],
        check=True,
        env=env,
        timeout=120,
        capture_output=True,
        text=True,
    )
    run = made.stdout.split()[-1]
    lines = cli("--profile", "failing", "runs", "show", run).stdout.splitlines()
    assert lines[0].startswith(f"Mixed [graph pk={run}] FAILED")
    boom = next(i for i, line in enumerate(lines) if line.strip().startswith("boom "))
    assert " FAILED " in lines[boom]
    assert lines[boom + 1].strip() == "! ValueError: negative input"
    failed = cli("--profile", "failing", "query", "--state", "FAILED").stdout
    assert "boom" in failed and "Mixed" in failed


def test_python_dash_m_is_the_same_cli(cli: CLI, runs: dict[str, str]) -> None:
    env = {**os.environ, "FERROFLOW_HOME": str(cli.home)}
    proc = subprocess.run(
        [sys.executable, "-m", "ferroflow", "runs", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    assert proc.stdout == cli("runs", "list").stdout


def test_restart_and_cache_why(tmp_path: Path) -> None:
    """``restart`` reruns a stored run reusing every finished task (the demo's graphs import
    by name), ``runs show`` marks the hits, ``cache why`` explains one, ``node show`` too."""
    cli = CLI(tmp_path / "home")
    cli("demo", "-n", "3")
    lines = cli("runs", "list").stdout.splitlines()[2:]
    old = next(line.split()[0] for line in lines if line.split()[1] == "ScatterGatherSquare")
    out = cli("restart", old).stdout
    found = re.search(rf"restarted run {old} as run (\d+): FINISHED; (\d+) of (\d+) task", out)
    assert found is not None, out
    new, reused, total = found.groups()
    assert reused == total and int(total) == 1 + 3 + 1  # generate, 3 squares, sum: all reused
    assert out.rstrip().endswith("task(s) reused stored results, 0 ran")
    tree = cli("runs", "show", new).stdout
    hit = re.search(r"square1 \[task pk=(\d+)\] FINISHED .* \(cached from pk (\d+)\)", tree)
    assert hit is not None, tree
    why = cli("cache", "why", hit.group(1)).stdout
    assert "function   ferroflow.demo.square" in why and "current source: same" in why
    assert "matches the stored key" in why and f"results of task run pk {hit.group(2)}" in why
    assert f"reused the results of pk {hit.group(2)}" in cli("node", "show", hit.group(1)).stdout
    refused = cli("restart", hit.group(1), ok=False)
    assert refused.returncode == 1 and "not a top-level run" in refused.stderr
    unknown = cli("restart", old, "--graph", "ferroflow.demo.nothing", ok=False)
    assert unknown.returncode == 1 and "no @task.graph function" in unknown.stderr


def test_restart_graph_shows_the_import_error_of_a_broken_module(
    cli: CLI, runs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_graphs_xyz.py").write_text("import a_package_that_is_not_installed\n")
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    broken = cli("restart", runs["ScatterGatherSquare"], "--graph", "broken_graphs_xyz.G", ok=False)
    assert broken.returncode == 1
    assert "No module named 'a_package_that_is_not_installed'" in broken.stderr
