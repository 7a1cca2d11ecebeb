"""Recipes describe control-flow zones (version 3), so an explicitly built graph with ``If``,
``While`` or ``Map`` zones and ``wg.ctx`` reads and writes is loaded (``WorkGraph.load``) and
restarted (``wg.restart()``, ``ferroflow restart``) as the script built it: same results, same
stored provenance, finished tasks reused. A damaged zone part fails naming the run and what is
wrong; a version-2 recipe (before zones) still loads."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from ferroflow import (
    FerroflowError,
    If,
    Map,
    While,
    WorkGraph,
    Zone,
    dynamic,
    get_current_profile,
    group,
    task,
)
from ferroflow.cli import main as cli_main
from ferroflow.errors import NodeNotFoundError
from ferroflow.model.sockets import FutureSocket
from ferroflow.model.zones import zone_link
from ferroflow.store.deletion import delete_run
from ferroflow.testing import Program, evaluate_program, zone_programs
from hypothesis import assume, given, settings
from provenance_flows import run_provenance

# -- module-level tasks: importable by name, as a recipe needs them ------------------------------


@task
def add(x: Any, y: Any) -> Any:
    return x + y


@task
def multiply(x: Any, y: Any) -> Any:
    return x * y


@task
def total(data: Any) -> Any:
    return sum(data.values())


def _note(value: Any) -> None:
    side = os.environ.get("FF_ZONE_SIDE")
    if side:
        with open(side, "a") as handle:
            handle.write(f"{value}\n")


@task
def fragile(x: int) -> int:
    """Fails for the value named in ``$FF_ZONE_FAIL`` (the test clears it to fix the run);
    notes each run in ``$FF_ZONE_SIDE``, so a test counts what ran again."""
    _note(x)
    if os.environ.get("FF_ZONE_FAIL") == str(x):
        raise ValueError(f"fragile refuses {x}")
    return x * 10


# -- the graphs --------------------------------------------------------------------------------


@task
def step(i: int) -> int:
    """One iteration of a loop: fails at the value named in ``$FF_ZONE_FAIL``."""
    _note(i)
    if os.environ.get("FF_ZONE_FAIL") == str(i):
        raise ValueError(f"step refuses {i}")
    return i + 1


def if_graph(start: int) -> WorkGraph:
    with WorkGraph("if_graph") as wg:
        first_sum = add(x=start, y=1).result
        with If(first_sum < 0):
            second_sum = add(x=first_sum, y=2).result
            wg.ctx.result = second_sum
        with If(first_sum < 0, invert_condition=True):
            the_product = multiply(x=first_sum, y=3).result
            wg.ctx.result = the_product
        (final_sum := add(x=wg.ctx.result, y=1).result) << group(second_sum, the_product)
        wg.outputs.result = final_sum
    return wg


def while_loop(n: int) -> WorkGraph:
    """benches/zones.py's loop: ``wg.ctx.i`` advanced by the body, tested by the condition."""
    with WorkGraph("while_bench") as wg:
        first = add(x=0, y=0).result
        wg.ctx.i = first
        (condition := wg.ctx.i < n) << first
        with While(condition, max_iterations=n + 1):
            wg.ctx.i = add(x=wg.ctx.i, y=1).result
        wg.outputs.result = add(x=wg.ctx.i, y=0).result
    return wg


def map_graph(data: dict[str, int]) -> WorkGraph:
    with WorkGraph("map_graph") as wg:
        wg.ctx = {"offset": 5, "scale.factor": 2}  # initial values, one nested
        with Map(data) as zone:
            scaled = fragile(x=zone.value).result
            zone.gather({"r": add(x=scaled, y=wg.ctx.offset).result})
        summed = total(data=zone.outputs.r).result
        wg.outputs.result = multiply(x=summed, y=wg.ctx.scale.factor).result
    return wg


def map_in_if(start: int) -> WorkGraph:
    with WorkGraph("map_in_if") as wg:
        first = add(x=start, y=0).result
        with If(first > 0):
            with Map({"a": 1, "b": 2}) as zone:
                zone.gather({"r": multiply(x=zone.value, y=first).result})
            wg.ctx.found = total(data=zone.outputs.r).result
        wg.outputs.result = add(x=wg.ctx.found, y=100).result
    return wg


def if_in_while(n: int) -> WorkGraph:
    """Sums the odd numbers up to ``n``: ``wg.ctx.odd`` is written only when the inner If is
    taken; each context entry has one writer per iteration, which its readers wait for."""
    with WorkGraph("if_in_while") as wg:
        wg.ctx.i = 0
        wg.ctx.odd = 0
        with While(wg.ctx.i < n):
            following = add(x=wg.ctx.i, y=1).result
            with If(following % 2 == 1):
                wg.ctx.odd = add(x=wg.ctx.odd, y=following).result
            wg.ctx.i = following
        wg.outputs.odd = add(x=wg.ctx.odd, y=0).result
    return wg


@task
def spread(n: int) -> dynamic(int):  # type: ignore[valid-type]
    return {f"s{i}": i for i in range(n)}


@task
def entry(key: str, value: int, offset: int) -> int:
    return len(key) * 100 + value + offset


def nested_maps() -> WorkGraph:
    """A Map over a task's dynamic output holding a Map that reads both items (the outer one
    by WorkGraph 0.8's ``zone.item.value``), a plain Zone writing the context, and a graph
    output that is a context read."""
    with WorkGraph("nested_maps") as wg:
        with Map(spread(n=3)) as outer:
            with Map({"a": 1, "bb": 2}) as inner:
                with pytest.warns(DeprecationWarning):
                    item = outer.item.value
                inner.gather({"q": entry(key=inner.key, value=inner.value, offset=item).result})
            outer.gather({"r": total(data=inner.outputs.q).result})
        with Zone():
            wg.ctx.t = total(data=outer.outputs.r).result
        wg.outputs.t = wg.ctx.t
    return wg


@task
def term(acc: int, key: int, c: int) -> int:
    return acc + key * c


def _program(wg: WorkGraph, program: Program) -> None:
    """tests/engine/test_zone_hypothesis.py's builder, with this module's tasks."""
    for step in program:
        kind = step[0]
        if kind == "add":
            wg.ctx.acc = add(x=wg.ctx.acc, y=step[1]).result
        elif kind == "map":
            _, n, c = step
            with Map({f"k{k}": k for k in range(n)}) as zone:
                zone.gather({"t": term(acc=wg.ctx.acc, key=zone.value, c=c).result})
            wg.ctx.acc = total(data=zone.outputs.t).result
        elif kind == "if":
            _, threshold, invert, body = step
            with If(wg.ctx.acc > threshold, invert_condition=invert):
                _program(wg, body)
        else:
            _, limit, increment, max_iterations, body = step
            with While(wg.ctx.acc < limit, max_iterations=max_iterations):
                wg.ctx.acc = add(x=wg.ctx.acc, y=increment).result
                _program(wg, body)


def counting_loop(n: int) -> WorkGraph:
    with WorkGraph("counting_loop") as wg:
        wg.ctx.i = 0
        with While(wg.ctx.i < n):
            wg.ctx.i = step(i=wg.ctx.i).result
        wg.outputs.result = add(x=wg.ctx.i, y=0).result
    return wg


def ordered() -> WorkGraph:
    """Ordering edges into and out of a zone (no data flows along them)."""
    with WorkGraph("ordered") as wg:
        before = add(x=1, y=1)
        with If(True):
            inside = multiply(x=2, y=3)
            inside << before  # into the zone
        after = add(x=5, y=5)
        after << inside  # out of it
        wg.outputs.result = after.result
    return wg


# -- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "side.txt"
    monkeypatch.setenv("FF_ZONE_SIDE", str(path))
    return path


def _side(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def _store_file() -> str:
    store = get_current_profile().store
    store.flush()
    return str(store.path)


def _recipe(pk: int) -> dict[str, Any]:
    with sqlite3.connect(_store_file()) as conn:
        (text,) = conn.execute("SELECT recipe FROM graph_recipe WHERE run_pk = ?", (pk,)).fetchone()
    return dict(json.loads(text))


def _set_recipe(pk: int, recipe: dict[str, Any]) -> None:
    with sqlite3.connect(_store_file()) as conn:
        conn.execute(
            "UPDATE graph_recipe SET recipe = ? WHERE run_pk = ?", (json.dumps(recipe), pk)
        )


def _children(wg: WorkGraph, zone: str) -> list[str]:
    link = zone_link(wg.tasks[zone].node)
    assert link is not None and link.zone is not None
    return [child.name for child in link.zone.children]


def _values(wg: WorkGraph) -> dict[str, Any]:
    return {socket._path[-1]: socket.value.value for socket in wg.outputs}


def _loaded_runs_the_same(wg: WorkGraph) -> WorkGraph:
    """Load ``wg``'s finished run, run it: same outputs, same stored provenance, every task
    reused."""
    assert wg.pk is not None and wg.state == "FINISHED"
    again = WorkGraph.load(wg.pk)
    again.run()
    assert again.state == "FINISHED" and again.pk != wg.pk
    assert _values(again) == _values(wg)
    assert run_provenance(again.pk) == run_provenance(wg.pk)
    return again


# -- loading then running gives the same graph ----------------------------------------------------


@pytest.mark.parametrize(("start", "expected"), [(-5, -1), (1, 7)])
def test_if_taken_and_not_taken_load_and_run_the_same(start: int, expected: int) -> None:
    wg = if_graph(start)
    wg.run()
    assert _values(wg) == {"result": expected}
    recipe = _recipe(wg.pk)
    assert recipe["version"] == 3
    zones = {t["name"]: t["zone"]["kind"] for t in recipe["tasks"] if "zone" in t}
    assert zones == {"if_zone": "if", "if_zone1": "if"}
    again = _loaded_runs_the_same(wg)
    assert _children(again, "if_zone") == ["add1"]
    assert _children(again, "if_zone1") == ["multiply"]
    assert len(again.cached_tasks) == 5  # add, both op_lt, the branch taken, add2


def test_the_bench_while_loop_loads_and_runs_the_same() -> None:
    wg = while_loop(4)
    wg.run()
    assert _values(wg) == {"result": 4}
    again = _loaded_runs_the_same(wg)
    assert again.tasks.while_zone.node.inputs["max_iterations"].value == 5
    # the first add, 5 checks of the condition, 4 iterations, the last add: all reused
    assert len(again.cached_tasks) == 11


def test_a_map_with_gather_context_values_and_a_task_after_it_loads_and_runs_the_same() -> None:
    wg = map_graph({"k0": 0, "k1": 1, "k2": 2})
    wg.run()
    assert _values(wg) == {"result": 2 * (0 + 10 + 20 + 3 * 5)}
    again = _loaded_runs_the_same(wg)
    assert again.ctx.offset.value == 5 and again.ctx.scale.factor.value == 2


def test_a_map_inside_an_if_loads_and_runs_the_same() -> None:
    wg = map_in_if(2)
    wg.run()
    assert _values(wg) == {"result": 2 * (1 + 2) + 100}
    again = _loaded_runs_the_same(wg)
    assert _children(again, "if_zone") == ["map_zone", "total"]
    assert _children(again, "map_zone") == ["multiply"]


def test_an_if_inside_a_while_loads_and_runs_the_same() -> None:
    wg = if_in_while(5)
    wg.run()
    assert _values(wg) == {"odd": 1 + 3 + 5}
    _loaded_runs_the_same(wg)


def test_ordering_edges_into_and_out_of_a_zone_come_back() -> None:
    wg = ordered()
    wg.run()
    after = {t["name"]: t["after"] for t in _recipe(wg.pk)["tasks"]}
    assert after["multiply"] == ["add"] and after["add1"] == ["multiply"]
    again = WorkGraph.load(wg.pk)
    nodes = {name: again.tasks[name].node for name in ("add", "multiply", "add1")}
    assert [p.name for p in nodes["multiply"].producers] == ["add"]
    assert [p.name for p in nodes["add1"].producers] == ["multiply"]
    again.run()
    assert _values(again) == _values(wg) == {"result": 10}
    assert run_provenance(again.pk) == run_provenance(wg.pk)
    assert len(again.cached_tasks) == 3


def test_nested_maps_items_and_a_context_output_load_and_run_the_same() -> None:
    wg = nested_maps()
    wg.run()
    assert _values(wg) == {"t": sum(101 + i + 202 + i for i in range(3))}
    recipe = {t["name"]: t for t in _recipe(wg.pk)["tasks"]}
    assert recipe["entry"]["inputs"]["offset"] == {"item": ["map_zone", "value"]}
    assert recipe["entry"]["inputs"]["key"] == {"item": ["map_zone1", "key"]}
    assert recipe["entry"]["in"] == "map_zone1" and recipe["map_zone1"]["in"] == "map_zone"
    _loaded_runs_the_same(wg)


@settings(max_examples=12, deadline=None)
@given(zone_programs())
def test_random_zone_programs_load_and_run_the_same(drawn: tuple[int, Program]) -> None:
    start, program = drawn
    expected = evaluate_program(start, program)
    assume(expected is not None)  # (a loop past max_iterations fails: nothing to compare)
    with WorkGraph("zones") as wg:
        wg.ctx.acc = add(x=start, y=0).result
        _program(wg, program)
        wg.outputs.acc = add(x=wg.ctx.acc, y=0).result
    wg.run(progress=False)
    assert _values(wg) == {"acc": expected}
    _loaded_runs_the_same(wg)


# -- restarting a run that failed inside a zone -------------------------------------------------


def test_a_map_that_failed_on_one_key_restarts_reusing_the_other_keys(
    side: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FF_ZONE_FAIL", "1")
    wg = map_graph({"k0": 0, "k1": 1, "k2": 2})
    wg.run(raise_on_error=False)
    assert wg.state == "FAILED"
    assert sorted(_side(side)) == [0, 1, 2]
    side.unlink()
    monkeypatch.setenv("FF_ZONE_FAIL", "")  # the fix
    again = wg.restart()
    assert again.state == "FINISHED"
    assert _values(again) == {"result": 2 * (0 + 10 + 20 + 3 * 5)}
    assert _side(side) == [1]  # only the key that failed ran its task again
    reused = sorted(path.rsplit("/", 1)[-1] for path in again.cached_tasks)
    assert reused == ["k0_add", "k0_fragile", "k2_add", "k2_fragile"]


def test_a_loop_that_failed_mid_way_restarts_from_the_cli_reusing_its_iterations(
    side: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FF_ZONE_FAIL", "2")
    wg = counting_loop(4)
    wg.run(raise_on_error=False)
    assert wg.state == "FAILED"
    assert _side(side) == [0, 1, 2]
    side.unlink()
    monkeypatch.setenv("FF_ZONE_FAIL", "")
    assert cli_main(["restart", str(wg.pk)]) == 0
    out = capsys.readouterr().out
    assert f"restarted run {wg.pk} as run" in out
    assert _side(side) == [2, 3]  # iterations 0 and 1 were reused
    finished = WorkGraph.load(wg.pk)  # the CLI's run stored every step: all reused now
    finished.run()
    assert _values(finished) == {"result": 4} and _side(side) == [2, 3]


# -- what cannot be read or carried is refused, naming it -----------------------------------------


def _damaged(recipe: dict[str, Any], edit: str) -> None:
    tasks = {t["name"]: t for t in recipe["tasks"]}
    if edit == "kind":
        tasks["map_zone"]["zone"]["kind"] = "loop"
    elif edit == "parent":
        tasks["fragile"]["in"] = "nowhere"
    elif edit == "gather":
        tasks["map_zone"]["zone"]["gather"]["r"] = {"link": ["total", ["result"]]}
    elif edit == "item":
        tasks["total"]["inputs"]["data"] = {"item": ["map_zone", "value"]}
    elif edit == "writes":
        tasks["add"]["writes"] = [["offset", "result"]]


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        ("kind", "task 'map_zone': not a zone"),
        ("parent", "task 'fragile': its zone 'nowhere' is not a zone task"),
        ("gather", "Map zone 'map_zone', gather 'r': task 'total' is not inside the zone"),
        ("item", "task 'total', input 'data': it reads the item of 'map_zone'"),
        ("writes", "task 'add': not a list of context writes"),
    ],
)
def test_a_damaged_zone_part_fails_naming_the_run_and_what_is_wrong(edit: str, says: str) -> None:
    wg = map_graph({"k0": 0})
    wg.run()
    recipe = _recipe(wg.pk)
    _damaged(recipe, edit)
    _set_recipe(wg.pk, recipe)
    with pytest.raises(FerroflowError, match=f"the recipe of run {wg.pk}") as caught:
        WorkGraph.load(wg.pk)
    assert says in str(caught.value)


def test_a_replaced_context_loads_unless_zones_write_it_then_it_is_refused_naming_it() -> None:
    with WorkGraph("replaced") as wg:
        wg.ctx.x = add(x=1, y=1).result
        old = wg.ctx.x
        wg.ctx = {"y": 2}  # no zone writes the old context: its read is its entry
        add(x=old, y=wg.ctx.y)
    wg.run()
    _loaded_runs_the_same(wg)
    with WorkGraph("replaced_loop") as wg:
        wg.ctx.n = 0
        with While(wg.ctx.n < 2):
            wg.ctx.n = add(x=wg.ctx.n, y=1).result
        wg.ctx = {"y": 2}  # the loop runs on the context this replaced
        wg.outputs.result = add(x=wg.ctx.y, y=1).result
    wg.run()
    assert _values(wg) == {"result": 3}
    with pytest.raises(FerroflowError, match=f"run {wg.pk}: task 'op_lt', input 'x'") as caught:
        WorkGraph.load(wg.pk)
    assert "context entry 'n'" in str(caught.value)


def test_a_version_2_recipe_still_loads() -> None:
    wg = WorkGraph("older")
    first = wg.add_task(add, x=1, y=2)
    wg.add_task(multiply, x=first.outputs.result, y=4)
    wg.run()
    recipe = _recipe(wg.pk)
    del recipe["context"]
    recipe["version"] = 2
    _set_recipe(wg.pk, recipe)
    again = WorkGraph.load(wg.pk)
    again.run()
    assert again.tasks.multiply.outputs.result.value.value == 12
    assert len(again.cached_tasks) == 2
    assert run_provenance(again.pk) == run_provenance(wg.pk)


def test_runs_delete_removes_a_context_value_only_the_recipe_names() -> None:
    with WorkGraph("unused_ctx") as wg:
        wg.ctx.unused = 12345  # no task reads it: the recipe's context is all that names it
        add(x=1, y=2)
    wg.run()
    pk = _recipe(wg.pk)["context"]["ns"]["unused"]["node"]
    store = get_current_profile().store
    assert store.load_node(pk).value == 12345
    store.flush()
    delete_run(store.path, store.durability, wg.pk)
    with pytest.raises(NodeNotFoundError):
        store.load_node(pk)


@task
def sum_all(**data: int) -> int:
    return sum(data.values())


def test_a_socket_bound_whole_to_a_kwargs_namespace_loads_whole() -> None:
    # WorkGraph's Map pattern: the gathered output feeds a **kwargs reducer whole. Linked as
    # one `<task>_<socket>` entry instead (add_link's rule), the reducer got {name: dict}.
    with WorkGraph("map_into_kwargs") as wg:
        with Map({"k1": 3, "k2": 4}) as zone:
            zone.gather({"a": add(x=zone.value, y=1).result})
        wg.outputs.result = sum_all(data=zone.outputs.a).result
    wg.run()
    assert _values(wg) == {"result": 9}
    again = _loaded_runs_the_same(wg)
    assert isinstance(again.tasks.sum_all.node.inputs["data"], FutureSocket)
    with WorkGraph("dynamic_into_kwargs") as plain:  # no zone: a dynamic output, whole
        plain.outputs.result = sum_all(data=spread(n=4)).result
    plain.run()
    assert _values(_loaded_runs_the_same(plain)) == {"result": 0 + 1 + 2 + 3}


def test_a_kwargs_namespace_linked_entry_by_entry_loads_entry_by_entry() -> None:
    with WorkGraph("linked_entries") as wg:
        first, second = wg.add_task(add, x=1, y=2), wg.add_task(add, x=3, y=4)
        reducer = wg.add_task(sum_all, name="reduce")
        wg.add_link(first.outputs.result, reducer.inputs.data)
        wg.add_link(second.outputs.result, reducer.inputs.data)
        wg.outputs.result = reducer.outputs.result
    wg.run()
    assert _values(wg) == {"result": 10}
    again = _loaded_runs_the_same(wg)
    assert set(again.tasks["reduce"].node.inputs["data"]) == {"add_result", "add1_result"}
