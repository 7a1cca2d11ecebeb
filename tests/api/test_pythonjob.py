"""``@task.pythonjob`` (F18): the function runs in a Python process of its own, so a crash or
``os._exit`` fails only its task; ``computer`` and ``metadata={"options": ...}`` as WorkGraph's
python jobs take them."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import pytest
from ferroflow import PythonJobError, RunTimeoutError, WorkGraph, get_current_profile, task


@task.pythonjob
def where(x: int) -> Any:
    return {"pid": os.getpid(), "x": x}


@task.pythonjob
def add(x: int, y: int) -> int:
    print(f"adding {x} and {y}")  # the child's output reaches this process's
    return x + y


@task.pythonjob
def dies(code: int) -> int:
    os._exit(code)


@task.pythonjob
def raises(x: int) -> int:
    raise ValueError(f"bad x {x}")


@task
def multiply(x: int, y: int) -> int:
    return x * y


def test_a_python_job_runs_in_a_process_of_its_own(capfd: pytest.CaptureFixture[str]) -> None:
    with WorkGraph("own_process") as wg:
        where(x=1)
        wg.outputs.result = multiply(x=add(x=2, y=3, computer="localhost").result, y=4).result
    wg.run()
    seen = wg.tasks.where.outputs.result.value.value
    assert seen["x"] == 1 and seen["pid"] != os.getpid()
    assert wg.outputs.result.value.value == 20
    # the child's stdout is kept with the job's task run (ferroflow logs), not on the terminal
    assert "adding 2 and 3" in wg.tasks["add"].process.output
    assert "adding 2 and 3" not in capfd.readouterr().out


def test_a_crash_fails_only_its_task_naming_the_exit_code() -> None:
    with WorkGraph("crash") as wg:
        dies(code=3)
        add(x=1, y=1)
    wg.run(raise_on_error=False)
    assert wg.tasks.dies.state == "FAILED" and wg.tasks.add.state == "FINISHED"
    error = wg.tasks.dies.node.error
    assert isinstance(error, PythonJobError) and "exit code 3" in str(error)


def test_an_exception_in_the_job_fails_the_task_with_it_and_its_frames() -> None:
    with WorkGraph("raising") as wg:
        raises(x=7)
    wg.run(raise_on_error=False)
    error = wg.tasks.raises.node.error
    assert isinstance(error, ValueError) and str(error) == "bad x 7"
    assert "in raises" in str(error.__cause__)  # the child's traceback


def test_metadata_options_as_the_remote_job_page_passes_them() -> None:
    @task.graph
    def remote(
        x: int, y: int, computer: str, add_metadata: Annotated[dict, add.inputs.metadata]
    ) -> Any:
        the_sum = add(x=x, y=y, computer=computer, metadata=add_metadata).result
        return multiply(x=the_sum, y=4).result

    wg = remote.build(
        x=2, y=3, computer="localhost", add_metadata={"options": {"custom_scheduler_commands": ""}}
    )
    wg.run()
    assert wg.outputs.result.value == 20


def test_an_unknown_computer_or_a_computer_parameter_is_refused() -> None:
    with WorkGraph("elsewhere") as wg:
        add(x=1, y=1, computer="cluster")
    wg.run(raise_on_error=False)
    assert "unknown computer 'cluster'" in str(wg.tasks.add.node.error)

    def takes_computer(computer: str) -> str:
        return computer

    with pytest.raises(TypeError, match="'computer' is the job's own"):
        task.pythonjob(takes_computer)


def test_a_computer_may_name_one_of_the_profile_s_executors_on_this_machine() -> None:
    profile = get_current_profile()
    profile.add_executor("big", "processes?processes=2")
    profile.add_executor("cl", "tcp://10.0.0.1:8786")
    with WorkGraph("named") as wg:
        where(x=1, computer="big")
    wg.run()
    assert wg.tasks.where.outputs.result.value["pid"] != os.getpid()
    with WorkGraph("unknown") as wg:
        add(x=1, y=1, computer="nowhere")
    wg.run(raise_on_error=False)
    error = str(wg.tasks.add.node.error)
    assert "unknown computer 'nowhere'" in error
    assert "('localhost', 'big')" in error and "Dask executors ('cl')" in error, error


@task.pythonjob
def whose_child(x: int) -> Any:
    if x < 0:
        raise ValueError(f"negative x {x}")
    if x == 99:
        os._exit(7)
    print(f"job got {x}")
    return {"pid": os.getpid(), "parent": os.getppid(), "x": x}


def test_a_computer_naming_a_dask_executor_runs_the_job_on_one_of_its_workers(client: Any) -> None:
    get_current_profile().add_executor("cluster", client.scheduler.address)
    workers = set(client.run(os.getpid).values())
    with WorkGraph("on_dask") as wg:
        whose_child(x=3, computer="cluster")
    wg.run()
    got = wg.tasks.whose_child.outputs.result.value.value
    assert got["x"] == 3
    assert got["parent"] in workers, "a worker of the cluster started the job's process"
    assert got["pid"] not in workers and got["pid"] != os.getpid()
    assert wg.tasks.whose_child.inputs.computer.value.value == "cluster"  # in the provenance
    assert "job got 3" in wg.tasks["whose_child"].process.output


def test_a_job_failing_on_a_dask_worker_fails_its_task_as_it_would_here(client: Any) -> None:
    get_current_profile().add_executor("cluster", client.scheduler.address)
    with WorkGraph("fails_on_dask") as wg:
        whose_child(x=-1, computer="cluster")
    wg.run(raise_on_error=False)
    error = wg.tasks.whose_child.node.error
    assert isinstance(error, ValueError) and "negative x -1" in str(error)
    with WorkGraph("dies_on_dask") as wg:
        whose_child(x=99, computer="cluster")
    wg.run(raise_on_error=False)
    error = wg.tasks.whose_child.node.error
    assert isinstance(error, PythonJobError), error
    assert "exit code 7" in str(error) and "on computer 'cluster'" in str(error)


@task.pythonjob
def sleeper(pid_file: str) -> int:
    import time
    from pathlib import Path

    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(60)
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): it has exited, its parent just has not reaped it yet
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "zombie" not in status.read_text()


def test_a_cancelled_run_stops_its_python_jobs(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    with WorkGraph("cancelled") as wg:
        sleeper(pid_file=str(pid_file))
    with pytest.raises(RunTimeoutError):
        wg.run(timeout=2)
    pid = int(pid_file.read_text())
    assert not _alive(pid)  # the child was killed with the run, not left running
    assert wg.tasks.sleeper.state == "CANCELLED"


def test_without_cloudpickle_the_job_goes_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cloudpickle", None)  # import cloudpickle fails here
    with WorkGraph("by_name") as wg:
        add(x=1, y=2)
    wg.run()
    assert wg.tasks.add.outputs.result.value.value == 3


def test_the_child_finds_the_modules_this_process_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "job_module_xyz.py").write_text(
        "from ferroflow import task\n"
        "def helper(x):\n    return x * 10\n"
        "@task.pythonjob\n"
        "def scaled(x: int) -> int:\n    return helper(x)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import job_module_xyz  # type: ignore[import-not-found]

    with WorkGraph("paths") as wg:
        job_module_xyz.scaled(x=4)
    wg.run()
    assert wg.tasks.scaled.outputs.result.value.value == 40


class Picky(Exception):
    def __init__(self, a: int, b: int) -> None:  # unpickling calls Picky(message): breaks
        super().__init__(f"{a}/{b}")


@task.pythonjob
def picky() -> int:
    raise Picky(1, 2)


def test_an_exception_that_does_not_unpickle_still_names_what_happened() -> None:
    with WorkGraph("picky") as wg:
        picky()
    wg.run(raise_on_error=False)
    error = wg.tasks.picky.node.error
    assert "Picky: 1/2" in str(error) and "in picky" in str(error.__cause__)
