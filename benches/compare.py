"""ferroflow side by side with the tools users would pick instead, on this machine, in one command.

    python benches/compare.py                      # everything (about 10 min on 2 cores)
    python benches/compare.py --quick              # tiny n, seconds: does every engine run?
    python benches/compare.py --workloads scatter howto --max-n 100000 --peers loop dask-threads
    python benches/compare.py --setup-aiida        # once: aiida-workgraph into benches/.venv-aiida
    python benches/compare.py --setup-parsl --setup-jobflow --setup-prefect   # once each

Runs the same workloads (``workloads.py``: no-op scatter and chain, the how-to's scatter-gather,
1 ms sleeps, 256×256 matmuls, a 3-level nested graph with dynamic fan-out) through ferroflow
(default settings, provenance on, and again with ``provenance=False``) and its peers: a plain
loop, ``ThreadPoolExecutor``, Dask's threaded scheduler, Dask distributed (in-process
``LocalCluster``), AiiDA WorkGraph (its own virtualenv, a throw-away ``verdi presto``
profile), and the science workflow tools Parsl (ThreadPoolExecutor and local
HighThroughputExecutor), jobflow (``run_locally``, in-memory store) and Prefect 3 (tasks in a
flow, ephemeral local server), each in its own virtualenv (``compare_peers.py``; these three run
scatter, chain, howto and nested). ``compare_engines.py``, ``compare_workgraph_child.py`` and
``compare_parsl.py``/``compare_jobflow.py``/``compare_prefect.py`` say exactly what each peer runs.

Every (engine, workload, n) runs in a fresh process: its timing starts warm (pools started, one
small warm-up run) and its peak RSS is its own. Every pool gets the same number of workers
(``--workers``, default one per core: ferroflow's default), and BLAS is held to one thread
per process, so parallelism comes from the engines. Per-task cost = best wall time of build +
run ÷ n. Prints one table per workload (``compare_report.py``) and writes ``compare.png``,
``compare.svg`` and ``compare.json`` into ``--out``. A peer that is not installed, skipped by its
cap on n, or failed says so in its cells; none is dropped.

Speed is reported here, never asserted in tests (``tests/test_compare.py`` checks the output's
shape on tiny n).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import compare_peers
from compare_child import MARKER
from compare_report import Cell, fmt_count, plot, table
from compare_workgraph import DEFAULT_VENV, describe, profile_env, setup_venv

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

WORKLOADS: dict[str, str] = {
    "scatter": "no-op scatter: n independent no-op tasks",
    "chain": "no-op chain: n no-op tasks, each taking the previous one's result",
    "howto": "the how-to's scatter-gather: generate n numbers, square each in a task, sum "
    "(n + 2 tasks and a graph task; cost ÷ n)",
    "sleep": "1 ms time.sleep bodies: n independent tasks (floor: 1000 µs ÷ workers)",
    "numpy": "256×256 matmul bodies (BLAS releases the GIL): n independent tasks",
    "nested": "nested graph, 3 levels, fan-out k = ∛n known only at run time: n = k³ no-op "
    "leaves (+ k² + k + 1 graph tasks; cost ÷ n)",
}
SIZES: dict[str, list[int]] = {
    "scatter": [1_000, 10_000, 100_000, 1_000_000],
    "chain": [1_000, 10_000, 100_000],
    "howto": [4, 20, 50, 1_000, 10_000, 100_000],
    "sleep": [100, 1_000, 10_000],
    "numpy": [100, 1_000, 10_000],
    "nested": [8, 27, 1_000, 10_648, 97_336, 1_000_000],
}
QUICK_SIZES: dict[str, list[int]] = {
    "scatter": [100, 1_000],
    "chain": [100, 1_000],
    "howto": [4, 20],
    "sleep": [10, 50],
    "numpy": [10, 50],
    "nested": [8, 27],
}

PEERS = (
    "loop",
    "threads",
    "dask-threads",
    "dask-distributed",
    "workgraph",
    "parsl-threads",
    "parsl-htex",
    "jobflow",
    "prefect",
)
FERROFLOW_ROWS = ("ferroflow", "ferroflow-noprov")
#: What each row runs (printed above the tables).
LEGEND = {
    "ferroflow": "graph.build(n).run(), default settings: provenance on, fresh SQLite store",
    "ferroflow-noprov": "the same with run(provenance=False)",
    "loop": "a plain Python loop calling the same bodies (no engine; its RSS is the baseline "
    "of a child that imports the workloads)",
    "threads": "concurrent.futures.ThreadPoolExecutor(workers): submit + result",
    "dask-threads": "Dask's threaded scheduler, dask.threaded.get on the task dict "
    "(built inside the timing)",
    "dask-distributed": "distributed LocalCluster(processes=False): scheduler and 1 worker "
    "with `workers` threads in the same process; client.map/submit + gather",
    "workgraph": "AiiDA WorkGraph wg.run() in-process on a fresh `verdi presto --no-broker` "
    "SQLite profile",
    "parsl-threads": "Parsl python apps on its ThreadPoolExecutor(max_threads=workers); "
    "join_app for dynamic fan-out",
    "parsl-htex": "Parsl python apps on a local HighThroughputExecutor (interchange + a pool of "
    "`workers` worker processes, ZeroMQ on 127.0.0.1); join_app for dynamic fan-out",
    "jobflow": "jobflow run_locally(flow, store=JobStore(MemoryStore())): jobs run one after "
    "another (no pool); Response(replace=Flow) for dynamic fan-out",
    "prefect": "Prefect 3 @task.submit/map inside a @flow, ThreadPoolTaskRunner(workers), "
    "ephemeral local API server on a fresh PREFECT_HOME",
}
#: Largest n run per peer in a full run, so that it stays under ~25 min on 2 cores; bigger n
#: print "skipped: n > cap" (``--cap ENGINE=N`` changes one). Measured here: Dask's threaded
#: get ~40-60 µs/task (1M would take ~1 min per workload), Dask distributed ~2-5 ms/task (10k
#: takes 20-60 s), WorkGraph 0.5-1 s/task and growing (50 takes ~50 s).
#: Parsl threads ~0.1 ms/task, Parsl HTEX and jobflow ~1 ms, Prefect ~10 ms (all growing).
CAPS: dict[str, int] = {
    "dask-threads": 100_000,
    "dask-distributed": 10_000,
    "workgraph": 50,
    "parsl-threads": 100_000,
    "parsl-htex": 10_000,
    "jobflow": 1_000,
    "prefect": 1_000,
}
#: ferroflow's distribution name, and the distributions each peer needs
NEEDS = {"dask-threads": ["dask"], "dask-distributed": ["dask", "distributed"]}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny n, one run per cell")
    parser.add_argument("--max-n", type=int, default=None, help="leave out sizes above this n")
    parser.add_argument("--peers", nargs="+", choices=PEERS, default=list(PEERS))
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--sizes", type=int, nargs="+", help="these n for every workload")
    parser.add_argument("--out", type=Path, default=HERE / "compare-results")
    parser.add_argument("--repeat", type=int, default=None, help="runs per cell (default 3)")
    parser.add_argument("--budget", type=float, default=3.0, help="stop repeating after s")
    parser.add_argument("--workers", type=int, default=None, help="default: one per core")
    parser.add_argument("--timeout", type=float, default=600.0, help="per cell, seconds")
    parser.add_argument(
        "--cap", action="append", default=[], metavar="ENGINE=N", help="max n of a peer"
    )
    parser.add_argument(
        "--pretend-missing",
        nargs="+",
        default=[],
        choices=PEERS,
        metavar="PEER",
        help="report these peers as not installed (to test the output)",
    )
    parser.add_argument("--aiida-python", type=Path, default=DEFAULT_VENV / "bin" / "python")
    parser.add_argument(
        "--setup-aiida",
        action="store_true",
        help=f"create {DEFAULT_VENV.relative_to(ROOT)} with aiida-workgraph from PyPI, then exit",
    )
    for tool in compare_peers.TOOLS:
        venv = compare_peers.venv_of(tool).relative_to(ROOT)
        parser.add_argument(
            f"--setup-{tool}",
            action="store_true",
            help=f"create {venv} with {tool} from PyPI, then exit",
        )
    return parser.parse_args(argv)


def cube_floor(n: int) -> int:
    """The largest k³ ≤ n: ``nested`` runs k³ leaves, so its n is rounded down to a cube."""
    k = max(1, round(n ** (1 / 3)))
    while k**3 > n and k > 1:
        k -= 1
    while (k + 1) ** 3 <= n:
        k += 1
    return k**3


def dist_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def availability(args: argparse.Namespace) -> dict[str, str | None]:
    """Engine → None if it can run, else the reason it cannot (printed in its cells)."""
    missing: dict[str, str | None] = {}
    for engine in [*FERROFLOW_ROWS, *args.peers]:
        reason = None
        if engine in args.pretend_missing:
            reason = "not installed"
        elif engine == "workgraph":
            reason = None if describe(args.aiida_python) else "not installed"
        elif engine in compare_peers.ENGINES:
            tool = compare_peers.ENGINES[engine]
            reason = None if compare_peers.describe(tool) else "not installed"
        elif any(importlib.util.find_spec(dist) is None for dist in NEEDS.get(engine, [])):
            reason = "not installed"
        missing[engine] = reason
    return missing


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kib = int(next(line.split()[1] for line in f if line.startswith("MemTotal")))
        mem = f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}){mem}, {platform.system()} {platform.release()}, "
        f"CPython {platform.python_version()}"
    )


def ferroflow_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return f"commit {head}" + (" + uncommitted changes" if dirty else "")


def run_child(cmd: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run one measurement process; its ``COMPARE_RESULT`` record, or ``{"error": …}``."""
    # Output goes to files, not pipes: a helper the child started (Prefect's server) inherits
    # them and would hold a pipe open after the child exits. The child gets its own session,
    # so that what it started and left (Parsl's interchange and workers, Prefect's server) is
    # stopped with it.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timeout after {timeout:.0f} s"}
        finally:
            _kill_group(proc.pid)
            proc.wait()
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(cmd, proc.returncode, out.read(), err.read())
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(MARKER):
            return dict(json.loads(line[len(MARKER) :]))
    tail = (done.stderr.strip().splitlines() or [""])[-1][:160]
    return {"error": f"exit code {done.returncode}: {tail}"}


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def measure(engine: str, workload: str, n: int, args: argparse.Namespace) -> Cell:
    """One cell, in a fresh process with a fresh ferroflow store or AiiDA profile."""
    base = {
        **os.environ,
        "FERROFLOW_PROGRESS": "0",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    opts = ["--repeat", str(args.repeat), "--budget", str(args.budget)]
    home = tempfile.mkdtemp(prefix="ferroflow-compare-")
    try:
        if engine == "workgraph":
            child = str(HERE / "compare_workgraph_child.py")
            try:
                with profile_env(args.aiida_python) as env:
                    cmd = [str(args.aiida_python), child, workload, str(n), *opts]
                    record = run_child(cmd, {**base, **env}, args.timeout)
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                record = {"error": str(exc)}
        elif engine in compare_peers.ENGINES:
            python = str(compare_peers.python_of(engine))
            child = str(HERE / "compare_peers_child.py")
            cmd = [python, child, engine, workload, str(n), "--workers", str(args.workers)]
            env = compare_peers.child_env(engine, base, home)
            record = run_child([*cmd, *opts], env, args.timeout)
        else:
            env = {**base, "FERROFLOW_HOME": home}
            if args.workers_given:
                env["FERROFLOW_WORKERS"] = str(args.workers)
            child = str(HERE / "compare_engines.py")
            cmd = [sys.executable, child, engine, workload, str(n), "--workers", str(args.workers)]
            record = run_child([*cmd, *opts], env, args.timeout)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if "error" in record:
        return Cell(engine, workload, n, status=f"failed: {record['error']}")
    return Cell(
        engine,
        workload,
        n,
        seconds=record["seconds"],
        times=record["times"],
        peak_rss_kib=record["peak_rss_kib"],
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setups = [tool for tool in compare_peers.TOOLS if getattr(args, f"setup_{tool}")]
    if args.setup_aiida or setups:  # every --setup-* given, then exit
        codes = []
        if args.setup_aiida:
            codes.append(setup_venv())
            print(describe(DEFAULT_VENV / "bin" / "python") or "aiida-workgraph: install failed")
        for tool in setups:
            codes.append(compare_peers.setup_venv(tool))
            print(compare_peers.describe(tool) or f"{tool}: install failed")
        return max(codes)
    started = time.perf_counter()
    args.workers_given = args.workers is not None
    args.workers = args.workers or os.cpu_count() or 1
    args.repeat = args.repeat or (1 if args.quick else 3)
    caps = dict(CAPS)
    for item in args.cap:
        engine, _, value = item.partition("=")
        caps[engine] = int(value)
    sizes_of = QUICK_SIZES if args.quick else SIZES
    missing = availability(args)
    engines = [*FERROFLOW_ROWS, *args.peers]

    command = "python benches/compare.py" + "".join(
        " " + shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    versions = [f"ferroflow {dist_version('ferroflow')} ({ferroflow_commit()})"]
    versions += [
        f"{d} {dist_version(d)}" for d in ("numpy", "dask", "distributed") if dist_version(d)
    ]
    if "workgraph" in args.peers and missing.get("workgraph") is None:
        versions.append(f"{describe(args.aiida_python)} ({args.aiida_python.parent.parent.name})")
    for tool in compare_peers.TOOLS:
        used = [e for e, t in compare_peers.ENGINES.items() if t == tool and e in args.peers]
        if any(missing.get(e) is None for e in used):
            versions.append(f"{compare_peers.describe(tool)} (.venv-{tool})")
    print(f"# `{command}`")
    print(f"# {datetime.date.today().isoformat()}; {machine()}")
    print(f"# {'; '.join(versions)}")
    print(
        f"# every cell: a fresh process, one warm-up run, then the best of ≤{args.repeat} "
        f"runs (fewer once {args.budget:g} s are spent); {args.workers} workers in every pool; "
        "BLAS 1 thread"
    )
    print("# cell: per-task µs (build + run ÷ n) · ratio to the ferroflow row · peak RSS")
    print("# growth: per-task cost at the largest measured n ÷ at the smallest")
    print()
    for engine in engines:
        note = LEGEND[engine]
        if engine in caps:
            note += f"; cap n ≤ {fmt_count(caps[engine])}"
        if missing[engine]:
            forced = engine in args.pretend_missing
            note += " — NOT INSTALLED" + (" (--pretend-missing)" if forced else "")
            if engine == "workgraph" and not forced:
                note += ": run `python benches/compare.py --setup-aiida`"
            elif engine in compare_peers.ENGINES and not forced:
                tool = compare_peers.ENGINES[engine]
                note += f": run `python benches/compare.py --setup-{tool}`"
        print(f"* `{engine}`: {note}")
    print(flush=True)

    panels = []
    records: list[dict[str, Any]] = []
    plan = [
        (w, n)
        for w in args.workloads
        for n in sorted({cube_floor(n) if w == "nested" else n for n in args.sizes or sizes_of[w]})
        if args.max_n is None or n <= args.max_n
    ]
    for workload in args.workloads:
        sizes = [n for w, n in plan if w == workload]
        cells: dict[tuple[str, int], Cell] = {}
        for n in sizes:
            for engine in engines:
                if missing[engine]:
                    cell = Cell(engine, workload, n, status=str(missing[engine]))
                elif (
                    engine in compare_peers.ENGINES and workload not in compare_peers.PEER_WORKLOADS
                ):
                    cell = Cell(engine, workload, n, status="skipped: not ported")
                elif n > caps.get(engine, n):
                    cell = Cell(
                        engine, workload, n, status=f"skipped: n > cap {fmt_count(caps[engine])}"
                    )
                else:
                    cell = measure(engine, workload, n, args)
                cells[(engine, n)] = cell
                records.append(cell.to_json())
                us = cell.per_task_us
                shown = f"{us:.3g} µs/task" if us is not None else cell.status
                elapsed = time.perf_counter() - started
                print(
                    f"[{elapsed:6.0f} s] {workload} n={n:,} {engine}: {shown}",
                    file=sys.stderr,
                    flush=True,
                )
        title = f"### {workload}: {WORKLOADS[workload]}"
        print(table(title, engines, sizes, cells), end="\n\n", flush=True)
        panels.append((workload, engines, sizes, cells))

    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"command": command, "machine": machine(), "versions": versions, "caps": caps}
    (args.out / "compare.json").write_text(json.dumps({"meta": meta, "cells": records}, indent=1))
    caption = (
        f"µs per task (build + run ÷ n) against n; {os.cpu_count()} cores, "
        f"{args.workers} workers per engine"
    )
    drawn = plot(panels, args.out, caption)
    if isinstance(drawn, str):
        print(drawn)
    else:
        print("plot: " + ", ".join(_shown_path(p) for p in drawn))
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


def _shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
