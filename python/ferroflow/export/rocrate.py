"""Workflow Run RO-Crate of a run: the Provenance Run Crate 0.5 profile on RO-Crate 1.1.

Why these versions: the WRROC 0.5 profiles are written against the RO-Crate **1.1** context;
validated as 1.3 (ro-crate-py's default) a crate fails on renamed IRIs (provenance.md §3), so
this writer emits 1.1 itself, with no third-party package.

Layout of the crate (a directory, or a ``.zip`` of it)::

    ro-crate-metadata.json       the JSON-LD metadata, streamed entity by entity
    workflow/<module>.py         the main workflow's source (the module defining the top-level
                                 graph function), or a short placeholder saying it was not found
    values/<uuid>.<ext>          values that are not small JSON: .npy arrays, .bin bytes,
                                 .pkl pickles (never unpickled here), large .json

How ferroflow maps onto the profile (provenance.md §3, every MUST and most SHOULDs):

* root ``Dataset`` ``./``: ``conformsTo`` the Process/Workflow/Provenance Run Crate 0.5 and
  Workflow RO-Crate 1.0 profiles (each a ``CreativeWork`` entity), ``name``, ``description``,
  ``datePublished``, ``license``, ``mainEntity`` (the workflow), ``hasPart``, ``mentions``.
* **mainEntity**: typed ``File, SoftwareSourceCode, ComputationalWorkflow, HowTo`` (HowTo
  because it has steps), ``programmingLanguage`` Python (a ``ComputerLanguage``), ``input`` and
  ``output`` ``FormalParameter``s, the tools it ran in ``hasPart`` and its ``HowToStep``s in
  ``step``.
* **tools**: one entity per task function (``SoftwareApplication``) or nested graph function
  (``SoftwareSourceCode, ComputationalWorkflow, HowTo``, with its own parameters, tools and
  steps: subworkflows follow the same rules). ``FormalParameter``s are the *top-level* sockets:
  members of a namespace (``data__number_1``) are values of one parameter (``data``), so a
  scatter over a million items has one parameter, not a million.
* **steps**: one ``HowToStep`` per (graph function, tool) pair with a ``position`` and
  ``workExample`` pointing at the tool. A dynamic graph calls ``square``, ``square1``, … at run
  time; they are executions of one step, as CWL's scatter jobs are, and their own labels are
  the names of their actions.
* **actions**: one ``CreateAction`` per task run and graph run (the top-level one has the main
  workflow as ``instrument``; others their tool) with ``object`` (inputs), ``result``
  (outputs: created, or returned by a graph), ``startTime``/``endTime`` and ``actionStatus``
  (``error`` when failed); one ``ControlAction`` per called process (``instrument`` the step,
  ``object`` the process's CreateAction); one ``OrganizeAction`` for the engine's run
  (``instrument`` ferroflow as a ``SoftwareApplication``, ``object`` the ControlActions,
  ``result`` the workflow's CreateAction).
* **values**: a ``PropertyValue`` (``value`` inline: scalars as themselves, containers as JSON
  text) or a ``File`` under ``values/``; each lists the parameters it realises in
  ``exampleOfWork``.

Streaming: every per-node entity is written as its rows are read (pk-ordered streams walked
together, see :mod:`.selection`); only per-*type* facts (tools, parameters, steps) are held in
memory.

Safety: the run may be an import of someone else's file, so no stored text becomes a path
unchecked: every file is named and placed by :class:`~.safe_paths.TargetFolder` (safe
characters, unique, resolved inside the target), zip entries pass
:func:`~.safe_paths.check_arcname`, and files are 0600, folders 0700
(:mod:`ferroflow.store.private`).

The modules: this one puts the crate on disk (a directory, or a zip written beside the target
and moved into place, so no half-written zip carries the final name);
:mod:`.rocrate_metadata` streams the metadata document, built from :mod:`.rocrate_entities`
(ids, values, actions) and :mod:`.rocrate_tools` (tools, parameters, steps);
:mod:`.rocrate_source` finds the workflow's source.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import TextIO, cast

from ..store import Store
from ..store.private import replace_privately
from .rocrate_entities import CONTEXT, PROFILES
from .rocrate_metadata import write_metadata
from .safe_paths import TargetFolder, check_arcname
from .selection import RunSelection

__all__ = ["CONTEXT", "PROFILES", "write_ro_crate"]

_METADATA = "ro-crate-metadata.json"


def write_ro_crate(
    store: Store, run_pk: int, path: str | os.PathLike[str], license: str | None = None
) -> dict[str, int]:
    """Write the run ``run_pk`` as a Provenance Run Crate at ``path``.

    ``path`` ending in ``.zip`` gives a zipped crate, anything else a directory, which must not
    exist yet or be empty. ``license`` is the URL of the crate's license; without it the crate
    says that none was specified. Returns counts of what was written.
    """
    target = Path(path)
    zipped = target.suffix.lower() == ".zip"
    if not zipped and target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise FileExistsError(f"{target} exists and is not an empty directory")
    with RunSelection(store, run_pk) as sel:
        if not zipped:
            files = TargetFolder(target)  # created 0700; every name checked (safe_paths)
            with files.open(_METADATA, "w", encoding="utf-8") as fp:
                return write_metadata(sel, cast(TextIO, fp), files, license)
        with tempfile.TemporaryDirectory(prefix="ferroflow-crate-") as tmp:
            files = TargetFolder(Path(tmp))
            with files.open(_METADATA, "w", encoding="utf-8") as fp:
                counts = write_metadata(sel, cast(TextIO, fp), files, license)
            with (
                replace_privately(target, "wb") as raw,  # 0600, whole or not at all
                zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive,
            ):
                for file in sorted(files.root.rglob("*")):
                    if file.is_file() and not file.is_symlink():
                        name = check_arcname(file.relative_to(files.root).as_posix())
                        archive.write(file, name)
            return counts
