"""``benches/scaling.py`` runs end to end and prints what it promises: a row per engine, a cell
per worker count holding a time, a speed-up (1.00× on one worker) and a fraction of the ideal.
The numbers themselves are whatever this machine gives and are never asserted; the 16-core
table is made on a lent machine (benches/README.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CELL = re.compile(r"^(?P<s>\d+\.\d{3}) s · (?P<x>\d+\.\d{2})× · (?P<pct>\d+)%$")


def test_scaling_prints_one_row_per_engine_with_a_cell_per_worker_count() -> None:
    command = [sys.executable, str(ROOT / "benches" / "scaling.py"), "--workers", "1", "2"]
    command += ["--tasks-per-worker", "5", "--repeat", "1"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[0] == "| engine | 1 workers | 2 workers |"
    engines = {row.split(" | ")[0][2:]: row.strip("| ").split(" | ")[1:] for row in rows[1:]}
    assert set(engines) == {"ferroflow", "ferroflow-noprov", "dask-threads", "threads"}
    for engine, cells in engines.items():
        assert len(cells) == 2, (engine, cells)
        first, second = (CELL.match(cell) for cell in cells)
        assert first is not None and second is not None, (engine, cells)
        assert first["x"] == "1.00", (engine, cells)
        assert float(second["s"]) > 0 and 0 < int(second["pct"]) <= 100, (engine, cells)
