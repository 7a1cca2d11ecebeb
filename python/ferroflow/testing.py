"""Hypothesis strategies for random workflows, and the plain sequential reference that runs them.

``ferroflow.testing`` is for property-based tests of ferroflow itself and of code built on it
(in the spirit of ``polars.testing.parametric``). It needs `hypothesis
<https://hypothesis.readthedocs.io>`_, which ferroflow does not depend on: install it with the
``test`` extra. Nothing else in the package imports this module.

A workflow is described as data, independently of any engine:

* a :class:`DagSpec` is a list of :class:`NodeSpec` in topological order. A node's ``inputs``
  refer to earlier nodes by index (``0, 1, …``) or to the DAG's parameters by negative number
  (``-1`` is parameter 0, ``-2`` parameter 1, …). Edges therefore always point from a lower to a
  higher index, so every spec is acyclic by construction.
* node kinds: ``"add"`` (sum of the inputs plus ``const``), ``"identity"`` (its single input),
  ``"raise"`` (fails) and ``"graph"`` (a nested graph task: ``body`` is a :class:`DagSpec` whose
  parameters are the node's inputs followed by its ``captures``, and the node's value is the
  body's ``output``).
* ``captures`` are earlier nodes of the enclosing DAG that a graph node does *not* take as
  inputs: its body wires their future outputs straight into its own tasks (a closure over the
  parent's sockets). The graph task therefore does not wait for them, and may expand while they
  are still running; only the body's tasks that use them wait.
* every node has a *tag*, a string unique in the whole workflow: ``"n.3"`` for node 3 of the top
  level, ``"n.3.1"`` for node 1 of the body of graph node ``"n.3"``. Tags are how a test matches
  the engine's tasks with the reference's (pass the tag to each task as an input).

:func:`workflows` draws a :class:`Workflow` (a top-level spec plus concrete parameter values);
:func:`evaluate` runs one in a plain sequential loop and returns a :class:`Reference` with every
task's expected state (``FINISHED``, ``FAILED`` or ``SKIPPED``) and value; :func:`inline` flattens
the graph nodes of a spec into their parent, for comparing dynamic with static expansion.
:func:`zone_programs` and :func:`evaluate_program` do the same for control-flow zones
(:mod:`ferroflow.testing_zones`).

The failure semantics are ferroflow's: a task whose data input did not finish is ``SKIPPED``
(and a skipped graph task never expands, so its body's tasks do not exist); a graph task whose
body holds a task that did not finish, or whose output comes from a captured task that did not
finish, is ``FAILED``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "ferroflow.testing needs hypothesis: pip install 'ferroflow[test]' (or hypothesis)"
    ) from exc

from .testing_zones import Program, evaluate_program, zone_programs

__all__ = [
    "ROOT_TAG",
    "DagSpec",
    "NodeSpec",
    "Program",
    "RefTask",
    "Reference",
    "Workflow",
    "dag_specs",
    "evaluate",
    "evaluate_program",
    "inline",
    "workflows",
    "zone_programs",
]

Kind = Literal["add", "identity", "raise", "graph"]

#: Tag prefix of the top-level DAG (its nodes are ``"n.0"``, ``"n.1"``, …).
ROOT_TAG = "n"

#: Default node budget per nesting depth (depth 1 is a graph node's body, and so on).
_BODY_SIZES = {1: 8, 2: 5, 3: 3}


@dataclass(frozen=True)
class NodeSpec:
    """One node of a :class:`DagSpec` (see the module docstring for the meaning of fields)."""

    kind: Kind
    inputs: tuple[int, ...] = ()
    const: int = 0
    body: DagSpec | None = None
    captures: tuple[int, ...] = ()
    #: suffix of the node's tag; ``None`` means its index (set by :func:`inline`)
    label: str | None = None

    def __post_init__(self) -> None:
        if (self.kind == "graph") != (self.body is not None):
            raise ValueError("a graph node needs a body, and only a graph node has one")
        if self.body is not None and self.body.n_params != len(self.inputs) + len(self.captures):
            raise ValueError(
                f"graph node body takes {self.body.n_params} parameters, node has "
                f"{len(self.inputs)} inputs and {len(self.captures)} captures"
            )
        if self.captures and self.kind != "graph":
            raise ValueError("only a graph node captures")
        if self.kind == "identity" and len(self.inputs) != 1:
            raise ValueError("an identity node has exactly one input")


@dataclass(frozen=True)
class DagSpec:
    """A DAG of nodes with ``n_params`` parameters; ``output`` is the reference it returns."""

    n_params: int
    nodes: tuple[NodeSpec, ...]
    output: int

    def __post_init__(self) -> None:
        for i, node in enumerate(self.nodes):
            for ref in node.inputs:
                if not -self.n_params <= ref < i:
                    raise ValueError(f"node {i} refers to {ref}, outside -{self.n_params}..{i - 1}")
            if any(not 0 <= ref < i for ref in node.captures):
                raise ValueError(f"node {i} captures {node.captures}: not earlier nodes")
        if not -self.n_params <= self.output < len(self.nodes):
            raise ValueError(f"output {self.output} refers to nothing")

    def tag(self, prefix: str, index: int) -> str:
        label = self.nodes[index].label
        return f"{prefix}.{index if label is None else label}"

    def walk(self, prefix: str = ROOT_TAG) -> Iterator[tuple[str, NodeSpec]]:
        """Every node of the spec, nested bodies included, with its tag (parents first)."""
        for i, node in enumerate(self.nodes):
            tag = self.tag(prefix, i)
            yield tag, node
            if node.body is not None:
                yield from node.body.walk(tag)

    @property
    def size(self) -> int:
        """Number of nodes, nested bodies included (an upper bound on a run's tasks)."""
        return sum(1 for _ in self.walk())

    @property
    def has_raise(self) -> bool:
        return any(node.kind == "raise" for _, node in self.walk())

    @property
    def has_graph(self) -> bool:
        return any(node.kind == "graph" for node in self.nodes)


@dataclass(frozen=True)
class Workflow:
    """A top-level :class:`DagSpec` and the values of its parameters."""

    dag: DagSpec
    params: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.params) != self.dag.n_params:
            raise ValueError(f"{self.dag.n_params} parameters, {len(self.params)} values")


# ---------------------------------------------------------------------------------------------
# Strategies


@dataclass
class _Budget:
    left: int


def _dag(
    draw: Any,
    *,
    n_params: int,
    min_nodes: int,
    max_nodes: int,
    depth: int,
    max_depth: int,
    max_fan_in: int,
    max_width: int,
    budget: _Budget,
) -> DagSpec:
    target = draw(st.integers(min_nodes, max(min_nodes, min(max_nodes, budget.left))))
    budget.left -= target
    nodes: list[NodeSpec] = []
    consts = st.integers(-9, 9)
    while len(nodes) < target:
        refs = [*range(len(nodes)), *range(-n_params, 0)]
        room = target - len(nodes)
        if room >= 3 and max_width >= 2 and draw(st.integers(0, 7)) == 0:
            # A wide layer: k independent tasks (sharing at most one source) and their gather.
            k = draw(st.integers(2, min(max_width, room - 1)))
            source = draw(st.sampled_from([None, *refs]))
            start = len(nodes)
            scatter = () if source is None else (source,)
            nodes.extend(NodeSpec("add", scatter, draw(consts)) for _ in range(k))
            nodes.append(NodeSpec("add", tuple(range(start, start + k)), draw(consts)))
            continue
        fan_in = draw(st.integers(0, min(max_fan_in, len(refs))))
        inputs = tuple(
            draw(st.lists(st.sampled_from(refs), min_size=fan_in, max_size=fan_in, unique=True))
            if fan_in
            else ()
        )
        kinds: list[Kind] = ["add", "add", "add"]
        if fan_in == 1:
            kinds.append("identity")
        if depth < max_depth and budget.left > 0:
            kinds.append("graph")
        kind = draw(st.sampled_from(kinds))
        if kind == "graph":
            others = [r for r in range(len(nodes)) if r not in inputs]
            n_captures = draw(st.integers(0, min(2, len(others))))
            captures = tuple(
                draw(
                    st.lists(
                        st.sampled_from(others),
                        min_size=n_captures,
                        max_size=n_captures,
                        unique=True,
                    )
                )
                if n_captures
                else ()
            )
            n_body = fan_in + n_captures
            body = _dag(
                draw,
                n_params=n_body,
                # a body without nodes is allowed when it can return one of its parameters
                min_nodes=0 if n_body else 1,
                max_nodes=_BODY_SIZES.get(depth + 1, 3),
                depth=depth + 1,
                max_depth=max_depth,
                max_fan_in=max_fan_in,
                max_width=min(max_width, 4),
                budget=budget,
            )
            nodes.append(NodeSpec("graph", inputs, body=body, captures=captures))
        else:
            nodes.append(NodeSpec(kind, inputs, draw(consts)))
    if depth == 0 or not nodes:
        choices = [*range(len(nodes)), *range(-n_params, 0)]
        return DagSpec(n_params, tuple(nodes), draw(st.sampled_from(choices)))
    # A body returns one of its tasks' results, one of its parameters, or a sum of results.
    how = draw(st.sampled_from(["task", "task", "param", "sum"]))
    if how == "param" and n_params:
        return DagSpec(n_params, tuple(nodes), draw(st.integers(-n_params, -1)))
    if how == "sum" and len(nodes) >= 2:
        summed = draw(st.lists(st.integers(0, len(nodes) - 1), min_size=2, max_size=4, unique=True))
        nodes.append(NodeSpec("add", tuple(sorted(summed))))
        return DagSpec(n_params, tuple(nodes), len(nodes) - 1)
    return DagSpec(n_params, tuple(nodes), draw(st.integers(0, len(nodes) - 1)))


def _replace_at(dag: DagSpec, path: tuple[int, ...], kind: Kind) -> DagSpec:
    nodes = list(dag.nodes)
    head, rest = path[0], path[1:]
    node = nodes[head]
    if rest:
        assert node.body is not None
        nodes[head] = dataclasses.replace(node, body=_replace_at(node.body, rest, kind))
    else:
        nodes[head] = dataclasses.replace(node, kind=kind, body=None, captures=())
    return dataclasses.replace(dag, nodes=tuple(nodes))


def _leaf_paths(dag: DagSpec, prefix: tuple[int, ...] = ()) -> Iterator[tuple[int, ...]]:
    for i, node in enumerate(dag.nodes):
        if node.body is None:
            yield (*prefix, i)
        else:
            yield from _leaf_paths(node.body, (*prefix, i))


@st.composite
def dag_specs(
    draw: Any,
    *,
    n_params: int = 0,
    min_nodes: int = 1,
    max_nodes: int = 60,
    max_depth: int = 3,
    max_fan_in: int = 4,
    max_width: int = 16,
    max_total: int = 150,
    raising: bool | None = None,
) -> DagSpec:
    """Random DAG specs (see the module docstring).

    ``max_nodes`` bounds the top level, ``max_depth`` the nesting of graph nodes (0: none),
    ``max_fan_in`` the inputs of an ordinary node (a gather after a wide layer of up to
    ``max_width`` tasks has more), ``max_total`` the nodes of all levels together. ``raising``:
    ``True`` puts exactly one ``"raise"`` node somewhere (nested bodies included), ``False``
    none, ``None`` lets hypothesis choose.
    """
    dag = _dag(
        draw,
        n_params=n_params,
        min_nodes=min_nodes,
        max_nodes=max_nodes,
        depth=0,
        max_depth=max_depth,
        max_fan_in=max_fan_in,
        max_width=max_width,
        budget=_Budget(max(max_total, min_nodes)),
    )
    if raising is None:
        raising = draw(st.booleans())
    if raising:
        # a node that is not a graph node; failing that (every body is empty), a graph node
        leaves = list(_leaf_paths(dag)) or [(i,) for i in range(len(dag.nodes))]
        where = draw(st.sampled_from(leaves))
        dag = _replace_at(dag, where, "raise")
    return dag


@st.composite
def workflows(
    draw: Any,
    /,
    *,
    max_params: int = 3,
    **dag_options: Any,
) -> Workflow:
    """Random :class:`Workflow`: up to ``max_params`` integer parameters and a
    :func:`dag_specs` DAG over them (keyword arguments are passed on to :func:`dag_specs`)."""
    n_params = draw(st.integers(0, max_params))
    dag = draw(dag_specs(n_params=n_params, **dag_options))
    params = tuple(draw(st.lists(st.integers(-100, 100), min_size=n_params, max_size=n_params)))
    return Workflow(dag, params)


# ---------------------------------------------------------------------------------------------
# The reference


@dataclass
class RefTask:
    """Expected outcome of one task: state, value (``None`` unless finished), the tags of the
    tasks its data comes from (parameters of graph bodies followed up to their producers), the
    tag of the graph task whose body created it (``None`` at the top level) and, for a graph
    task, the tag of the task whose output it returns (if any)."""

    tag: str
    kind: Kind
    state: str
    value: int | None
    producers: tuple[str, ...]
    parent: str | None
    returns: tuple[str, ...] = ()


@dataclass
class Reference:
    """What a correct engine produces for a :class:`Workflow` (see :func:`evaluate`)."""

    tasks: dict[str, RefTask] = field(default_factory=dict)
    #: state and value of the top-level output (``FINISHED`` with a value, or not)
    output_state: str = "FINISHED"
    output: int | None = None

    def tags(self, state: str | None = None) -> set[str]:
        return {t for t, r in self.tasks.items() if state is None or r.state == state}

    @property
    def failed_leaves(self) -> set[str]:
        """Failed tasks that are not graph tasks: the root causes."""
        return {t for t, r in self.tasks.items() if r.state == "FAILED" and r.kind != "graph"}


_Value = tuple[str, "int | None", tuple[str, ...]]  # state, value, producing tags


def _evaluate(
    dag: DagSpec, params: list[_Value], prefix: str, parent: str | None, out: Reference
) -> _Value:
    values: list[_Value] = []
    for i, node in enumerate(dag.nodes):
        tag = dag.tag(prefix, i)
        ins = [params[-ref - 1] if ref < 0 else values[ref] for ref in node.inputs]
        captured = [values[ref] for ref in node.captures]
        producers = tuple(dict.fromkeys(p for _, _, origin in ins for p in origin))
        value: int | None = None
        returns: tuple[str, ...] = ()
        if any(state != "FINISHED" for state, _, _ in ins):
            state = "SKIPPED"
        elif node.kind == "add":
            state, value = "FINISHED", sum(v for _, v, _ in ins if v is not None) + node.const
        elif node.kind == "identity":
            state, value = "FINISHED", ins[0][1]
        elif node.kind == "raise":
            state = "FAILED"
        else:
            assert node.body is not None
            out.tasks[tag] = RefTask(tag, node.kind, "RUNNING", None, producers, parent)
            result, value, returns = _evaluate(node.body, ins + captured, tag, tag, out)
            children = [r for r in out.tasks.values() if r.parent == tag]
            ok = result == "FINISHED" and all(r.state == "FINISHED" for r in children)
            state = "FINISHED" if ok else "FAILED"
            if not ok:
                value = None
        out.tasks[tag] = RefTask(tag, node.kind, state, value, producers, parent, returns)
        values.append((state, value, (tag,)))
    if dag.output < 0:
        return params[-dag.output - 1]
    return values[dag.output]


def evaluate(workflow: Workflow) -> Reference:
    """Run ``workflow`` in a plain sequential topological loop (no engine involved)."""
    out = Reference()
    params: list[_Value] = [("FINISHED", p, ()) for p in workflow.params]
    state, value, _ = _evaluate(workflow.dag, params, ROOT_TAG, None, out)
    out.output_state, out.output = state, value
    return out


def inline(dag: DagSpec, prefix: str = "") -> DagSpec:
    """The same computation with every graph node's body spliced into its parent.

    Spliced nodes keep their tags (``label`` holds the path below the top level, e.g.
    ``"3.1"``), so a run of the inlined spec can be compared task by task with a run of the
    nested one. The graph nodes themselves disappear: their consumers read the body's output.
    """
    nodes: list[NodeSpec] = []

    def splice(spec: DagSpec, params: list[int], path: str) -> int:
        local: list[int] = []  # index in ``spec`` -> index in ``nodes`` (or a parameter)
        for i, node in enumerate(spec.nodes):
            label = f"{path}{i if node.label is None else node.label}"
            mapped = tuple(params[-r - 1] if r < 0 else local[r] for r in node.inputs)
            if node.body is not None:
                body_params = [*mapped, *(local[r] for r in node.captures)]
                local.append(splice(node.body, body_params, f"{label}."))
            else:
                nodes.append(dataclasses.replace(node, inputs=mapped, label=label))
                local.append(len(nodes) - 1)
        return params[-spec.output - 1] if spec.output < 0 else local[spec.output]

    params = list(range(-1, -dag.n_params - 1, -1))
    output = splice(dag, params, prefix)
    return DagSpec(dag.n_params, tuple(nodes), output)
