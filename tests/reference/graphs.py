"""Graphs written once against WorkGraph's API, built by ferroflow in the tests and by
aiida-workgraph 0.9 in ``scripts/workgraph_reference.py``, so the provenance each stores can be
compared (``tests/reference/workgraph_0.9.json`` holds WorkGraph's counts).

:func:`graphs` takes the library's names (``task``, ``namespace``, ``dynamic``, ``WorkGraph``)
and returns, per case, a function that builds and runs the graph and returns it, plus the number
of constants its graph bodies give to tasks and zones (WorkGraph links each of those to the graph
run too: see the README's "Coming from AiiDA WorkGraph") and how many data nodes only those links
touch.
"""

import typing as t
from collections.abc import Callable
from typing import Any

__all__ = ["graphs"]


def graphs(
    task: Any, namespace: Any, dynamic: Any, WorkGraph: Any, zones: Any
) -> dict[str, tuple[Callable[[], Any], int, int]]:
    """``zones``: the library's ``If``, ``While``, ``Map`` and ``group`` by name."""
    If, While, Map, group = zones["If"], zones["While"], zones["Map"], zones["group"]

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

    def if_zones() -> Any:  # WorkGraph's gallery: the false branch is skipped, no node
        with WorkGraph("if_zones") as wg:
            first_sum = add(x=1, y=1).result
            with If(first_sum < 0):
                second_sum = add(x=first_sum, y=2).result
                wg.ctx.result = second_sum
            with If(first_sum >= 0):
                the_product = multiply(x=first_sum, y=3).result
                wg.ctx.result = the_product
            (final_sum := add(x=wg.ctx.result, y=1).result) << group(second_sum, the_product)
            wg.outputs.result = final_sum
        wg.run()
        return wg

    def while_zone() -> Any:  # three checks, two iterations: each a process of its own
        with WorkGraph("while_zone") as wg:
            n = add(x=1, y=1).result
            wg.ctx.n = n
            (condition := wg.ctx.n < 8) << n
            with While(condition, max_iterations=10):
                n = add(x=wg.ctx.n, y=1).result
                n = multiply(x=n, y=2).result
                wg.ctx.n = n
            wg.outputs.result = add(x=n, y=1).result
        wg.run()
        return wg

    def map_zone() -> Any:  # one clone of the body per key of a task's dynamic output
        with WorkGraph("map_zone") as wg:
            with Map(squares(n=3)) as zone:
                zone.gather({"result": add(x=zone.value, y=1).result})
            wg.outputs.result = total(data=zone.outputs.result).result
        wg.run()
        return wg

    # (build and run, constants WorkGraph also links to the graph run, data nodes only those
    # links touch): a zone's own inputs (invert_condition, max_iterations) and the constants
    # of a branch not taken are such nodes, since ferroflow records them only where a task
    # that ran used them.
    return {
        "if_zones": (if_zones, 9, 3),  # 7 constants + 2 invert_condition; y=2 never used
        "while_zone": (while_zone, 7, 1),  # 6 constants + max_iterations
        "map_zone": (map_zone, 2, 0),
        "operators": (operators, 5, 0),
        "add_multiply": (run(add_multiply, x=1, y=2, z=3), 0, 0),
        "outer": (run(outer, x=1, y=2), 2, 0),
        "shapes": (run(shapes, x=5, n=3), 0, 0),
        "gather": (run(gather, n=4), 0, 0),
        "explicit": (explicit, 0, 0),
        "with_block": (with_block, 3, 0),
    }
