"""Failure handling: one bad sample does not lose the others' results.

Four samples are measured and calibrated independently; the instrument fails on one of them.
What ferroflow does:

* the failing task is FAILED, the tasks that need its output are SKIPPED (they never run);
* every independent task still runs, finishes and is stored;
* then ``run()`` raises :class:`WorkflowFailedError`, listing each failed task by path, with
  the original exception chained (``err.failed`` maps paths to exceptions);
* ``run(raise_on_error=False)`` returns instead, and ``wg.outputs`` holds what was produced.

``wg.tasks`` shows each task's state and error afterwards.

Run: ``python examples/failure_handling.py``
"""

from __future__ import annotations

import sys
import typing as t

from ferroflow import WorkflowFailedError, dynamic, load_profile, namespace, task

# what the (simulated) instrument reads; it saturates on sample C
READINGS = {"sample_A": 12.40, "sample_B": 11.95, "sample_C": float("inf"), "sample_D": 12.10}


@task
def measure(sample: str) -> float:
    """Read the instrument."""
    reading = READINGS[sample]
    if reading == float("inf"):
        raise RuntimeError(f"detector saturated while measuring {sample}")
    return reading


@task
def calibrate(reading: float, offset: float = 0.25) -> float:
    return reading - offset


@task
def average(values: t.Annotated[dict[str, float], dynamic(float)]) -> float:
    return sum(values.values()) / len(values)


@task.graph
def survey(
    samples: list[str],
) -> t.Annotated[dict[str, t.Any], namespace(calibrated=dynamic(float), mean=float)]:
    calibrated = {name: calibrate(reading=measure(sample=name).result).result for name in samples}
    # `average` needs every calibrated value: one missing input and it is skipped too
    return {"calibrated": calibrated, "mean": average(values=calibrated).result}


def main() -> int:
    load_profile()
    samples = list(READINGS)

    # 1. The default: run() raises once the independent work is done and stored.
    wg = survey.build(samples)
    try:
        wg.run()
    except WorkflowFailedError as err:
        print(f"WorkflowFailedError: {len(err.failed)} task(s) failed")
        for path, exc in err.failed.items():
            print(f"  {path}: {type(exc).__name__}: {exc}")
        assert isinstance(err.__cause__, RuntimeError)  # the original exception, chained
    else:
        raise AssertionError("expected the survey to fail")

    # 2. Inspect every task: state, and the error of the failed one.
    print("task states:")
    for name, node in wg.tasks.items():
        detail = f"  ({node.error})" if node.error is not None else ""
        print(f"  {name:<11} {node.state}{detail}")
    states = [node.state for node in wg.tasks.values()]
    assert states.count("FAILED") == 1 and states.count("SKIPPED") == 2  # calibrate2, average

    # 3. raise_on_error=False: no exception; take the results that exist.
    wg = survey.build(samples)
    wg.run(raise_on_error=False)
    print(f"with raise_on_error=False: run state {wg.state}, results kept:")
    for item in wg.outputs.calibrated:
        print(f"  {item._name} -> {item.value.value:.2f}")
    assert len(wg.outputs.calibrated) == 3
    print(f"the failed run is stored too: ferroflow runs show {wg.pk}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
