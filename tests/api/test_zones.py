"""Control-flow zones (If, While, Map, Zone, select) behave as WorkGraph 0.9 documents and runs
them: values, task states, what is stored, the scheduling rules, and the errors for zones that
cannot work. (Stored node and link counts against WorkGraph's own: test_workgraph_provenance.)"""

from __future__ import annotations

import time
from typing import Any

import pytest
from ferroflow import (
    FutureUsageError,
    If,
    Map,
    MaxIterationsError,
    While,
    WorkflowFailedError,
    WorkGraph,
    Zone,
    ZoneError,
    dynamic,
    group,
    task,
)
from ferroflow.errors import RunTimeoutError


@task
def add(x: Any, y: Any) -> Any:
    return x + y


@task
def multiply(x: Any, y: Any) -> Any:
    return x * y


@task
def boom(x: Any) -> Any:
    raise ValueError(f"boom {x}")


@task
def stamp(x: Any) -> float:
    time.sleep(0.05)
    return time.time()


def _if_graph(start: int) -> WorkGraph:
    with WorkGraph("if_graph") as wg:
        first_sum = add(x=start, y=1).result
        with If(first_sum < 0):
            second_sum = add(x=first_sum, y=2).result
            wg.ctx.result = second_sum
        with If(first_sum >= 0):
            the_product = multiply(x=first_sum, y=3).result
            wg.ctx.result = the_product
        (final_sum := add(x=wg.ctx.result, y=1).result) << group(second_sum, the_product)
        wg.outputs.result = final_sum
    return wg


@pytest.mark.parametrize(
    ("start", "expected", "taken", "skipped"),
    [(1, 7, "multiply", "add1"), (-5, -1, "add1", "multiply")],
)
def test_if_runs_one_branch_and_the_reader_of_the_skipped_one_still_runs(
    start: int, expected: int, taken: str, skipped: str
) -> None:
    wg = _if_graph(start)
    wg.run()
    assert wg.outputs.result.value.value == expected
    states = {t.name: t.state for t in wg.tasks}
    assert states[taken] == "FINISHED" and states[skipped] == "SKIPPED"
    assert states["if_zone"] == states["if_zone1"] == "FINISHED"
    assert states["add2"] == "FINISHED"  # waits on the skipped task (<<) and still runs
    assert wg.tasks[skipped].pk is None  # a branch not taken stores nothing, as in WorkGraph
    assert wg.tasks["if_zone"].pk is None  # zones are no processes
    stored = {t.process.label for t in wg.all_tasks() if t.process is not None}
    assert skipped not in stored and taken in stored


def test_invert_condition_and_the_node_graph_form_with_select() -> None:
    wg = WorkGraph("if_task_example")
    add_task = wg.add_task(add, x=1, y=1)
    yes = wg.add_task("workgraph.if_zone", name="if_true", conditions=add_task.outputs.result)
    add2 = yes.add_task(add, name="add2", x=add_task.outputs.result, y=2)
    no = wg.add_task(
        "workgraph.if_zone",
        name="if_false",
        conditions=add_task.outputs.result,
        invert_condition=True,
    )
    multiply1 = no.add_task(multiply, name="multiply1", x=add_task.outputs.result, y=2)
    select1 = wg.add_task(
        "workgraph.select",
        name="select1",
        true=add2.outputs["result"],
        false=multiply1.outputs["result"],
        condition=add_task.outputs.result,
    )
    add3 = wg.add_task(add, name="add3", x=select1.outputs["result"], y=1)
    wg.outputs.result = add3.outputs.result
    wg.run()
    assert wg.outputs.result.value.value == 5
    assert wg.tasks.multiply1.state == "SKIPPED" and wg.tasks.add2.state == "FINISHED"
    assert yes.children == ["add2"] and no.children == ["multiply1"]
    assert wg.tasks.select1.outputs.result.value.value == 4  # the true branch's 2 + 2


def _while_graph(limit: int = 10, start: int = 1) -> WorkGraph:
    with WorkGraph("while_graph") as wg:
        n = add(x=start, y=1).result
        wg.ctx.n = n
        (condition := wg.ctx.n < 8) << n
        with While(condition, max_iterations=limit):
            n = add(x=wg.ctx.n, y=1).result
            n = multiply(x=n, y=2).result
            wg.ctx.n = n
        wg.outputs.result = add(x=n, y=1).result
    return wg


def test_while_iterates_through_the_context_and_each_iteration_is_its_own_process() -> None:
    wg = _while_graph()
    wg.run()
    assert wg.outputs.result.value.value == 15  # 2 -> 6 -> 14, then + 1
    labels = [t.process.label for t in wg.all_tasks() if t.process is not None]
    assert labels.count("multiply") == 2 and labels.count("add1") == 2
    assert labels.count("op_lt") == 3  # the condition reran after each iteration
    # as WorkGraph leaves them: the body's tasks SKIPPED by the last check, their pks the
    # last iteration's
    assert wg.tasks.multiply.state == "SKIPPED"
    last = [t for t in wg.all_tasks() if t.name == "multiply"][-1]
    assert wg.tasks.multiply.pk == last.pk
    assert wg.tasks.multiply.outputs.result.value.value == 14


def test_a_while_false_at_once_skips_its_body_and_readers_of_the_context_see_the_start() -> None:
    with WorkGraph("while_never") as wg:
        wg.ctx.n = add(x=10, y=0).result
        with While(wg.ctx.n < 8):
            wg.ctx.n = multiply(x=wg.ctx.n, y=2).result
        wg.outputs.result = add(x=wg.ctx.n, y=1).result
    wg.run()
    assert wg.outputs.result.value.value == 11
    assert wg.tasks.multiply.state == "SKIPPED" and wg.tasks.multiply.pk is None
    assert wg.tasks.while_zone.state == "FINISHED"


@task
def late(x: Any, delay: float) -> Any:
    """``x`` after ``delay`` seconds: a task that starts (or finishes) after the fast ones."""
    time.sleep(delay)
    return x


@task
def positive(x: Any, after: Any) -> bool:
    return bool(x > 0)


def test_a_reader_sees_the_context_as_the_script_left_it_not_what_a_later_zone_wrote() -> None:
    """The reader starts late (it waits for a slow task); the If after it in the script would
    otherwise rewrite ``acc`` first, and the reader (and its provenance) would see 101."""
    with WorkGraph("read_then_zone_writes") as wg:
        wg.ctx.acc = add(x=1, y=0).result
        seen = add(x=wg.ctx.acc, y=late(x=0, delay=0.3).result)
        with If(wg.ctx.acc > 0):
            wg.ctx.acc = add(x=wg.ctx.acc, y=100).result
        wg.outputs.seen = seen.result
        wg.outputs.acc = add(x=wg.ctx.acc, y=0).result
    wg.run(max_workers=4)  # (the slow tasks must not hold every worker)
    assert wg.outputs.seen.value.value == 1
    assert wg.outputs.acc.value.value == 101
    reader = wg.tasks.add1.node
    assert reader.inputs["x"].value == 1  # what is stored as its input too
    assert reader in wg.tasks.if_zone.node.producers  # the wait, shown as a ``>>`` edge


def test_a_condition_is_not_decided_by_what_a_later_if_wrote() -> None:
    """The first If's condition starts late; the second If (after it in the script) adds 10
    to ``acc`` at once. The first branch must test -1, not 9."""
    with WorkGraph("conditions_in_order") as wg:
        wg.ctx.acc = add(x=-1, y=0).result
        with If(positive(x=wg.ctx.acc, after=late(x=0, delay=0.3).result).result):
            wg.ctx.taken = add(x=1, y=0).result
        with If(wg.ctx.acc < 0):
            wg.ctx.acc = add(x=wg.ctx.acc, y=10).result
        wg.outputs.acc = add(x=wg.ctx.acc, y=0).result
    wg.run(max_workers=4)  # (the slow tasks must not hold every worker)
    assert wg.tasks.positive.outputs.result.value.value is False
    assert wg.tasks.add1.state == "SKIPPED"  # the first branch's body
    assert wg.outputs.acc.value.value == 9


def test_the_last_write_in_the_script_wins_however_long_the_earlier_one_takes() -> None:
    """The first If's write finishes last; the reader, started after both, gets the second's."""
    with WorkGraph("writes_in_order") as wg:
        wg.ctx.out = add(x=0, y=0).result
        with If(wg.ctx.out == 0):
            wg.ctx.out = late(x=1, delay=0.3).result
        with If(True):
            wg.ctx.out = add(x=2, y=0).result
        wg.outputs.out = add(x=wg.ctx.out, y=late(x=0, delay=0.6).result).result
    wg.run(max_workers=4)  # (the slow tasks must not hold every worker)
    assert wg.outputs.out.value.value == 2


def test_each_iteration_waits_for_its_own_inner_if_not_the_last_iterations() -> None:
    """In iteration 2, ``multiply`` uses the output of a child of the inner If: it must wait for
    iteration 2's If (slow), not take iteration 1's finished clone and start at once."""
    with WorkGraph("inner_if_per_iteration") as wg:
        wg.ctx.n = add(x=0, y=0).result
        with While(wg.ctx.n < 2, max_iterations=3):
            wg.ctx.n = add(x=wg.ctx.n, y=1).result
            with If(wg.ctx.n > 0):
                slow = late(x=wg.ctx.n, delay=0.3).result
            wg.ctx.w = multiply(x=slow, y=10).result
        wg.outputs.w = add(x=wg.ctx.w, y=0).result
    wg.run(max_workers=4)
    assert wg.outputs.w.value.value == 20
    runs = [t for t in wg.all_tasks() if t.name == "multiply"]
    stored = [{label: node.value for _, label, node in t.process.inputs} for t in runs]
    assert [found["x"] for found in stored] == [1, 2]  # what is stored, too


def test_a_map_after_an_if_not_taken_reads_what_the_context_held_before_it() -> None:
    """The inner If is not taken, so ``wg.ctx.acc`` keeps the first add's value; the Map's
    clone reads it through its rewritten entry (the skipped stand-in of the inner add)."""
    with WorkGraph("untaken_then_map") as wg:
        wg.ctx.acc = add(x=1, y=0).result
        with If(wg.ctx.acc > 0):
            with If(wg.ctx.acc > 0, invert_condition=True):
                wg.ctx.acc = add(x=wg.ctx.acc, y=5).result
            with Map({"a": 1, "b": 2}) as zone:
                zone.gather({"r": multiply(x=wg.ctx.acc, y=zone.value).result})
        wg.outputs.r = zone.outputs.r
    wg.run()
    assert {k: v.value for k, v in wg.outputs.r.value.items()} == {"a": 1, "b": 2}


def test_max_iterations_exceeded_fails_the_zone_naming_it_and_its_count() -> None:
    wg = _while_graph(limit=1)
    with pytest.raises(WorkflowFailedError) as info:
        wg.run()
    error = wg.tasks.while_zone.error
    assert isinstance(error, MaxIterationsError)
    assert "while_graph/while_zone" in str(error) and "max_iterations=1" in str(error)
    assert wg.tasks.add2.state == "SKIPPED"  # the reader after the loop never ran
    assert "while_zone" in str(info.value)


@task
def get_value(data: Any, key: str) -> Any:
    return data[key]


@task
def squares(n: int) -> dynamic(int):  # type: ignore[valid-type]
    return {f"s{i}": i * i for i in range(n)}


@task
def total(**data: int) -> int:
    return sum(data.values())


def test_map_clones_the_body_per_key_and_gathers() -> None:
    data = {f"data_{i}": {"x": i, "y": i} for i in range(4)}
    with WorkGraph("AddMap") as wg:
        with Map(data) as map_zone:
            result = add(
                x=get_value(map_zone.value, "x").result, y=get_value(map_zone.value, "y").result
            ).result
            map_zone.gather({"result": result})
        wg.outputs.result = map_zone.outputs.result
    wg.run()
    assert {s._name: s.value.value for s in wg.outputs.result} == {
        f"data_{i}": 2 * i for i in range(4)
    }
    labels = sorted(t.process.label for t in wg.all_tasks() if t.process is not None)
    assert labels.count("data_2_add") == 1 and len(labels) == 12  # 3 clones x 4 keys
    assert wg.tasks.add.state == "FINISHED" and wg.tasks.add.pk is None  # templates: no node


def test_map_over_a_dynamic_output_in_the_node_graph_form() -> None:
    wg = WorkGraph("map_task_example")
    data_task = wg.add_task(squares, n=4)
    map_task = wg.add_task("workgraph.map_zone", source=data_task.outputs)
    with pytest.warns(DeprecationWarning, match=r"map_zone\.value"):  # WorkGraph 0.8's spelling
        in_map = map_task.add_task(add, x=map_task.item.value, y=1)
    map_task.gather({"result": in_map.outputs.result})
    sum_task = wg.add_task(total, data=map_task.outputs.result)
    wg.outputs.result = sum_task.outputs.result
    wg.run()
    assert wg.outputs.result.value.value == sum(i * i + 1 for i in range(4))


def test_an_if_inside_a_map_decides_per_key() -> None:
    with WorkGraph("if_in_map") as wg:
        with Map({"a": 1, "b": 5, "c": 3}) as zone:
            with If(zone.value > 2):
                big = multiply(x=zone.value, y=10).result
            zone.gather({"big": big})
        wg.outputs.big = zone.outputs.big
    wg.run()
    assert {s._name: s.value.value for s in wg.outputs.big} == {"a": None, "b": 50, "c": 30}


def test_nested_while_inside_if_and_a_zone_waits_for_everything_it_uses() -> None:
    with WorkGraph("nested") as wg:
        early = stamp(x=0).result
        wg.ctx.n = add(x=0, y=1).result
        with If(wg.ctx.n > 0), While(wg.ctx.n < 5):
            wg.ctx.n = add(x=wg.ctx.n, y=2).result
        with Zone():
            inside = stamp(x=1).result
            late = stamp(x=early).result  # the zone starts after `early`
        wg.outputs.n = add(x=wg.ctx.n, y=0).result
        wg.outputs.inside = inside
        wg.outputs.early = early
        wg.outputs.late = late
    wg.run()
    assert wg.outputs.n.value.value == 5  # 1 -> 3 -> 5
    # `inside` needs nothing from outside, yet the zone started only after `early` finished
    assert wg.outputs.inside.value.value > wg.outputs.early.value.value


def test_a_task_outside_waits_for_the_whole_zone() -> None:
    with WorkGraph("zone_example") as wg:
        first = stamp(x=0).result
        with Zone():
            quick = add(x=1, y=1).result
            slow = stamp(x=first).result
        after = stamp(x=quick).result  # uses only `quick`, waits for `slow` too
        wg.outputs.after = after
        wg.outputs.slow = slow
    wg.run()
    assert wg.outputs.after.value.value > wg.outputs.slow.value.value


def test_a_failure_inside_a_zone_fails_it_and_skips_its_readers_only() -> None:
    with WorkGraph("zone_failure") as wg:
        x = add(x=1, y=1).result
        with If(x > 0):
            bad = boom(x=x).result
            fine = add(x=x, y=1).result
        after = add(x=bad, y=1).result
        independent = multiply(x=x, y=5).result
        wg.outputs.independent = independent
        wg.outputs.after = after
    with pytest.raises(WorkflowFailedError):
        wg.run()
    assert wg.tasks.if_zone.state == "FAILED"
    assert wg.tasks.boom.state == "FAILED" and "boom 2" in str(wg.tasks.boom.error)
    assert wg.tasks.add1.state == "FINISHED"  # its sibling still ran
    assert wg.tasks.add2.state == "SKIPPED"
    assert wg.tasks.multiply.state == "FINISHED"
    assert fine is not None and independent.value.value == 10


@task
def nap(x: Any) -> Any:
    time.sleep(0.2)
    return x + 1


def test_a_timeout_inside_a_while_cancels_the_loop_and_keeps_finished_iterations() -> None:
    with WorkGraph("long_loop") as wg:
        wg.ctx.n = add(x=0, y=0).result
        with While(wg.ctx.n < 1000, max_iterations=1000):
            wg.ctx.n = nap(x=wg.ctx.n).result
    with pytest.raises(RunTimeoutError):
        wg.run(timeout=0.7)
    assert wg.state == "CANCELLED"
    stored = [t for t in wg.all_tasks() if t.name == "nap" and t.state == "FINISHED"]
    assert 1 <= len(stored) < 10 and all(t.process is not None for t in stored)


def test_zones_misused_are_refused_before_the_run() -> None:
    with WorkGraph("gather_outside") as wg:
        outside = add(x=1, y=1).result
        with Map({"a": 1}) as zone, pytest.raises(ValueError, match="outside the zone"):
            zone.gather({"r": outside})
    with WorkGraph("constant_condition") as wg, While(True):
        add(x=1, y=1)
    with pytest.raises(ZoneError, match="constant"):
        wg.run()
    with WorkGraph("no_state") as wg:
        n = add(x=1, y=1).result
        with While(n < 5):
            add(x=n, y=1)
    with pytest.raises(ZoneError, match="reads no context entry"):
        wg.run()
    assert wg.pk is None  # refused before anything ran or was stored


def test_zones_run_the_same_on_dask(client: Any) -> None:
    wg = _while_graph()
    wg.run(executor=client)
    assert wg.outputs.result.value.value == 15
    wg = _if_graph(-5)
    wg.run(executor=client)
    assert wg.outputs.result.value.value == -1
    data = {f"k{i}": i for i in range(5)}
    with WorkGraph("dask_map") as wg:
        with Map(data) as zone:
            zone.gather({"r": multiply(x=zone.value, y=3).result})
        wg.outputs.r = zone.outputs.r
    wg.run(executor=client)
    assert {s._name: s.value.value for s in wg.outputs.r} == {k: 3 * v for k, v in data.items()}


def test_a_run_with_zones_is_rebuilt_from_its_recipe_and_reuses_what_finished() -> None:
    wg = _if_graph(1)
    wg.run(cache=True)
    again = WorkGraph.load(wg.pk)  # the recipe describes the two If zones and wg.ctx
    again.run()
    assert again.outputs.result.value.value == 7
    assert len(again.cached_tasks) == 5  # add, op_lt, op_ge, multiply, add2: all reused


def test_a_context_entry_has_no_truth_or_items_at_build_time() -> None:
    with WorkGraph("truth") as wg:
        wg.ctx.n = add(x=1, y=1).result
        with pytest.raises(FutureUsageError, match=r"If\(wg\.ctx\.n > 0\)"):
            bool(wg.ctx.n)
        with pytest.raises(FutureUsageError, match="Map zone"):
            list(wg.ctx.n)
