"""Nested graphs: reuse a small workflow as one step of a bigger one.

A control and a treated group of measurements are each summarised by the same sub-workflow
(``describe``: mean, then standard deviation around that mean); the outer workflow compares the
two means. ``describe`` is a ``@task.graph``: called inside another graph body it becomes a
*graph task*, whose own body runs when its inputs are known and adds its tasks to the live run.
Every task still has its own provenance, and its path shows where it sits
(``compare_groups/describe1/mean``).

Run: ``python examples/nested_graphs.py``
"""

from __future__ import annotations

import math
import sys
import typing as t

from ferroflow import load_profile, namespace, task


@task
def mean(values: list[float]) -> float:
    """Arithmetic mean of a series."""
    return sum(values) / len(values)


@task
def std(values: list[float], centre: float) -> float:
    """Sample standard deviation around ``centre``."""
    return math.sqrt(sum((v - centre) ** 2 for v in values) / (len(values) - 1))


@task
def difference(a: float, b: float) -> float:
    return a - b


# The sub-workflow. Its body only wires tasks together: ``centre`` is a *future* (the mean
# that does not exist yet), handed straight to the next task. The return annotation declares
# two named outputs.
@task.graph
def describe(
    values: list[float],
) -> t.Annotated[dict[str, float], namespace(mean=float, std=float)]:
    centre = mean(values=values).result
    return {"mean": centre, "std": std(values=values, centre=centre).result}


# The outer workflow calls the sub-workflow twice, like any task, and uses its named outputs.
@task.graph
def compare_groups(
    control: list[float], treated: list[float]
) -> t.Annotated[dict[str, float], namespace(effect=float, control_std=float, treated_std=float)]:
    c = describe(values=control)  # graph task 'describe'
    d = describe(values=treated)  # graph task 'describe1'
    return {
        "effect": difference(a=d.mean, b=c.mean).result,
        "control_std": c.std,
        "treated_std": d.std,
    }


def main() -> int:
    load_profile()  # the default profile: $FERROFLOW_HOME/default (~/.ferroflow by default)
    control = [4.9, 5.1, 5.0, 4.8, 5.2]
    treated = [6.8, 7.2, 7.1, 6.9, 7.0]
    wg = compare_groups.build(control, treated)
    wg.run()

    effect = wg.outputs.effect.value
    print(f"effect of the treatment (difference of means): {effect.value:.2f}")
    print(f"standard deviations: control {wg.outputs.control_std.value.value:.3f}, "
          f"treated {wg.outputs.treated_std.value.value:.3f}")  # fmt: skip
    # all_tasks() includes the tasks the graph tasks added while the run went on
    print("tasks, with their place in the nesting:")
    for node in wg.all_tasks():
        print(f"  {node.path:<32} {node.state}")
    print(f"stored as run pk {wg.pk}; see it with: ferroflow runs show {wg.pk}")
    assert abs(effect.value - 2.0) < 1e-9
    return 0


if __name__ == "__main__":
    sys.exit(main())
