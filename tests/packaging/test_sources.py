"""Every module of the package imports on every CPython the abi3 wheel serves (3.10+).

CPython 3.13.0 cleans docstrings while compiling and fails with UnicodeEncodeError on one that
holds a surrogate code point (a ``\\ud800`` escape in a non-raw docstring is one), so importing
ferroflow failed there. Checked on the source, whatever the interpreter running the tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ferroflow

PACKAGE = Path(ferroflow.__file__).parent


def test_no_docstring_holds_a_surrogate() -> None:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node, clean=False)
                if doc is not None and any(0xD800 <= ord(c) <= 0xDFFF for c in doc):
                    bad.append(f"{path.relative_to(PACKAGE)}:{getattr(node, 'lineno', 1)}")
    assert len(list(PACKAGE.rglob("*.py"))) > 50
    assert bad == []
