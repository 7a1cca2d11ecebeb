"""The package's shape: no import cycle (counting every import), imports at module level, small
modules, one home for exceptions. `lint-imports` (scripts/test.sh) checks the layer order in
`.importlinter`; this checks what a layer contract cannot say."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import ferroflow
import grimp
import pytest

PACKAGE = Path(ferroflow.__file__).parent
#: optional dependencies, imported where they are used so that ferroflow works without them;
#: numpy is installed with ferroflow but imported only where a value is an array (it costs
#: ~0.1 s at start-up, and most workflows never need it)
OPTIONAL = (
    "distributed",
    "dask",
    "cloudpickle",
    "tblib",
    "graphviz",
    "rich",
    "hypothesis",
    "numpy",
    "ase",  # only to rebuild a stored Atoms (store/serializers.py)
)
#: modules allowed past the size limit (none: the HTML view was split by concept)
LONG_MODULES: set[str] = set()
LIMIT = 500


def _sources() -> list[tuple[str, ast.Module]]:
    return [
        (str(path.relative_to(PACKAGE)), ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


def _import_graph() -> grimp.ImportGraph:
    """Every import of the package, including those under TYPE_CHECKING and inside functions,
    without the imports of the compiled ``_core`` (grimp sees them as imports of the package
    root, which imports every layer)."""
    graph = grimp.build_graph("ferroflow", include_external_packages=False, cache_dir=None)
    for importer in graph.find_modules_that_directly_import("ferroflow"):
        lines = graph.get_import_details(importer=importer, imported="ferroflow")
        assert all("_core" in line["line_contents"] for line in lines), (importer, lines)
        graph.remove_import(importer=importer, imported="ferroflow")
    return graph


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_counting_every_import() -> None:
    graph = _import_graph()
    assert len(graph.modules) > 40  # the whole package was read
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for module in ("a", "a.x", "a.y", "a.z"):
        graph.add_module(module)
    graph.add_import(importer="a.x", imported="a.y")
    graph.add_import(importer="a.y", imported="a.z")
    graph.add_import(importer="a.z", imported="a.x")
    assert _cycles(graph) == [["a.x", "a.y", "a.z"]]


def _local_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """Imports inside function bodies (lineno, module), optional dependencies left out."""
    found = []
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            else:
                continue
            found += [
                (node.lineno, n) for n in names if n.lstrip(".").split(".")[0] not in OPTIONAL
            ]
    return found


def test_imports_are_at_module_level_except_optional_dependencies() -> None:
    found = {path: hits for path, tree in _sources() if (hits := _local_imports(tree))}
    assert found == {}


def test_no_module_is_over_the_size_limit() -> None:
    sizes = {
        str(path.relative_to(PACKAGE)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert sum(sizes.values()) > 5000
    assert {p: n for p, n in sizes.items() if n > LIMIT and p not in LONG_MODULES} == {}


@pytest.mark.parametrize("base", ["Exception", "BaseException", "ValueError", "FerroflowError"])
def test_exceptions_live_in_errors_py(base: str) -> None:
    """Every public exception class is defined in ``errors.py`` (private ones that never leave
    their module, used for control flow, are allowed where they are used)."""
    elsewhere = [
        (path, node.name)
        for path, tree in _sources()
        if path != "errors.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and not node.name.startswith("_")
        and any(isinstance(b, ast.Name) and b.id.endswith(base) for b in node.bases)
    ]
    assert elsewhere == []


def test_every_ferroflow_error_shares_one_root() -> None:
    classes = [getattr(ferroflow.errors, name) for name in ferroflow.errors.__all__]
    errors = [c for c in classes if c.__name__.endswith("Error")]
    assert len(errors) > 20
    assert [c.__name__ for c in errors if not issubclass(c, ferroflow.errors.FerroflowError)] == []
    assert issubclass(ferroflow.store.StoreError, ferroflow.FerroflowError)


def test_the_architecture_map_is_generated_from_the_contract() -> None:
    """docs/architecture.md's layer map is what scripts/architecture_layers.py makes of
    .importlinter and the module docstrings (rerun it after moving or adding a module)."""
    root = Path(__file__).resolve().parents[1]
    script = root / "scripts" / "architecture_layers.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
