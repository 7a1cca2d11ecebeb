"""The compiled module is built for the stable ABI of CPython 3.10 (one wheel for 3.10+).

abi3audit reads the extension's imported symbols and names every one outside the 3.10 limited
API; the call routes of rust/py/src/call.rs (vectorcall where the interpreter exports it, the
limited API's dict otherwise) must give the same results.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import ferroflow._core as core

HERE = Path(__file__).parent


def test_the_compiled_module_uses_only_the_310_stable_abi() -> None:
    so = Path(core.__file__ or "")
    assert so.name.endswith(".abi3.so"), f"{so.name} is not built for the stable ABI"
    report = subprocess.run(
        [sys.executable, "-m", "abi3audit", "--assume-minimum-abi3", "3.10", "--report", str(so)],
        capture_output=True,
        text=True,
        check=True,
    )
    (spec,) = json.loads(report.stdout)["specs"].values()
    result = spec["object"]["result"]
    assert result["non_abi3_symbols"] == []
    assert result["future_abi3_objects"] == {}, "symbols the 3.10 limited API does not have"
    assert result["is_abi3"] and result["is_abi3_baseline_compatible"]
    assert result["computed"] == "3.10"


def test_the_call_route_is_vectorcall_where_the_interpreter_exports_it() -> None:
    # CPython 3.11+ export PyObject_Vectorcall; on 3.10 it is an inline function
    assert core.call_route() == ("vectorcall" if sys.version_info >= (3, 11) else "dict")


def _run_flow(**env: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(HERE / "call_routes.py")],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_both_call_routes_pass_every_keyword_argument() -> None:
    default = _run_flow(FERROFLOW_LIMITED_CALL="0")
    limited = _run_flow(FERROFLOW_LIMITED_CALL="1")
    assert limited.pop("route") == "dict"
    assert default.pop("route") == core.call_route()
    expected = {
        "general_lane": [],
        "results": ["1,2,3,4,5,6,7,8,72,7,8,-1", "42", "72", "9,8,7,6,5,4,3,2,1,7,8,-1"],
        "failed": ["flow/fails: ValueError('refused 4')"],
    }
    assert default == expected
    assert limited == expected
