"""The ``ferroflow`` command line: run the demo, look at stored runs and nodes, draw, view,
export, import and query provenance, explain cache keys and restart runs. The ``runs``
commands (list, show, cancel, delete) are in :mod:`.cli_runs`, helpers they share in
:mod:`.cli_common`.

Plain ``argparse`` and plain-text tables, so the CLI needs nothing beyond the package (SVG/PNG
pictures need the ``graphviz`` package and Graphviz's ``dot``). Every command takes
``--profile NAME`` (before or after the command name). Errors the user can fix (an unknown
pk, a bad format, a file that is not an export) print ``error: …`` and exit with status 1
instead of a traceback.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import cli_executors, cli_logs
from .cache_why import explain_key
from .cli_common import duration as _duration
from .cli_common import load as _load
from .cli_common import load_run as _run
from .cli_common import open_store as _store
from .cli_common import when as _when
from .cli_output import terminal_safe_output
from .cli_runs import add_runs_commands
from .demo import ParallelSquare, ScatterGatherSquare
from .errors import CommandError, FerroflowError
from .export import FORMATS, export_run, import_run
from .export.dot import node_graph, render
from .export.follow import follow_page
from .export.view import run_page
from .model.vocabulary import Kind, State
from .profile import open_profile
from .query import KINDS, find_nodes
from .restart import import_object
from .store.private import replace_privately
from .task import GraphHandle
from .version import __version__
from .views.grouping import PICTURE_MAX_TASKS
from .views.html import MAX_TASKS, page_html
from .views.text_table import text_table
from .workgraph import WorkGraph

__all__ = ["build_parser", "main"]

_GRAPH_FORMATS = ("dot", "svg", "png")
_SUFFIX_FORMATS = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png"}


def _table(rows: list[list[str]], headers: list[str]) -> str:
    return text_table(headers, rows)


# -- demo, node --------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:

    profile = open_profile(args.profile, args.create)
    print(profile)
    data = {f"number_{i}": i for i in range(1, args.n + 1)}
    wg = ParallelSquare.build(data)
    wg.run(max_workers=args.workers)
    print("\nResults:")
    for original_value, result_node in zip(data.values(), wg.outputs.squares, strict=True):
        print(f"{original_value}² = {result_node.value}")
    wg = ScatterGatherSquare.build(args.n)
    wg.run(max_workers=args.workers)
    print("\nAggregated Result:", wg.outputs.result.value)
    expected = sum(i * i for i in range(1, args.n + 1))
    if wg.outputs.result.value != expected:
        print(f"error: expected {expected}", file=sys.stderr)
        return 1
    print(f"\nStored in {profile.store_path} (run pk {wg.pk}); see: ferroflow runs show {wg.pk}")
    return 0


def cmd_node_show(args: argparse.Namespace) -> int:
    node = _load(args.node, args)
    print(f"pk       {node.pk}\nuuid     {node.uuid}\nkind     {node.kind}\ntype     {node.type}")
    print(f"label    {node.label or '-'}\nctime    {_when(node.ctime)}")
    if node.is_data:
        print(f"value    {node.value_summary(200)}")
        if node.base.extras.keys():
            print(f"extras   {node.base.extras.all}")
    else:
        print(f"state    {node.state}\nduration {_duration(node)}")
        for title, text in (("labelled", node.user_label), ("about", node.description)):
            if text:
                print(f"{title:<8} {text}")
        if (executor := node.base.extras.get("executor")) is not None:
            print(f"executor {executor}")
        if node.kind == Kind.CALC and node.cached_from is not None:
            print(
                f"cached   reused the results of pk {node.cached_from} "
                f"(ferroflow cache why {node.pk})"
            )
        if node.error:
            print("error:\n" + node.error)
        if (output := cli_logs.task_output_hint(node.output, node.pk)) is not None:
            print(output)
    for title, links in (("inputs", node.inputs), ("outputs", node.outputs)):
        if links:
            print(f"{title}:")
            for link_type, label, other in links:
                print(f"  {link_type:<11} {label:<28} pk={other.pk} {other.label or other.type}")
    return 0


# -- cache, restart ------------------------------------------------------------------------------
def cmd_cache_why(args: argparse.Namespace) -> int:

    sys.path.insert(0, os.getcwd())  # to compare with the current source of the project's tasks
    node = _load(args.node, args)
    print("\n".join(explain_key(_store(args), node.pk, args.function).lines()))
    return 0


def cmd_restart(args: argparse.Namespace) -> int:

    sys.path.insert(0, os.getcwd())  # as `python -m` does: graphs of the current project import
    profile = open_profile(args.profile, args.create)
    run = _run(args.run, args)
    graph = None
    if args.graph is not None:
        graph = import_object(args.graph)
        if not isinstance(graph, GraphHandle):
            raise CommandError(f"--graph {args.graph}: no @task.graph function by that name")
    wg = WorkGraph.load(run.pk, profile=profile, graph=graph)
    wg.run(max_workers=args.workers, raise_on_error=False)
    states = Counter(t.state for t in wg.all_tasks() if not t.is_graph)
    reused = len(wg.cached_tasks)
    ran = states[State.FINISHED] + states[State.FAILED] - reused
    rest = ", ".join(
        f"{n} {state.lower()}" for state, n in states.items() if state != State.FINISHED
    )
    print(
        f"restarted run {run.pk} as run {wg.pk}: {wg.state}; {reused} of {states.total()} "
        f"task(s) reused stored results, {ran} ran" + (f" ({rest})" if rest else "")
    )
    return 0 if wg.state == State.FINISHED else 1


# -- graph, export, import, query ----------------------------------------------------------------
def _write_output(data: bytes, output: str) -> None:
    if output == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        with replace_privately(output, "wb") as fp:  # 0600, whole: a run's values are in it
            fp.write(data)
        print(f"wrote {output}", file=sys.stderr)


def cmd_graph(args: argparse.Namespace) -> int:

    fmt = args.format
    if fmt is None:
        suffix = Path(args.output).suffix.lower() if args.output not in (None, "-") else ""
        fmt = _SUFFIX_FORMATS.get(suffix, "svg")
    node = _load(args.node, args)
    graph = node_graph(_store(args), node.pk, args.ancestors, args.descendants, args.max_tasks)
    data = graph.source.encode("utf-8") if fmt == "dot" else render(graph, fmt)
    _write_output(data, args.output or f"provenance-{node.pk}.{fmt}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:

    run = _run(args.run, args)
    store = _store(args)
    output = args.output
    if args.format == "ro-crate":
        output = output or f"run-{run.pk}-ro-crate"
        if output == "-":
            raise CommandError("ro-crate writes a directory or a .zip, not standard output")
        counts = export_run(store, run.pk, "ro-crate", output, license=args.license)
        print(
            f"wrote {output}: {counts['CreateAction']} actions, {counts['values']} values "
            f"({counts['files']} as files)",
            file=sys.stderr,
        )
        return 0
    if args.license is not None:
        raise CommandError("--license applies to --format ro-crate only")
    if output in (None, "-"):
        export_run(store, run.pk, args.format, None, max_tasks=args.max_tasks)
    else:
        export_run(store, run.pk, args.format, output, max_tasks=args.max_tasks)
        print(f"wrote {output}", file=sys.stderr)
    return 0


def cmd_view(args: argparse.Namespace) -> int:
    run = _run(args.run, args)
    if args.max_tasks < 0:
        raise CommandError(f"--max-tasks must be at least 0, got {args.max_tasks}")
    output = args.output or f"run-{run.pk}.html"
    if args.follow:
        if output == "-":
            raise CommandError("--follow rewrites a file: give -o PATH, not '-'")
        print(f"following run {run.pk}: rewriting {output} until it ends", file=sys.stderr)
        data = follow_page(_store(args), run.pk, output, max_tasks=args.max_tasks)
        print(f"wrote {output} (run {data['state'].lower()})", file=sys.stderr)
        return 0
    page = page_html(run_page(_store(args), run.pk, max_tasks=args.max_tasks))
    _write_output(page.encode("utf-8"), output)
    return 0


def cmd_import(args: argparse.Namespace) -> int:

    profile = open_profile(args.profile, args.create)
    result = import_run(profile.store, args.file, trust=args.trust)
    print(
        f"imported run pk {result.run_pk} into profile '{profile.name}': {result.created} new "
        f"nodes, {result.skipped} already present, {result.links} new links"
        + (f", {result.code} code digests (restart and caching work here)" if result.code else "")
        + (f", {result.filled} stored nodes completed" if result.filled else "")
    )
    if result.keys_dropped:
        print(
            f"{result.keys_dropped} cache keys left out: the file is not trusted "
            f"(--trust if you want its results reused as cache hits here)"
        )
    if result.untrusted:
        print(
            f"{result.untrusted} pickled value(s) kept untrusted: reading them raises "
            "UntrustedValueError (import with --trust only files you trust)"
        )
    return 0


def cmd_query(args: argparse.Namespace) -> int:

    nodes = find_nodes(
        _store(args),
        task=args.task,
        kind=args.kind,
        state=args.state,
        run=args.run,
        since=args.since,
        until=args.until,
        limit=args.limit,
        newest_first=args.newest_first,
    )
    rows = []
    for node in nodes:
        name = node.label or node.type if node.is_process else node.type
        detail = node.value_summary(40) if node.is_data else _duration(node)
        rows.append([str(node.pk), node.kind, name, node.state or "", _when(node.ctime), detail])
    print(_table(rows, ["pk", "kind", "name", "state", "created", "duration/value"]))
    return 0


# -- parser ----------------------------------------------------------------------------------------
def _boxes(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _max_boxes(command: argparse.ArgumentParser) -> None:
    """``--max-tasks``: the bound of a picture (:mod:`ferroflow.views.grouping`)."""
    command.add_argument(
        "--max-tasks",
        type=_boxes,
        default=PICTURE_MAX_TASKS,
        metavar="N",
        help=f"pictures: draw at most about N task boxes, grouping repeated tasks of one graph "
        f"run (failed tasks and the outputs' tasks always drawn; default {PICTURE_MAX_TASKS})",
    )


def build_parser() -> argparse.ArgumentParser:
    # Each subcommand also accepts --profile; SUPPRESS keeps it from resetting the global one.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--profile", default=argparse.SUPPRESS, help="profile name (default: 'default')"
    )
    common.add_argument("--create", action="store_true", default=argparse.SUPPRESS)
    parser = argparse.ArgumentParser(
        prog="ferroflow", description="Run workflows and inspect their provenance."
    )
    parser.add_argument("--profile", default=None, help="profile name (default: 'default')")
    parser.add_argument("--create", action="store_true", help="make --profile if it is new")
    parser.add_argument("--version", action="version", version=f"ferroflow {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(group: Any, name: str, text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = group.add_parser(
            name, help=text, description=text, parents=[common]
        )
        return parser

    demo = add(sub, "demo", "run the scatter-gather how-to on the profile's store")
    demo.add_argument("-n", type=int, default=4, help="how many numbers to square (default 4)")
    demo.add_argument("--workers", type=int, default=None, help="worker threads")
    demo.set_defaults(func=cmd_demo)

    add_runs_commands(sub, add)  # list, show, cancel, delete: cli_runs.py

    node = add(sub, "node", "show stored nodes")
    node_sub = node.add_subparsers(dest="node_command", required=True, metavar="SUBCOMMAND")
    node_show = add(node_sub, "show", "a node with its value or state and its links")
    node_show.add_argument("node", help="pk or uuid (or a unique uuid prefix)")
    node_show.set_defaults(func=cmd_node_show)

    cli_logs.register(sub, add)
    cli_executors.register(sub, add)  # list, add, remove: cli_executors.py
    cache = add(sub, "cache", "explain cache keys")
    cache_sub = cache.add_subparsers(dest="cache_command", required=True, metavar="SUBCOMMAND")
    cache_why = add(cache_sub, "why", "what went into a task run's cache key")
    cache_why.add_argument("node", help="pk or uuid of a task run")
    cache_why.add_argument(
        "--function",
        metavar="MODULE.NAME",
        help="the task function to compare the recorded code with (needed for an imported "
        "run: its stored name is not imported)",
    )
    cache_why.set_defaults(func=cmd_cache_why)

    restart = add(sub, "restart", "run a failed or interrupted run again, reusing what finished")
    restart.add_argument("run", help="pk or uuid of a top-level graph run")
    restart.add_argument("--workers", type=int, default=None, help="worker threads")
    restart.add_argument(
        "--graph",
        default=None,
        metavar="MODULE.NAME",
        help="the graph function, when the run's own name cannot be imported (a run started "
        "from a script is named __main__.NAME: give the script's module name instead)",
    )
    restart.set_defaults(func=cmd_restart)

    graph = add(sub, "graph", "draw the provenance around a node (DOT, SVG or PNG)")
    graph.add_argument("node", help="pk or uuid of any node")
    graph.add_argument(
        "-a",
        "--ancestors",
        type=int,
        default=None,
        metavar="N",
        help="levels upstream to draw (default: all; 0: none)",
    )
    graph.add_argument(
        "-d",
        "--descendants",
        type=int,
        default=None,
        metavar="N",
        help="levels downstream to draw (default: all; 0: none)",
    )
    graph.add_argument(
        "-f",
        "--format",
        choices=_GRAPH_FORMATS,
        default=None,
        help="output format (default: from the -o suffix, else svg)",
    )
    graph.add_argument(
        "-o",
        "--output",
        default=None,
        help="output file, '-' for stdout (default: provenance-PK.FMT)",
    )
    _max_boxes(graph)
    graph.set_defaults(func=cmd_graph)

    export = add(
        sub, "export", "export a run as JSON, PROV-JSON, RO-Crate, DOT, SVG, Mermaid or AiiDA"
    )
    export.add_argument("run", help="pk or uuid of a top-level graph run")
    export.add_argument("-f", "--format", choices=FORMATS, default="json", help="default: json")
    export.add_argument(
        "-o",
        "--output",
        default=None,
        help="output path ('-' or none: stdout; ro-crate: a directory or a .zip, "
        "default run-PK-ro-crate)",
    )
    export.add_argument("--license", default=None, help="ro-crate: URL of the crate's license")
    _max_boxes(export)
    export.set_defaults(func=cmd_export)

    view = add(sub, "view", "write an interactive HTML page of a run (opens offline)")
    view.add_argument("run", help="pk or uuid of a top-level graph run")
    view.add_argument(
        "-o", "--output", default=None, help="output file, '-' for stdout (default: run-PK.html)"
    )
    view.add_argument(
        "--max-tasks",
        type=int,
        default=MAX_TASKS,
        metavar="N",
        help=f"embed at most N tasks, top levels first (default {MAX_TASKS}); failed tasks "
        "and the tasks that made the outputs are always kept",
    )
    view.add_argument(
        "--follow",
        action="store_true",
        help="while the run goes on, rewrite the page every second (it reloads itself in a "
        "browser); stop once the run has ended",
    )
    view.set_defaults(func=cmd_view)

    imp = add(
        sub, "import", "import a JSON export or AiiDA archive (keeps uuids; pickles stay untrusted)"
    )
    imp.add_argument("file", help="a file of `ferroflow export -f json` or an AiiDA archive")
    imp.add_argument(
        "--trust",
        action="store_true",
        help="trust the file's pickled values (unpickling can run code: only files you trust)",
    )
    imp.set_defaults(func=cmd_import)

    query = add(sub, "query", "find nodes by task, kind, state, run and time")
    query.add_argument("--task", help="task name, label or qualified name (globs: 'sq*')")
    query.add_argument("--kind", choices=tuple(KINDS))
    query.add_argument(
        "--state", help="PLANNED, RUNNING, FINISHED, FAILED, SKIPPED, CANCELLED, KILLED"
    )
    query.add_argument("--run", help="pk or uuid of a top-level run")
    query.add_argument("--since", help="created at or after: ISO time, Unix seconds or 2h, 3d…")
    query.add_argument("--until", help="created before (same forms as --since)")
    query.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    query.add_argument("--newest-first", action="store_true", help="newest nodes first")
    query.set_defaults(func=cmd_query)
    return parser


#: commands that run workflows: their progress display draws with escape sequences
_RUN_COMMANDS = frozenset({"demo", "restart"})


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in _RUN_COMMANDS:
        return _dispatch(args)
    with terminal_safe_output():  # stored text (an imported run's) never drives the terminal
        return _dispatch(args)


def _dispatch(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args))
    except BrokenPipeError:  # `ferroflow export … | head`: the reader left; not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush stays quiet
        return 0
    except (
        FerroflowError,
        ValueError,
        RuntimeError,
        OSError,
        sqlite3.Error,
    ) as exc:
        # every ferroflow error (store, import, command) is a FerroflowError; bad filters are
        # ValueErrors; a missing `dot` is a RuntimeError (OSError covers files that cannot be
        # read or written, FileExistsError included).
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
