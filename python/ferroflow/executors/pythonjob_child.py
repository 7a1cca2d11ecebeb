"""The child process of a python job (:mod:`ferroflow.executors.pythonjob`): load the pickled
``(function, inputs)``, call it, write ``(ok, result or exception, traceback text)`` back. Run
as ``python -m ferroflow.executors.pythonjob_child JOB RESULT``; it reads only the file its
parent just wrote."""

from __future__ import annotations

import pickle
import sys
import traceback
from pathlib import Path


def main(job: str, result: str) -> None:
    func, kwargs = pickle.loads(Path(job).read_bytes())
    try:
        outcome = (True, func(**kwargs), "")
    except BaseException as exc:  # the job's failure, sent back whole
        trace = traceback.format_exc()
        try:
            pickle.dumps(exc)
            outcome = (False, exc, trace)
        except Exception:  # an exception that does not pickle: its text
            outcome = (False, f"{type(exc).__qualname__}: {exc}", trace)
    try:
        data = pickle.dumps(outcome)
    except Exception as exc:  # a result that does not pickle
        data = pickle.dumps((False, f"its result does not pickle: {exc}", ""))
    Path(result).write_bytes(data)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
