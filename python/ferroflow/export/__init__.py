"""Exports of a stored run, and the import of ferroflow's own format.

One small module per format, all reading a run through one consistent, streamed snapshot
(:mod:`.selection`), so they agree with each other and scale with the run:

========== ============================== ==========================================
format     module                         what it is for
========== ============================== ==========================================
json       :mod:`.native`                 lossless dump; ``import`` reads it back
prov-json  :mod:`.provjson`               W3C PROV (provenance.md §2 mapping)
ro-crate   :mod:`.rocrate`                Workflow Run RO-Crate, Provenance Run Crate 0.5
dot, svg   :mod:`.dot`                    AiiDA-style picture (Graphviz)
mermaid    :mod:`.mermaid`                picture as text, for READMEs and notebooks
aiida      :mod:`.aiida_archive`          AiiDA archive: ``verdi archive import`` reads it
========== ============================== ==========================================

:func:`export_run` picks the module by format name; :func:`import_run` loads a ``json``
export (:mod:`.importer`) or an AiiDA archive (:mod:`.aiida_import`, told apart by the zip's
first bytes) into another store, keeping uuids, and never unpickles untrusted payloads.

Example::

    from ferroflow import load_profile
    from ferroflow.export import export_run, import_run

    store = load_profile().store
    run_pk = store.runs()[0].pk
    export_run(store, run_pk, "json", "run.json")
    export_run(store, run_pk, "ro-crate", "run-crate.zip")
    export_run(store, run_pk, "aiida", "run.aiida")         # `verdi archive import run.aiida`
    import_run(load_profile("archive").store, "run.json")   # pickles stay untrusted
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from typing import IO, Any, TextIO, cast

from ..store import Store
from ..store.private import replace_privately
from ..views.grouping import PICTURE_MAX_TASKS
from .aiida_archive import write_aiida
from .aiida_import import import_aiida, is_zip
from .dot import render, run_graph
from .importer import ImportFormatError, ImportResult
from .importer import import_run as import_native
from .mermaid import write_mermaid
from .native import write_native
from .provjson import write_prov_json
from .rocrate import write_ro_crate

__all__ = ["FORMATS", "ImportFormatError", "ImportResult", "export_run", "import_run"]

#: Format names accepted by :func:`export_run` (and ``ferroflow export --format``).
FORMATS = ("json", "prov-json", "ro-crate", "dot", "svg", "mermaid", "aiida")


def export_run(
    store: Store,
    run_pk: int,
    fmt: str,
    out: str | os.PathLike[str] | IO[Any] | None = None,
    license: str | None = None,
    max_tasks: int = PICTURE_MAX_TASKS,
) -> dict[str, int]:
    """Export the top-level run ``run_pk`` of ``store`` as ``fmt`` (one of :data:`FORMATS`).

    ``out`` is a path, an open file (text for the text formats, binary for ``svg`` and
    ``aiida``), or
    ``None`` for standard output; ``ro-crate`` needs a path (a directory, or a ``.zip``) and
    takes an optional ``license`` URL. The pictures (``dot``, ``svg``, ``mermaid``) draw at
    most about ``max_tasks`` task boxes, repeated tasks grouped (:mod:`ferroflow.views.grouping`);
    the data formats are complete. Returns counts of what was written (format-specific).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "ro-crate":
        if out is None or not isinstance(out, (str, os.PathLike)):
            raise ValueError("the ro-crate format writes a directory or a .zip: give a path")
        return write_ro_crate(store, run_pk, out, license=license)
    if fmt == "aiida":
        return write_aiida(store, run_pk, out)
    if fmt in ("dot", "svg"):
        graph = run_graph(store, run_pk, max_tasks)
        data = graph.source.encode("utf-8") if fmt == "dot" else render(graph, "svg")
        _write_bytes(out, data)
        return {"bytes": len(data)}

    def mermaid(store: Store, run_pk: int, fp: TextIO) -> dict[str, int]:
        return write_mermaid(store, run_pk, fp, max_tasks)

    writers: dict[str, Callable[[Store, int, TextIO], dict[str, int]]] = {
        "json": write_native,
        "prov-json": write_prov_json,
        "mermaid": mermaid,
    }
    writer = writers[fmt]
    if out is None:
        return writer(store, run_pk, sys.stdout)
    if isinstance(out, (str, os.PathLike)):
        # 0600, and no half-written file under the real name (see store.private)
        with replace_privately(out, "w", encoding="utf-8") as fp:
            return writer(store, run_pk, cast(TextIO, fp))
    if isinstance(out, (io.RawIOBase, io.BufferedIOBase)):
        raise TypeError(f"the {fmt} format is text: give a text file, not a binary one")
    return writer(store, run_pk, cast(TextIO, out))


def import_run(
    store: Store, source: str | os.PathLike[str] | IO[str], trust: bool = False
) -> ImportResult:
    """Import a ``json`` export or an AiiDA archive (a path to a zip) into ``store``.

    See :mod:`.importer` for the rules both follow and :mod:`.aiida_import` for how an AiiDA
    graph becomes a ferroflow run. Raises :class:`ImportFormatError` for a bad file.
    """
    if isinstance(source, (str, os.PathLike)) and is_zip(source):
        return import_aiida(store, source, trust=trust)
    return import_native(store, source, trust=trust)


def _write_bytes(out: str | os.PathLike[str] | IO[Any] | None, data: bytes) -> None:
    if out is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    elif isinstance(out, (str, os.PathLike)):
        with replace_privately(out, "wb") as fp:
            fp.write(data)
    elif isinstance(out, io.TextIOBase):
        out.write(data.decode("utf-8"))
    else:
        out.write(data)
