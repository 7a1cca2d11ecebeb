"""Plain-text tables for the terminal: the CLI's listings and ``get_process_summary``."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["text_table"]


def text_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    padding: int = 0,
    right: Sequence[bool] = (),
) -> str:
    """Columns two spaces apart under a dashed rule; each column as wide as its widest cell
    and at least ``padding`` wider than its heading (AiiDA's tables use 2); the columns whose
    ``right`` is true are right-aligned. Trailing spaces are left off. A cell is one line: a
    line break in it (a label from an imported file) is shown as ``\\n``, never a row of its own."""
    rows = [[cell.replace("\r", "\\r").replace("\n", "\\n") for cell in row] for row in rows]
    widths = [
        max([len(h) + padding, *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)
    ]
    aligned = [bool(right[i]) if i < len(right) else False for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(w) if r else cell.ljust(w)
            for cell, w, r in zip(cells, widths, aligned, strict=True)
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])
