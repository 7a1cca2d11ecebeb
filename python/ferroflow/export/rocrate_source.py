"""The workflow file of an RO-Crate: the source of the module that defines the run's graph
function, found without importing or running anything (an exported run may come from another
machine, and importing a module runs its code)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from .rocrate_entities import short
from .safe_paths import TargetFolder

__all__ = ["write_workflow_file"]


def _module_source(process_type: str) -> tuple[str, str] | None:
    """``(file name, source text)`` of the module defining ``process_type``, found without
    importing or running anything: an already imported module that defines the name, else a
    ``.py`` file on ``sys.path`` that textually defines it."""
    module_name, _, qualname = process_type.rpartition(".")
    parts = module_name.split(".")
    if not module_name or not all(part.isidentifier() for part in parts):
        return None  # also keeps a crafted type name (from an imported file) off odd paths
    head = qualname.split(".", 1)[0]
    module = sys.modules.get(module_name)
    path: str | None = None
    if module is not None and hasattr(module, head):
        path = getattr(module, "__file__", None)
    if path is None and module_name != "__main__":
        for entry in sys.path:
            base = Path(entry or ".").joinpath(*parts)
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    path = str(candidate)
                    break
            if path is not None:
                break
    if path is None or not path.endswith(".py"):
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not re.search(rf"^\s*(async\s+)?def\s+{re.escape(head)}\b", text, re.MULTILINE):
        return None  # some other file of that name: better no source than the wrong one
    return Path(path).name, text


def write_workflow_file(files: TargetFolder, process_type: str, imported: bool = False) -> str:
    """Write ``workflow/<name>.py`` and return its id. The name is made safe
    (:func:`~.safe_paths.safe_name`): ``process_type`` may come from an imported file.

    An ``imported`` run gets the placeholder: its process type was chosen by whoever made the
    file, and a file of this machine that happens to define that name is not the run's source
    (it could be any local file, secrets included, copied into a crate meant to be shared)."""
    found = None if imported else _module_source(process_type)
    if found is None:
        name = short(process_type)
        why = (
            "this run was imported from a file (`ferroflow import`), so no source of this\n"
            "machine is its source"
            if imported
            else "its module was neither imported nor found\non sys.path"
        )
        text = (  # the stored name goes in as a literal (!a): never as code or docstring
            '"""Placeholder: the source of the ferroflow graph function named below was not\n'
            f"available when this crate was exported ({why}), so the workflow file holds only\n"
            'this note."""\n\n'
            f"GRAPH_FUNCTION = {process_type!a}\n"
        )
    else:
        name, text = found
        name = name.removesuffix(".py")
    files.folder("workflow")
    relative = files.claim("workflow", name, ".py")
    with files.open(relative, "w", encoding="utf-8") as out:
        out.write(text)
    return relative  # safe characters only: the file name is also the entity's @id
