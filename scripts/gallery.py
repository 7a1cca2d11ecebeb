"""Run aiida-workgraph's documentation gallery on ferroflow, changing only import lines.

Issue 15's bar: a WorkGraph user's script runs on ferroflow once its imports name ferroflow.
The gallery is WorkGraph's (not part of this repository), so point this at a checkout::

    git clone https://github.com/aiidateam/aiida-workgraph /tmp/aiida-workgraph
    python scripts/gallery.py /tmp/aiida-workgraph/docs/gallery

Each page runs in its own process with a fresh ``FERROFLOW_HOME``; the script prints one row per
page (ran / failed, with the last line of the error) and how many ran. Only ``import`` and
``from … import`` lines are rewritten (``aiida_workgraph`` → ``ferroflow``; ``aiida.orm``,
``from aiida import orm, load_profile`` and ``from aiida.manage import load_profile`` →
``ferroflow``'s); a page that still imports other parts of AiiDA (CalcJob plugins, codes, the
QueryBuilder) fails at that import, as it should.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

_REWRITES = [
    (re.compile(r"\baiida_workgraph\b"), "ferroflow"),
    (re.compile(r"^(\s*)from aiida\.orm import"), r"\1from ferroflow.orm import"),
    (re.compile(r"^(\s*)import aiida\.orm as"), r"\1import ferroflow.orm as"),
    (
        re.compile(r"^(\s*)from aiida\.manage import load_profile\s*$"),
        r"\1from ferroflow import load_profile",
    ),
    (re.compile(r"^(\s*)from aiida import (load_profile|orm)(, (load_profile|orm))?\s*$"), None),
]


def rewrite_imports(source: str) -> str:
    """``source`` with its import lines pointed at ferroflow; every other line unchanged."""
    out = []
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("import ", "from ")):
            for pattern, replacement in _REWRITES:
                if replacement is None:
                    match = pattern.match(line)
                    if match:
                        line = line.replace("from aiida import", "from ferroflow import", 1)
                else:
                    line = pattern.sub(replacement, line)
        out.append(line)
    return "\n".join(out) + "\n"


def run_page(page: Path, timeout: float) -> tuple[bool, str]:
    """Run one rewritten page; (ran, last line of its error output)."""
    with tempfile.TemporaryDirectory() as work:
        script = Path(work) / page.name
        script.write_text(rewrite_imports(page.read_text()))
        env = dict(os.environ, FERROFLOW_HOME=str(Path(work) / "home"), FERROFLOW_PROGRESS="0")
        env["MPLBACKEND"] = "Agg"
        try:
            done = subprocess.run(
                [sys.executable, script.name],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return False, f"timed out after {timeout:.0f} s"
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return done.returncode == 0, (lines[-1] if lines and done.returncode else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("gallery", type=Path, help="docs/gallery of an aiida-workgraph checkout")
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("pages", nargs="*", help="only pages whose path contains one of these")
    args = parser.parse_args()
    pages = sorted(args.gallery.rglob("*.py"))
    if args.pages:
        pages = [p for p in pages if any(s in str(p) for s in args.pages)]
    ran = 0
    print("| page | ran | error |\n|---|---|---|")
    for page in pages:
        ok, error = run_page(page, args.timeout)
        ran += ok
        print(f"| {page.relative_to(args.gallery)} | {'yes' if ok else 'no'} | {error[:150]} |")
    print(f"\n{ran} of {len(pages)} pages ran")


if __name__ == "__main__":
    main()
