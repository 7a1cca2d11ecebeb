"""Pictures of a million-task run through the real ``ferroflow`` console script (issue 18).

``ferroflow graph`` of a 20,000-task run and ``export -f svg`` of 2,031 tasks used to run for
minutes. One module-scoped run of 1,000,000 no-op tasks and one failing task (a ``@task.graph``
scatter run with provenance, in a subprocess) is drawn by every picture command; the
subprocess timeout only detects a hang, it is no speed assertion (benches/pictures.py times
them). Each picture must show the failed task on its own and the 999,999 others as one box.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).parent / "ferroflow"
N = 1_000_000
HANG = 300  # seconds: a hang detector, not a speed bound
BOX = "noop × 999,999"  # the 1,000,000 no-ops but the one behind the output

FLOW = textwrap.dedent(
    """
    import typing as t
    from ferroflow import namespace, task

    @task
    def noop(x: int) -> int:
        return x

    @task
    def fails(x: int) -> int:
        raise ValueError("broken on purpose")

    @task.graph
    def Million(n: int) -> t.Annotated[dict, namespace(picked=int, failed=int)]:
        results = [noop(x=i).result for i in range(n)]
        return {"picked": results[n // 2], "failed": fails(x=n).result}

    wg = Million.build(%d)
    wg.run(raise_on_error=False)
    print(wg.pk, wg.state)
    """
)


class Home:
    def __init__(self, path: Path) -> None:
        self.env = {**os.environ, "FERROFLOW_HOME": str(path)}

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(SCRIPT), *args], capture_output=True, text=True, env=self.env, timeout=HANG
        )
        if ok:
            assert proc.returncode == 0, (args, proc.stderr)
        return proc


@pytest.fixture(scope="module")
def million(tmp_path_factory: pytest.TempPathFactory) -> tuple[Home, str]:
    """A home holding the million-task run, and the run's pk."""
    assert SCRIPT.is_file(), f"console script missing: {SCRIPT} (pip install -e .)"
    where = tmp_path_factory.mktemp("million")
    home = Home(where / "home")
    proc = subprocess.run(
        [sys.executable, "-c", FLOW % N],
        capture_output=True,
        text=True,
        env=home.env,
        timeout=1200,
        cwd=where,
    )
    assert proc.returncode == 0, proc.stderr
    pk, state = proc.stdout.split()
    assert state == "FAILED"
    return home, pk


def shows_the_failure_and_the_box(text: str) -> None:
    assert BOX in text and "finished: 999,999" in text
    assert len(re.findall(r"fails \(\d+\)", text)) == 1 and "broken on purpose" in text
    assert "Grouped: 1 box stands for 999,999" in text


def test_graph_of_a_million_task_run(million: tuple[Home, str]) -> None:
    home, pk = million
    dot = home.run("graph", pk, "-f", "dot", "-o", "-").stdout
    shows_the_failure_and_the_box(dot.replace("\\n", " "))
    assert len(re.findall(r"^\s*\w+ \[", dot, re.M)) < 20  # nodes: a handful, not a million


def test_export_svg_of_a_million_task_run(million: tuple[Home, str], tmp_path: Path) -> None:
    home, pk = million
    out = tmp_path / "run.svg"
    home.run("export", pk, "-f", "svg", "-o", str(out))
    root = ET.parse(out).getroot()
    text = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
    shows_the_failure_and_the_box(re.sub(r"\s+", " ", text))
    width, height = (float(root.get(side, "0").rstrip("pt")) for side in ("width", "height"))
    assert max(width / height, height / width) < 5


def test_export_mermaid_of_a_million_task_run(million: tuple[Home, str]) -> None:
    home, pk = million
    text = home.run("export", pk, "-f", "mermaid").stdout
    edges = [line for line in text.splitlines() if re.match(r"\s+\w+ (-->|-\.->|-\.-)[ |]", line)]
    assert 0 < len(edges) < 500  # Mermaid's default maxEdges
    shows_the_failure_and_the_box(text.replace("<br/>", " "))
    assert "State: failed" in text


def test_export_dot_and_max_tasks(million: tuple[Home, str]) -> None:
    home, pk = million
    dot = home.run("export", pk, "-f", "dot").stdout
    shows_the_failure_and_the_box(dot.replace("\\n", " "))
    tight = home.run("export", pk, "-f", "dot", "--max-tasks", "1").stdout
    assert "max_tasks=1," in tight.replace("\\n", " ") and "fails (" in tight
    refused = home.run("graph", pk, "--max-tasks", "0", ok=False)
    assert refused.returncode == 2 and "must be at least 1" in refused.stderr


def test_view_of_a_million_task_run_lists_its_failure_first(
    million: tuple[Home, str], tmp_path: Path
) -> None:
    home, pk = million
    out = tmp_path / "run.html"
    home.run("view", pk, "-o", str(out))
    page = out.read_text()
    assert len(page) < 20_000_000  # a bounded page, not a million tasks
    # the one failure is in the page with its traceback, listed before the graph's tasks
    assert page.count("broken on purpose") >= 1 and "ValueError" in page
    assert re.search(r"Left out [\d,]+ of 1,000,00[12] tasks", page), "no note of what was cut"
