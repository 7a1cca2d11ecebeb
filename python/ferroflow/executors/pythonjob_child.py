"""The child process of a python job (:mod:`ferroflow.executors.pythonjob`): load the pickled
``(function, inputs)``, call it, write ``(ok, result or exception, traceback text)`` back. Run
as ``python -m ferroflow.executors.pythonjob_child JOB RESULT``; it reads only the file its
parent just wrote."""

from __future__ import annotations

import importlib
import pickle
import sys
import traceback
from pathlib import Path
from typing import Any


def _dumps(payload: Any) -> bytes:
    """cloudpickle where installed (a result of a class from the parent's script), else pickle."""
    try:
        import cloudpickle
    except ImportError:
        return pickle.dumps(payload)
    return bytes(cloudpickle.dumps(payload))


def _function(sent: Any) -> Any:
    """The job's function: sent whole, or as (module, qualname) naming its handle."""
    if callable(sent):
        return sent
    module, qualname = sent
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    job = getattr(found, "func", found)  # the handle's task function wraps the user's
    return getattr(job, "__wrapped__", job)


def _round_trips(exc: BaseException) -> bool:
    try:
        pickle.loads(_dumps(exc))
    except Exception:
        return False
    return True


def main(job: str, result: str) -> None:
    sent, kwargs = pickle.loads(Path(job).read_bytes())
    try:
        outcome: tuple[bool, Any, str] = (True, _function(sent)(**kwargs), "")
    except BaseException as exc:  # the job's failure, sent back whole if it can be
        trace = traceback.format_exc()
        text = f"{type(exc).__qualname__}: {exc}"
        outcome = (False, exc if _round_trips(exc) else text, trace)
    try:
        data = _dumps(outcome)
    except Exception as exc:  # a result that does not pickle
        data = pickle.dumps((False, f"its result does not pickle: {exc}", ""))
    Path(result).write_bytes(data)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
