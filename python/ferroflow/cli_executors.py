"""``ferroflow executors list/add/remove``: the executors a profile declares by name, for
``@task(executor="name")``, ``run(executor="name")`` and the profile's default (``--default``).

Each is an executor string kept in ``profile.json`` (:mod:`ferroflow.profile`): ``local`` (the
worker threads), ``processes`` (a pool of local worker processes; ``--processes N``) or a Dask
scheduler address (``--chunk-size N``). Its own module so that the command line's main module
stays a list of commands.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from .errors import CommandError
from .profile import open_profile

__all__ = ["register"]


def _spec(args: argparse.Namespace) -> str:
    """The executor string of ``add``: the given one, with the options as its query."""
    options = [
        (key, value)
        for key, value in (("processes", args.processes), ("chunk_size", args.chunk_size))
        if value is not None
    ]
    if not options:
        return str(args.spec)
    joiner = "&" if "?" in args.spec else "?"
    return f"{args.spec}{joiner}" + "&".join(f"{key}={value}" for key, value in options)


def cmd_list(args: argparse.Namespace) -> int:
    profile = open_profile(args.profile, args.create)
    default = profile.executor or "local"
    named = profile.executors
    width = max([len(name) for name in named] + [len("local")])
    for name, spec in sorted(named.items()):
        mark = "  (default)" if name == default else ""
        print(f"{name:<{width}}  {spec}{mark}")
    if default not in named:
        print(f"default: {default}")
    if not named:
        print("(no named executors; add one with: ferroflow executors add NAME SPEC)")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    profile = open_profile(args.profile, args.create)
    spec = _spec(args)
    profile.add_executor(args.name, spec)
    if args.default:
        profile.configure(executor=args.name)
    print(f"executor '{args.name}': {spec}{' (the default)' if args.default else ''}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    profile = open_profile(args.profile, args.create)
    try:
        profile.remove_executor(args.name)
    except KeyError:
        known = ", ".join(sorted(profile.executors)) or "none"
        raise CommandError(f"no executor named '{args.name}' (the profile's: {known})") from None
    print(f"removed executor '{args.name}'")
    return 0


def register(sub: Any, add: Callable[[Any, str, str], argparse.ArgumentParser]) -> None:
    """Add ``executors`` to the command line's subcommands (``add`` makes one with the common
    options)."""
    executors = add(sub, "executors", "the profile's named executors (where tasks run)")
    group = executors.add_subparsers(dest="executors_command", required=True, metavar="SUBCOMMAND")
    listing = add(group, "list", "the named executors and the default")
    listing.set_defaults(func=cmd_list)
    adding = add(group, "add", "declare (or replace) a named executor")
    adding.add_argument("name", help="its name, for @task(executor=NAME) and run(executor=NAME)")
    adding.add_argument(
        "spec", help="'local', 'processes' or a Dask scheduler address (tcp://host:8786)"
    )
    adding.add_argument("--processes", type=int, help="worker processes of a 'processes' pool")
    adding.add_argument("--chunk-size", type=int, help="calls per Dask task (Dask only)")
    adding.add_argument(
        "--default", action="store_true", help="also make it the profile's default executor"
    )
    adding.set_defaults(func=cmd_add)
    removing = add(group, "remove", "forget a named executor")
    removing.add_argument("name")
    removing.set_defaults(func=cmd_remove)
