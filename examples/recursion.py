"""Recursion: a graph task that calls itself until a result is good enough.

Newton's method for a square root: each step is a task (``newton_step``), and a graph task
(``refine``) looks at the current estimate, stops if it is accurate enough, or adds one more
step and *itself* again with the new estimate. This is how ferroflow writes "iterate until
converged" (WorkGraph's while loop): the decision runs when the estimate is known, and every
estimate is a stored value with its provenance.

``max_depth`` bounds the recursion: a stopping condition that is never met (here: a negative
tolerance, which no estimate meets) ends in a clear ``RecursionDepthError`` naming the task,
instead of running forever.

Run: ``python examples/recursion.py 2``
"""

from __future__ import annotations

import math
import sys

from ferroflow import RecursionDepthError, WorkflowFailedError, load_profile, task


@task
def newton_step(x: float, guess: float) -> float:
    """One Newton step towards sqrt(x)."""
    return (guess + x / guess) / 2


@task.graph(max_depth=30)
def refine(x: float, guess: float, tol: float) -> float:
    # Inside a graph task, ``guess`` is a concrete number (the body runs at run time), so an
    # ordinary ``if`` can decide whether to go on.
    if abs(guess * guess - x) <= tol * x:
        return guess  # returning an input as it is: the estimate that converged
    better = newton_step(x=x, guess=guess).result
    return refine(x=x, guess=better, tol=tol).result  # recurse: one level deeper


def main(x: float) -> int:
    load_profile()
    wg = refine.build(x, 1.0, 1e-12)
    wg.run()
    root = wg.outputs.result.value
    steps = sum(1 for node in wg.all_tasks() if node.name.startswith("newton_step"))
    depth = max((node.path.count("/") for node in wg.all_tasks()), default=0)
    print(f"sqrt({x}) = {root.value!r} after {steps} Newton steps (graph nesting depth {depth})")
    assert math.isclose(root.value, math.sqrt(x), rel_tol=1e-12)

    # A negative tolerance is never met: the recursion stops at max_depth=30 with an error.
    wg = refine.build(x, 1.0, -1.0)
    try:
        wg.run()
    except WorkflowFailedError as err:
        # err.failed maps each failed task's path to its exception; graph tasks that failed
        # only because a child did are not repeated there
        (path, cause), *_ = err.failed.items()
        assert isinstance(cause, RecursionDepthError)
        print(f"stopped by max_depth: {type(cause).__name__} in task {path.split('/')[-1]!r}")
        print("  ..." + str(cause).split("' ", 1)[1])  # the message without the long path
    else:
        raise AssertionError("expected the recursion to hit max_depth")
    return 0


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0))
