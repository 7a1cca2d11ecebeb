"""``ferroflow runs``: list, show, cancel and delete stored top-level runs.

What a scientist needs when a run is big, long or broken: find it (``list`` filtered by state,
age and graph name, with the error that ended it), see where it failed and how to go on
(``show`` prints the restart command), stop it from another shell (``cancel``: the process
running it notices within about a second, see :mod:`ferroflow.engine.cancel_watch`), and get
rid of it (``delete``: one transaction, see :mod:`ferroflow.store.deletion`).
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from typing import Any

from .cli_common import (
    duration,
    error_line,
    load,
    load_run,
    open_store,
    profile_option,
    restart_command,
    when,
)
from .errors import CommandError
from .model.vocabulary import Kind, State
from .query import find_nodes, find_runs, task_counts
from .store import Store, StoredNode
from .store.deletion import delete_run
from .views.counts import counts_text, ordered_counts
from .views.text_table import text_table

__all__ = ["add_runs_commands"]

#: the states after which ``ferroflow restart`` is what to do next
_UNSUCCESSFUL = (State.FAILED, State.CANCELLED, State.KILLED)
_IN_PROGRESS = (State.PLANNED, State.RUNNING)
_ERROR_WIDTH = 60
_GLOB = re.compile(r"[*?\[]")


def _state_with_owner(store: Store, run: StoredNode) -> str:
    """A run's state; for one RUNNING, the process running it (``RUNNING (pid 42)``)."""
    state = run.state or ""
    owner = store.run_owner(run.pk) if state == State.RUNNING else None
    if owner is None:
        return state
    host, pid, alive = owner
    return f"{state} (pid {pid}{'' if alive is not None else ' on ' + host})"


def _run_error(store: Store, run: StoredNode) -> str:
    """What ended an unsuccessful run, in one line: its own error, else that of its first
    failed task run (then its first failed nested graph)."""
    text = error_line(run.error)
    for kind in (Kind.CALC, Kind.WORK):
        if text:
            break
        failed = find_nodes(store, run=run.pk, kind=kind, state=State.FAILED, limit=3)
        text = next((error_line(n.error) for n in failed if n.pk != run.pk and n.error), "")
    if len(text) > _ERROR_WIDTH:
        text = text[: _ERROR_WIDTH - 1] + "…"
    return text


def cmd_runs_list(args: argparse.Namespace) -> int:
    store = open_store(args)
    name = args.name
    if name is not None and not _GLOB.search(name):
        name = f"*{name}*"  # a plain name matches as a substring
    states = [s.strip() for s in args.state.split(",")] if args.state else None
    runs = find_runs(store, label=name, state=states, since=args.since, limit=args.limit)
    rows = []
    for r in runs:
        error = _run_error(store, r) if r.state in _UNSUCCESSFUL else ""
        state = _state_with_owner(store, r)
        rows.append([str(r.pk), r.label or "", state, when(r.ctime), duration(r), error])
    print(text_table(["pk", "graph", "state", "started", "duration", "error"], rows))
    if any(r.state in _UNSUCCESSFUL for r in runs):
        restart = f"ferroflow restart PK{profile_option(args)}"
        print(f"\nrun a failed, cancelled or killed run again, reusing what finished: {restart}")
    return 0


def _tree(node: StoredNode, indent: str, lines: list[str]) -> None:
    kind = "graph" if node.kind == Kind.WORK else "task"
    origin = node.cached_from if kind == "task" else None
    hit = f" (cached from pk {origin})" if origin is not None else ""
    named = f" '{node.user_label}'" if node.user_label else ""
    lines.append(
        f"{indent}{node.label}{named} [{kind} pk={node.pk}] {node.state} {duration(node)}{hit}"
    )
    if node.description:
        lines.append(f"{indent}  {node.description}")
    if node.state in _UNSUCCESSFUL and node.error and node.error.strip():
        lines.append(f"{indent}  ! {node.error.strip().splitlines()[-1]}")
    for child in node.called:
        _tree(child, indent + "  ", lines)


def cmd_runs_show(args: argparse.Namespace) -> int:
    node = load(args.run, args)
    if node.is_data:
        raise CommandError(f"{args.run} is a data node; `ferroflow node show {args.run}`")
    lines: list[str] = []
    _tree(node, "", lines)
    if node.run_pk == node.pk and node.state in _UNSUCCESSFUL:
        lines += ["", f"run it again, reusing what finished: {restart_command(node, args)}"]
    print("\n".join(lines))
    return 0


def cmd_runs_cancel(args: argparse.Namespace) -> int:
    store = open_store(args)  # opening it marks KILLED the runs whose process died
    run = load_run(args.run, args)
    if run.state not in _IN_PROGRESS:
        why = f": {error_line(run.error)}" if run.state == State.KILLED and run.error else ""
        raise CommandError(f"run {run.pk} is not running: it is {run.state}{why}")
    owner = store.run_owner(run.pk)
    by = f" (pid {owner[1]} on {owner[0]})" if owner is not None else ""
    store.request_cancel(run.pk)
    if args.timeout == 0:
        print(f"asked the process running run {run.pk}{by} to cancel it")
        return 0
    deadline = time.monotonic() + args.timeout
    state: str | None = run.state
    while state in _IN_PROGRESS and time.monotonic() < deadline:
        time.sleep(0.1)
        store.reap_dead_runs()  # its process died meanwhile: KILLED, not CANCELLED
        state = store.load_node(run.pk).state
    if state in _IN_PROGRESS:
        raise CommandError(
            f"run {run.pk} is still {state} after {args.timeout:g} s: the request stays, and "
            f"the process running it{by} cancels it when it next reads the store (a ferroflow "
            "too old to read requests never does; stop that process with Ctrl-C or kill)"
        )
    tasks = ordered_counts(task_counts(store, run=run.pk))
    print(f"run {run.pk} {state}: tasks {counts_text(tasks) or 'none'}")
    if state in _UNSUCCESSFUL:
        print(f"finished results are stored; go on with: {restart_command(run, args)}")
    return 0


def cmd_runs_delete(args: argparse.Namespace) -> int:
    store = open_store(args)
    run = load_run(args.run, args)
    store.flush()
    done = delete_run(store.path, store.durability, run.pk, force=args.force)
    print(
        f"deleted run {run.pk} ({run.label}): {done.processes} process node(s), {done.data} "
        f"data node(s), {done.blobs} stored blob(s)"
    )
    if done.kept:
        print(f"kept {done.kept} data node(s) that other runs use too")
    if done.reusers:
        n, pks = sum(done.reusers.values()), ", ".join(map(str, sorted(done.reusers)))
        print(
            f"{n} task run(s) of run(s) {pks} had reused its results: they keep them, "
            f"no longer naming where they came from"
        )
    return 0


AddCommand = Callable[[Any, str, str], argparse.ArgumentParser]


def add_runs_commands(sub: Any, add: AddCommand) -> None:
    """Register ``ferroflow runs …`` on the top-level subparsers ``sub`` (``add`` makes one
    command with the common options, as ``cli.build_parser`` does)."""
    runs = add(sub, "runs", "list, show, cancel and delete stored runs")
    runs_sub = runs.add_subparsers(dest="runs_command", required=True, metavar="SUBCOMMAND")
    runs_list = add(runs_sub, "list", "top-level runs, newest first, with what failed")
    runs_list.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    runs_list.add_argument(
        "--state",
        help="only runs in this state, or these (FAILED,KILLED); any case: "
        "PLANNED, RUNNING, FINISHED, FAILED, CANCELLED, KILLED",
    )
    runs_list.add_argument(
        "--since", metavar="WHEN", help="started at or after: ISO date/time, or an age: 2h, 3d…"
    )
    runs_list.add_argument(
        "--name", help="graph name: a part of it, or a glob ('Scatter*'); case-sensitive"
    )
    runs_list.set_defaults(func=cmd_runs_list)
    runs_show = add(runs_sub, "show", "tree of a run's graphs and tasks, states and durations")
    runs_show.add_argument("run", help="pk or uuid of a graph run")
    runs_show.set_defaults(func=cmd_runs_show)
    cancel = add(runs_sub, "cancel", "stop a run another process is running, as Ctrl-C does")
    cancel.add_argument("run", help="pk or uuid of a running top-level run")
    cancel.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="wait at most this long for it to stop (default 60; 0: do not wait)",
    )
    cancel.set_defaults(func=cmd_runs_cancel)
    delete = add(runs_sub, "delete", "remove a run and the data only it made or used")
    delete.add_argument("run", help="pk or uuid of a top-level run that is not running")
    delete.add_argument(
        "--force",
        action="store_true",
        help="delete it even when other runs use its data or reused its results (those "
        "data nodes are kept)",
    )
    delete.set_defaults(func=cmd_runs_delete)
