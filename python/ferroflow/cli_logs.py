"""``ferroflow logs PK``: what task runs printed and logged (captured by
:mod:`ferroflow.engine.capture`, kept in the store's ``task_output`` table).

For a task run, its captured output as it was written. For a graph run (a whole run, or a graph
task), the output of every task run inside it, in the order they started, each line prefixed
with ``[task path]`` so that ``grep`` finds a task's lines and tells them apart. In a module of
its own so that the command line's main module only registers it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from .errors import CommandError
from .model.vocabulary import Kind
from .profile import open_profile
from .store.schema import CALL_LINKS

__all__ = ["cmd_logs", "register", "task_output_hint"]


def _prefixed(path: str, text: str) -> str:
    prefix = f"[{path}] "
    return "".join(prefix + line for line in text.splitlines(keepends=True)) + (
        "" if text.endswith("\n") else "\n"
    )


def cmd_logs(args: argparse.Namespace) -> int:
    store = open_profile(args.profile, args.create).store
    key: int | str = int(args.node) if args.node.isdigit() else args.node
    node = store.load_node(key)
    if node.kind == Kind.DATA:
        raise CommandError(f"{args.node} is a data node: only task runs have output")
    if node.kind == Kind.CALC:
        text = node.output
        if text is None:
            print(f"(task run {node.pk} printed and logged nothing that was captured)")
        else:
            print(text, end="" if text.endswith("\n") else "\n")
        return 0
    run_pk = node.run_pk if node.run_pk is not None else node.pk
    outputs = store.task_outputs(run_pk)
    if node.pk != run_pk:  # a graph task: the task runs under it
        inside = {n.pk for n in node.descendants(CALL_LINKS)}
        outputs = [o for o in outputs if o.pk in inside]
    if not outputs:
        print(f"(no task of {node.label or node.pk} printed or logged anything captured)")
        return 0
    for output in outputs:
        print(_prefixed(output.path, output.text), end="")
    return 0


def task_output_hint(text: str | None, pk: int, lines: int = 10) -> str | None:
    """The end of a task run's captured output for ``ferroflow node show``, with a hint to
    ``ferroflow logs`` when there is more; None when nothing was captured."""
    if text is None:
        return None
    kept = text.splitlines()
    if len(kept) <= lines:
        return "output:\n" + "".join(f"  {line}\n" for line in kept).rstrip("\n")
    shown = "".join(f"  {line}\n" for line in kept[-lines:]).rstrip("\n")
    return f"output (last {lines} of {len(kept)} lines; all of it: ferroflow logs {pk}):\n{shown}"


def register(sub: Any, add: Callable[[Any, str, str], argparse.ArgumentParser]) -> None:
    """Add ``logs`` to the command line's subcommands (``add`` makes one with the common
    options)."""
    logs = add(sub, "logs", "what task runs printed and logged (a task run, or a whole run)")
    logs.add_argument("node", help="pk or uuid of a task run, a graph task or a run")
    logs.set_defaults(func=cmd_logs)
