"""What every module of the ``ferroflow`` command line shares: opening the profile's store,
looking up the node or run a command names, and showing times, durations and errors.

Its own module so that command groups can live in modules of their own (``cli_runs``) below
``cli``, which only wires them into the parser.
"""

from __future__ import annotations

import argparse
import time

from .errors import CommandError
from .model.vocabulary import Kind
from .profile import open_profile
from .store import Store, StoredNode

__all__ = [
    "duration",
    "error_line",
    "load",
    "load_run",
    "open_store",
    "profile_option",
    "restart_command",
    "when",
]


def when(ts: float | None) -> str:
    """A stored time as local ``YYYY-MM-DD HH:MM:SS`` (``-`` when unset)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def duration(node: StoredNode) -> str:
    """How long a process ran, in a unit that fits (``-`` while it has no end time)."""
    if node.ctime is None or node.mtime is None:
        return "-"
    seconds = node.mtime - node.ctime
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def error_line(error: str | None) -> str:
    """The line of a stored error that says what went wrong: a traceback's last line (the
    exception), else the first line."""
    lines = [line.strip() for line in (error or "").strip().splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1] if lines[0].startswith("Traceback (most recent call last)") else lines[0]


def open_store(args: argparse.Namespace) -> Store:
    """The store of the profile the command line names (opening it marks runs whose
    process died KILLED)."""
    return open_profile(args.profile, args.create).store


def load(key_text: str, args: argparse.Namespace) -> StoredNode:
    """The node a pk, uuid or unique uuid prefix on the command line names."""
    key: int | str = int(key_text) if key_text.isdigit() else key_text
    return open_store(args).load_node(key)


def load_run(key_text: str, args: argparse.Namespace) -> StoredNode:
    """Like :func:`load`, refusing anything but a top-level graph run."""
    node = load(key_text, args)
    if node.kind != Kind.WORK or node.run_pk != node.pk:
        hint = f" (it belongs to run {node.run_pk})" if node.run_pk is not None else ""
        raise CommandError(f"{key_text} is a {node.kind} node, not a top-level run{hint}")
    return node


def profile_option(args: argparse.Namespace) -> str:
    """`` --profile NAME`` when the command line named one, for commands it suggests."""
    return f" --profile {args.profile}" if args.profile else ""


def restart_command(run: StoredNode, args: argparse.Namespace) -> str:
    """The command that runs ``run`` again reusing its finished results, with the profile
    named as this command line named it, and ``--graph`` for a run started from a script
    (stored as ``__main__.NAME``, which no later process can import) or imported from a file
    (whose names are never imported unless the user names them)."""
    text = f"ferroflow restart {run.pk}{profile_option(args)}"
    if run.type.startswith("__main__."):
        name = run.type.removeprefix("__main__.")
        text += f" --graph MODULE.{name}  (MODULE: the module name of the script that ran it)"
    elif open_store(args).imported(run.pk):
        text += f" --graph {run.type}  (an imported run: check that this is the graph to run)"
    return text
