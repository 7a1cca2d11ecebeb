"""README's self-contained Python snippets run as written (those that start with an import;
the others continue an earlier snippet or need a cluster)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = [
    block
    for block in re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    if block.startswith(("import ", "from "))
]


def test_the_readme_has_runnable_snippets() -> None:
    assert len(BLOCKS) >= 2  # the quick start and the WorkGraph example


@pytest.mark.parametrize("block", BLOCKS, ids=[f"snippet{i}" for i in range(len(BLOCKS))])
def test_a_readme_snippet_runs(block: str) -> None:
    exec(compile(block, str(README), "exec"), {"__name__": "readme"})
