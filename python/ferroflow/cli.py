"""The ``ferroflow`` command line: run the demo and look at stored runs and nodes.

Plain ``argparse`` and plain-text tables, so the CLI needs nothing beyond the package.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from .profile import load_profile
from .store import NodeNotFoundError, StoredNode

__all__ = ["main"]


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _duration(node: StoredNode) -> str:
    if node.ctime is None or node.mtime is None:
        return "-"
    seconds = node.mtime - node.ctime
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*headers).rstrip(), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r).rstrip() for r in rows]
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import ParallelSquare, ScatterGatherSquare

    profile = load_profile(args.profile)
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


def cmd_runs_list(args: argparse.Namespace) -> int:
    store = load_profile(args.profile).store
    runs = store.runs()[: args.limit]
    rows = [[str(r.pk), r.label or "", r.state or "", _when(r.ctime), _duration(r)] for r in runs]
    print(_table(rows, ["pk", "graph", "state", "started", "duration"]))
    return 0


def _tree(node: StoredNode, indent: str, lines: list[str]) -> None:
    kind = "graph" if node.kind == "work" else "task"
    lines.append(f"{indent}{node.label} [{kind} pk={node.pk}] {node.state} {_duration(node)}")
    for child in node.called:
        _tree(child, indent + "  ", lines)


def _load(store_pk: str, args: argparse.Namespace) -> StoredNode | None:
    store = load_profile(args.profile).store
    key: int | str = int(store_pk) if store_pk.isdigit() else store_pk
    try:
        return store.load_node(key)
    except NodeNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def cmd_runs_show(args: argparse.Namespace) -> int:
    node = _load(args.run, args)
    if node is None:
        return 1
    lines: list[str] = []
    _tree(node, "", lines)
    print("\n".join(lines))
    return 0


def cmd_node_show(args: argparse.Namespace) -> int:
    node = _load(args.node, args)
    if node is None:
        return 1
    print(f"pk       {node.pk}\nuuid     {node.uuid}\nkind     {node.kind}\ntype     {node.type}")
    print(f"label    {node.label or '-'}\nctime    {_when(node.ctime)}")
    if node.is_data:
        print(f"value    {node.value_summary(200)}")
    else:
        print(f"state    {node.state}\nduration {_duration(node)}")
        if node.error:
            print("error:\n" + node.error)
    for title, links in (("inputs", node.inputs), ("outputs", node.outputs)):
        if links:
            print(f"{title}:")
            for link_type, label, other in links:
                print(f"  {link_type:<11} {label:<28} pk={other.pk} {other.label or other.type}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ferroflow", description="Run workflows and inspect their provenance."
    )
    parser.add_argument("--profile", default=None, help="profile name (default: 'default')")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the scatter-gather how-to on the default store")
    demo.add_argument("-n", type=int, default=4, help="how many numbers to square (default 4)")
    demo.add_argument("--workers", type=int, default=None, help="worker threads")
    demo.set_defaults(func=cmd_demo)

    runs = sub.add_parser("runs", help="list and show stored runs")
    runs_sub = runs.add_subparsers(dest="runs_command", required=True)
    runs_list = runs_sub.add_parser("list", help="top-level runs, newest first")
    runs_list.add_argument("--limit", type=int, default=20)
    runs_list.set_defaults(func=cmd_runs_list)
    runs_show = runs_sub.add_parser("show", help="tree of a run's graphs and tasks")
    runs_show.add_argument("run", help="pk or uuid of a graph run")
    runs_show.set_defaults(func=cmd_runs_show)

    node = sub.add_parser("node", help="show stored nodes")
    node_sub = node.add_subparsers(dest="node_command", required=True)
    node_show = node_sub.add_parser("show", help="a node with its links")
    node_show.add_argument("node", help="pk or uuid")
    node_show.set_defaults(func=cmd_node_show)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
