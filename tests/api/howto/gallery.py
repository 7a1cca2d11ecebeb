"""Run a how-to script the way its documentation page was produced: cell by cell.

Usage: ``python gallery.py SCRIPT OUT_DIR``.

A *cell* is a group of top-level statements with no blank line between them (the script keeps
each code block of the how-to as one such group). As in sphinx-gallery and Jupyter, the value
of a cell's last statement is shown when that statement is an expression whose value is not
``None``: objects with a rich representation (``_repr_html_``, ``_repr_svg_`` or
``_repr_mimebundle_``, e.g. the workflow view and the provenance picture) are rendered into
``OUT_DIR/cell<N>.html`` / ``cell<N>.gv`` (a page or an image in the docs); everything else is
printed with ``repr`` (text output in the docs, like ``Profile<uuid=... name=...>``).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

__all__ = ["cells", "main", "show"]


def cells(source: str) -> list[list[ast.stmt]]:
    """Top-level statements of ``source`` grouped into blank-line separated cells."""
    lines = source.splitlines()
    groups: list[list[ast.stmt]] = []
    previous_end = 0
    for stmt in ast.parse(source).body:
        decorators = getattr(stmt, "decorator_list", [])
        start = min([stmt.lineno, *(d.lineno for d in decorators)])
        between = lines[previous_end : start - 1]
        if not groups or any(not line.strip() for line in between):
            groups.append([])
        groups[-1].append(stmt)
        previous_end = stmt.end_lineno or stmt.lineno
    return groups


def show(value: Any, out_dir: Path, index: int) -> None:
    """Display a cell's value: rich objects to a file, the rest as text on stdout."""
    if value is None:
        return
    if hasattr(value, "_repr_html_"):
        (out_dir / f"cell{index}.html").write_text(value._repr_html_(), encoding="utf-8")
    elif hasattr(value, "_repr_svg_") or hasattr(value, "_repr_mimebundle_"):
        text = getattr(value, "source", None)
        if not isinstance(text, str):
            text = repr(value)
        (out_dir / f"cell{index}.gv").write_text(text, encoding="utf-8")
    else:
        print(repr(value))


def main(script: Path, out_dir: Path) -> None:
    source = script.read_text(encoding="utf-8")
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": str(script)}
    out_dir.mkdir(parents=True, exist_ok=True)
    for index, cell in enumerate(cells(source), start=1):
        *body, last = cell
        if body:
            module = ast.Module(body=body, type_ignores=[])
            exec(compile(module, str(script), "exec"), namespace)
        if isinstance(last, ast.Expr):
            value = eval(compile(ast.Expression(last.value), str(script), "eval"), namespace)
            show(value, out_dir, index)
        else:
            module = ast.Module(body=[last], type_ignores=[])
            exec(compile(module, str(script), "exec"), namespace)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
