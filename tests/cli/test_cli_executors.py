"""``ferroflow executors list/add/remove`` through the installed console script, and the
executor a task run recorded in ``ferroflow node show`` (issue 19)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "ferroflow"

FLOW = """
import os
from ferroflow import task

@task
def here(x: int) -> int:
    return os.getpid()

@task(executor="big")
def there(x: int) -> int:
    return os.getpid()

@task.graph
def g() -> int:
    return here(x=there(x=1).result).result

wg = g.build()
wg.run()
print(*(t.node.pk for t in wg.all_tasks() if t.name == "there"), wg.pk)
"""


def _cli(home: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FERROFLOW_HOME": str(home)}
    proc = subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert (proc.returncode == 0) == ok, (args, proc.stdout, proc.stderr)
    return proc


def test_executors_add_list_remove_and_node_show(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert "no named executors" in _cli(home, "executors", "list", "--create").stdout
    out = _cli(home, "executors", "add", "big", "processes", "--processes", "2").stdout
    assert "processes?processes=2" in out
    _cli(home, "executors", "add", "cl", "tcp://10.0.0.1:8786", "--chunk-size", "8", "--default")
    config = json.loads((home / "default" / "profile.json").read_text())
    assert config["executors"] == {
        "big": "processes?processes=2",
        "cl": "tcp://10.0.0.1:8786?chunk_size=8",
    }
    assert config["executor"] == "cl"
    rows = [line.split() for line in _cli(home, "executors", "list").stdout.splitlines()]
    assert rows == [
        ["big", "processes?processes=2"],
        ["cl", "tcp://10.0.0.1:8786?chunk_size=8", "(default)"],
    ]
    refused = _cli(home, "executors", "remove", "cl", ok=False)
    assert "is the profile's default executor" in refused.stderr
    bad = _cli(home, "executors", "add", "p", "processes", "--chunk-size", "2", ok=False)
    assert "unknown option 'chunk_size'" in bad.stderr
    assert "no executor named 'nope'" in _cli(home, "executors", "remove", "nope", ok=False).stderr
    # back to the local default; a script's task that names 'big' runs on its pool, and says so
    _cli(home, "executors", "add", "threads", "local", "--default")
    _cli(home, "executors", "remove", "cl")
    script = tmp_path / "flow.py"
    script.write_text(FLOW)
    env = {**os.environ, "FERROFLOW_HOME": str(home)}
    run = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert run.returncode == 0, run.stderr
    task_pk, run_pk = run.stdout.split()
    assert "executor big" in _cli(home, "node", "show", task_pk).stdout.splitlines()
    assert "executor threads" in _cli(home, "node", "show", run_pk).stdout.splitlines()
    rows = [line.split() for line in _cli(home, "executors", "list").stdout.splitlines()]
    assert rows == [["big", "processes?processes=2"], ["threads", "local", "(default)"]]
