"""An exception raised in another process, given back its frames: one way for every backend
that runs calls elsewhere (the local process pool, Dask workers)."""

from __future__ import annotations

from typing import Any

from ..errors import RemoteTraceback

__all__ = ["with_remote_traceback"]


def with_remote_traceback(
    exc: BaseException, tb_dict: dict[str, Any] | None, text: str
) -> BaseException:
    """``exc`` with the remote frames (``tblib``, where installed and ``tb_dict`` was sent),
    else with the remote traceback's text as its cause, as ``concurrent.futures`` does."""
    if tb_dict is not None:
        try:
            from tblib import Traceback

            return exc.with_traceback(Traceback.from_dict(tb_dict).as_traceback())
        except Exception:
            pass
    exc.__cause__ = RemoteTraceback(text)
    return exc
