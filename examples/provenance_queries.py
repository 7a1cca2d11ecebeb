"""Provenance: ask the store questions, and export a run for others.

Every run is recorded in the profile's SQLite store: each value (data node), each task run and
graph run (process nodes), and the links between them (AiiDA's graph model). This script runs
the scatter-gather how-to, then answers the questions people ask first:

* which runs were there?                         ``ferroflow.query.find_runs``
* where did a given task run, and how did it go? ``ferroflow.query.find_nodes``
* where does this result come from?              ``load_node(pk).creator``, ``.ancestors()``

and exports the run as W3C PROV-JSON and as a Workflow Run RO-Crate (a zip with the metadata,
the workflow's source and the values), the formats other provenance tools read. The same is
available on the command line: ``ferroflow query``, ``ferroflow export``.

Run: ``python examples/provenance_queries.py [OUTPUT_DIR]`` (exports go to a temporary
directory unless OUTPUT_DIR is given).
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import zipfile
from pathlib import Path

from ferroflow import load_node, load_profile
from ferroflow.demo import ScatterGatherSquare
from ferroflow.export import export_run
from ferroflow.query import find_nodes, find_runs


def main(out_dir: Path) -> int:
    profile = load_profile()
    wg = ScatterGatherSquare.build(4)
    wg.run()
    assert wg.pk is not None

    # Which runs? Newest first; label, state and timing are stored with each.
    print("latest runs:")
    for run in find_runs(limit=3):
        print(f"  pk {run.pk:<5} {run.label:<22} {run.state}")

    # Where did `square` run in this run? (names match square, square1, …; globs work too)
    squares = find_nodes(task="square", run=wg.pk)
    print(f"task runs of 'square' in run {wg.pk}: {len(squares)}, states "
          f"{sorted({str(node.state) for node in squares})}")  # fmt: skip
    assert len(squares) == 4

    # Where does the result come from? Walk the links backwards.
    result = load_node(wg.outputs.result.value.pk)
    creator = result.creator
    assert creator is not None
    inputs = [(label, node.value) for _, label, node in creator.inputs if node.is_data]
    print(f"result {result.value} was created by task '{creator.label}' from {len(inputs)} "
          f"inputs: {', '.join(f'{label}={value}' for label, value in inputs)}")  # fmt: skip
    ancestry = result.ancestors()
    n_data = sum(1 for node in ancestry if node.is_data)
    print(f"its ancestors: {len(ancestry)} nodes ({n_data} values, "
          f"{len(ancestry) - n_data} task runs), back to the input n=4")  # fmt: skip

    # Export for others: W3C PROV-JSON and a Workflow Run RO-Crate.
    prov_path = out_dir / f"run-{wg.pk}.prov.json"
    export_run(profile.store, wg.pk, "prov-json", prov_path)
    prov = json.loads(prov_path.read_text())
    print(f"PROV-JSON: {prov_path.name} with {len(prov.get('entity', {}))} entities, "
          f"{len(prov.get('activity', {}))} activities")  # fmt: skip

    crate_path = out_dir / f"run-{wg.pk}-crate.zip"
    export_run(profile.store, wg.pk, "ro-crate", crate_path)
    with zipfile.ZipFile(crate_path) as crate:
        names = crate.namelist()
    print(f"RO-Crate: {crate_path.name} with {len(names)} files, including "
          f"{', '.join(n for n in names if not n.startswith('values/'))}")  # fmt: skip
    assert "ro-crate-metadata.json" in names

    # A picture as text (Mermaid renders on GitHub and in many notebooks).
    picture = io.StringIO()
    export_run(profile.store, wg.pk, "mermaid", picture)
    lines = picture.getvalue().splitlines()
    edges = [line.strip() for line in lines if "-->" in line]
    print(f"Mermaid picture: {len(lines)} lines, {len(edges)} links, e.g. {edges[0]}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1:
        target = Path(sys.argv[1])
        target.mkdir(parents=True, exist_ok=True)
        sys.exit(main(target))
    with tempfile.TemporaryDirectory(prefix="ferroflow-exports-") as tmp:
        sys.exit(main(Path(tmp)))
