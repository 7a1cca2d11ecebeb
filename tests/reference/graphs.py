"""Graphs written once against WorkGraph's API, built by ferroflow in the tests and by
aiida-workgraph 0.9 in ``scripts/workgraph_reference.py``, so the provenance each stores can be
compared (``tests/reference/workgraph_0.9.json`` holds WorkGraph's counts).

:func:`graphs` takes the library's names (``task``, ``namespace``, ``dynamic``, ``WorkGraph``)
and returns, per case, a function that builds and runs the graph and returns it, plus the number
of constants its graph bodies give to tasks (WorkGraph links each of those to the graph run too:
see the README's "Coming from AiiDA WorkGraph").
"""

import typing as t
from collections.abc import Callable
from typing import Any

__all__ = ["graphs"]


def graphs(
    task: Any, namespace: Any, dynamic: Any, WorkGraph: Any
) -> dict[str, tuple[Callable[[], Any], int]]:
    @task
    def add(x, y):  # type: ignore[no-untyped-def]
        return x + y

    @task
    def multiply(x, y):  # type: ignore[no-untyped-def]
        return x * y

    @task
    def split(
        x: int,
    ) -> t.Annotated[dict, namespace(sum=int, nested=namespace(diff=int, product=int))]:
        return {"sum": x + 1, "nested": {"diff": x - 1, "product": x * 2}}

    @task
    def squares(n: int) -> t.Annotated[dict, dynamic(int)]:
        return {f"s{i}": i * i for i in range(n)}

    @task
    def total(**data):  # type: ignore[no-untyped-def]
        return sum(data.values())

    @task.graph
    def add_multiply(x, y, z):  # type: ignore[no-untyped-def]
        return multiply(x=add(x=x, y=y).result, y=z).result

    @task.graph
    def outer(x, y):  # type: ignore[no-untyped-def]
        inner = add_multiply(x=x, y=y, z=2).result  # constant z: one
        return add(x=inner, y=1).result  # constant y: two

    @task.graph
    def shapes(x: int, n: int):  # type: ignore[no-untyped-def]
        split(x=x)
        squares(n=n)

    @task.graph
    def gather(n: int):  # type: ignore[no-untyped-def]
        return total(data=squares(n=n)).result

    def run(graph: Any, **inputs: Any) -> Callable[[], Any]:
        def go() -> Any:
            wg = graph.build(**inputs)
            wg.run()
            return wg

        return go

    def explicit() -> Any:
        wg = WorkGraph("explicit", inputs=namespace(x=int, y=int, z=int))
        wg.add_task(add, name="add1", x=wg.inputs.x, y=wg.inputs.y)
        wg.add_task(multiply, name="mul1", x=wg.tasks.add1.outputs.result, y=wg.inputs.z)
        wg.outputs.result = wg.tasks.mul1.outputs.result
        wg.run(inputs={"x": 2, "y": 3, "z": 4})
        return wg

    def with_block() -> Any:
        with WorkGraph("with_block") as wg:
            first = add(x=1, y=2).result  # two constants
            wg.outputs.result = multiply(x=first, y=3).result  # one
        wg.run()
        return wg

    def operators() -> Any:
        with WorkGraph("operators") as wg:
            the_sum = add(x=1, y=2).result  # two constants
            wg.outputs.scaled = the_sum * 10  # an op_mul task, one constant
            wg.outputs.small = the_sum < 5  # an op_lt task, one constant
            wg.outputs.back = 100 - the_sum  # reflected: op_sub(x=100, y=sum)
        wg.run()
        return wg

    return {
        "operators": (operators, 5),
        "add_multiply": (run(add_multiply, x=1, y=2, z=3), 0),
        "outer": (run(outer, x=1, y=2), 2),
        "shapes": (run(shapes, x=5, n=3), 0),
        "gather": (run(gather, n=4), 0),
        "explicit": (explicit, 0),
        "with_block": (with_block, 3),
    }
