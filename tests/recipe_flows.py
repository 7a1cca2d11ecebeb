"""An explicitly built graph for the ``ferroflow restart`` test of recipes: its task is made
inline with an error handler and ``cache=False`` (so the restart runs it again and needs the
handler), carries a ``metadata=`` label, and the graph a ``max_number_jobs``; the functions
are module-level, so the restart's process imports them by name."""

from __future__ import annotations

from typing import Any

from ferroflow import WorkGraph, task


def flaky(x: int) -> int:
    if x < 0:
        raise ValueError(f"negative: {x}")
    return x


def make_positive(error: BaseException, inputs: dict[str, Any]) -> Any:
    return {"x": -inputs["x"]}


def run_handled() -> int:
    made = task(
        cache=False,
        error_handlers={"flip": {"handler": make_positive, "exceptions": ValueError}},
    )(flaky)
    wg = WorkGraph("handled_cli", max_number_jobs=1)
    wg.add_task(made, x=-3, metadata={"label": "flipped", "description": "made positive"})
    wg.run()
    assert wg.pk is not None
    return wg.pk
