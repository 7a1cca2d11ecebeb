"""A profile folder of its own for one benchmark process, removed when the process ends.

A benchmark of a million tasks leaves a store of about 0.5 GB; runs that each kept theirs
filled this machine's disk. Called before ferroflow is imported (so the store's own exit
handler, registered at that import, closes the file before this one removes the folder),
and only where ``$FERROFLOW_HOME`` is not set: a folder the user named is theirs.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile

__all__ = ["temporary_home"]


def temporary_home() -> str:
    """A new folder, removed when the process exits: ``os.environ.setdefault("FERROFLOW_HOME",
    temporary_home())`` (an unused one, where the variable was set, is just removed)."""
    home = tempfile.mkdtemp(prefix="ferroflow-bench-")
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    return home
