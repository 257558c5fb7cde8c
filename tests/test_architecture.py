"""The package's structure: no import circle between its modules, and no module
outside the readers that asks which kind of source it holds.

The graph has an edge ``a -> b`` for every ``import`` / ``from ... import``
statement in module ``a`` that names module ``b`` of the package, wherever the
statement is (module level or inside a function: a lazy import still ties the
two modules together). ``from .pkg import name`` points at ``pkg.name`` when that
is a submodule, else at ``pkg``. Imports under ``if TYPE_CHECKING:`` are edges too:
they never run, but a type hint that names a higher room still ties the two
together (a circle a reader of the code has to untangle). Not an edge: the implicit
import of a parent package
(which Python runs before any of its submodules): a package's ``__init__``
re-exporting its submodules is not a circle.

Run as a script (``python tests/test_architecture.py``) it prints every cycle.
"""

from __future__ import annotations

import ast
import pathlib
import sys

PACKAGE = "streamneuron"
ROOT = pathlib.Path(__file__).resolve().parent.parent / PACKAGE


def _modules(root: pathlib.Path = ROOT) -> dict[str, pathlib.Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_package(path: pathlib.Path) -> bool:
    return path.name == "__init__.py"


def _imports(tree: ast.AST):
    """Every import statement of ``tree``, wherever it is (``if TYPE_CHECKING:``
    bodies included)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node


def import_graph(root: pathlib.Path = ROOT) -> dict[str, set[str]]:
    """``{module: modules of the package it imports}``."""
    modules = _modules(root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if _is_package(path) else name.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                for alias in node.names:
                    sub = f"{module}.{alias.name}"
                    targets.append(sub if sub in modules else module)
            for target in targets:
                # ``import a.b.c`` / a name below a module: the longest known prefix.
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan),
    each as a sorted list of module names."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _describe(graph: dict[str, set[str]], component: list[str]) -> str:
    members = set(component)
    edges = [f"{a} -> {b}" for a in component for b in sorted(graph[a]) if b in members]
    return "{" + ", ".join(component) + "}: " + "; ".join(edges)


def test_graph_sees_lazy_and_relative_imports():
    graph = import_graph()
    # Module level, relative: the SGD run imports the stream.
    assert "streamneuron.stream" in graph["streamneuron.sgd.run"]
    # Inside a function: the package __init__ loads its names lazily through
    # importlib, which is no import statement; the full-pass engine opens sources inside fit_gd.
    assert "streamneuron.readers" in graph["streamneuron.fullpass.engine"]
    # ``from . import kernels`` names the subpackage.
    assert "streamneuron.kernels" in graph["streamneuron.apply"]


def test_type_checking_imports_are_edges(tmp_path):
    pkg = tmp_path / PACKAGE
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\n"
                              "if TYPE_CHECKING:\n    from .b import B\n")
    (pkg / "b.py").write_text("import typing\nif typing.TYPE_CHECKING:\n    pass\n"
                              "else:\n    from . import c\n"
                              "def f():\n    from .a import g\n")
    (pkg / "c.py").write_text("")
    graph = import_graph(pkg)
    assert graph[f"{PACKAGE}.a"] == {f"{PACKAGE}.b"}  # a type hint's import counts
    assert graph[f"{PACKAGE}.b"] == {f"{PACKAGE}.a", f"{PACKAGE}.c"}  # lazy, else branch
    assert cycles(graph) == [[f"{PACKAGE}.a", f"{PACKAGE}.b"]]


def test_stream_imports_no_reader():
    """The stream orders any source through the protocol (``readers/base.py``) and
    imports no module of ``readers/``. (Which way the readers import is not this test's
    business: asserting that a lower room imports a higher one would hold a defect in.)"""
    graph = import_graph()
    assert not {m for m in graph["streamneuron.stream"] if m.startswith("streamneuron.readers")}


def _reader_names(root: pathlib.Path = ROOT) -> tuple[set[str], set[str]]:
    """The reader classes (every class defined under ``readers/``) and the members
    of the protocol (what ``readers/base.py``'s ``Source`` declares or defines)."""
    classes, members = set(), set()
    for path in sorted((root / "readers").glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                classes.add(node.name)
                if path.name == "base.py" and node.name == "Source":
                    for item in node.body:
                        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                            members.add(item.name)
                        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                            members.add(item.target.id)
                        elif isinstance(item, ast.Assign):
                            members.update(t.id for t in item.targets if isinstance(t, ast.Name))
    # Names every file object, array or string has too: asking for them is no switch.
    everyday = {"close", "read", "dtype", "format"}
    return classes, {m for m in members if not m.startswith("__") and m not in everyday}


def _names_in(node: ast.AST) -> set[str]:
    """The names a type expression mentions (``Source``, ``readers.Source``, a
    tuple of classes, a string annotation)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return set()
    out = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            out.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            out.add(sub.attr)
    return out


def _looks_like_a_source(node: ast.AST, typed: set[str]) -> bool:
    """A variable or attribute named like a source (``source``, ``src``,
    ``self.source``, ``holdout_source``), or a name annotated as one."""
    name = node.id if isinstance(node, ast.Name) else (
        node.attr if isinstance(node, ast.Attribute) else None)
    if name is None:
        return False
    lowered = name.lower()
    return "source" in lowered or lowered == "src" or name in typed


def source_switches(root: pathlib.Path = ROOT) -> list[str]:
    """``file:line`` of every switch on the kind of a source outside ``readers/``:
    what a source is able to do is said by the protocol (``readers/base.py``), not
    found out. A switch is, whatever the variable is called:

    * ``isinstance(x, C)`` with ``C`` a reader class (any class defined in
      ``readers/``: ``Source``, ``ParquetSource``, ``Weighted``, ...);
    * ``hasattr``/``getattr`` on anything named or annotated like a source, or
      asking any object for a member of the protocol (``hasattr(v, "units")``);
    * a comparison with ``x.format`` (the format is a name to report);
    * an import of a concrete reader module.
    """
    found = []
    readers = {"parquet", "hdf5", "arrays", "frames", "pandas_hdf5", "weighted"}
    classes, members = _reader_names(root)
    for name, path in _modules(root).items():
        if name.startswith(f"{PACKAGE}.readers"):
            continue
        tree = ast.parse(path.read_text(), str(path))
        typed = {arg.arg for arg in ast.walk(tree) if isinstance(arg, ast.arg)
                 and arg.annotation is not None and _names_in(arg.annotation) & classes}
        typed |= {node.target.id for node in ast.walk(tree) if isinstance(node, ast.AnnAssign)
                  and isinstance(node.target, ast.Name) and _names_in(node.annotation) & classes}
        for node in ast.walk(tree):
            where = f"{path.relative_to(root.parent)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
                fn, first = node.func.id, node.args[0]
                if fn == "isinstance" and len(node.args) > 1 and \
                        _names_in(node.args[1]) & classes:
                    found.append(f"{where}: isinstance(..., {ast.unparse(node.args[1])})")
                elif fn in ("hasattr", "getattr"):
                    asked = node.args[1] if len(node.args) > 1 else None
                    member = (asked.value if isinstance(asked, ast.Constant) else None)
                    if _looks_like_a_source(first, typed) or member in members:
                        found.append(f"{where}: {fn}({ast.unparse(first)}, {member!r})")
            elif isinstance(node, ast.Compare) and any(
                    isinstance(x, ast.Attribute) and x.attr == "format"
                    for x in [node.left, *node.comparators]):
                found.append(f"{where}: compares a .format")
            elif isinstance(node, ast.ImportFrom) and node.module and \
                    set(node.module.split(".")) & readers and "readers" in node.module:
                found.append(f"{where}: imports {node.module}")
    return found


def test_switch_finder_sees_any_variable_name(tmp_path):
    """The finder is not fooled by a name: a switch on a source under any name counts."""
    pkg = tmp_path / PACKAGE
    (pkg / "readers").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "readers" / "__init__.py").write_text("")
    (pkg / "readers" / "base.py").write_text(
        "class Source:\n    units: list\n    def read(self, i): ...\n"
        "class ParquetSource(Source): ...\n")
    (pkg / "engine.py").write_text(
        "from .readers.base import Source\n"
        "def f(data, other: Source, validation):\n"
        "    if isinstance(data, Source): pass\n"          # any name, a reader class
        "    if hasattr(validation, 'units'): pass\n"      # a protocol member
        "    if getattr(other, 'by_position', False): pass\n"  # typed as a Source
        "    if data.format == 'parquet': pass\n"
        "    if isinstance(data, (int, str)): pass\n"     # not a switch on a source
        "    if hasattr(data, 'shape'): pass\n")
    found = source_switches(pkg)
    assert [f.split(": ", 1)[1] for f in found] == [
        "isinstance(..., Source)", "hasattr(validation, 'units')",
        "getattr(other, 'by_position')", "compares a .format"]


def test_no_switch_on_sources_outside_the_readers():
    assert source_switches() == []


def test_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycle():
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import circles in the package:\n" + "\n".join(
        _describe(graph, c) for c in found)


# A room a newcomer reads in one sitting.
MAX_MODULE_LINES = 500


def test_no_module_above_500_lines():
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules above {MAX_MODULE_LINES} lines: {long}"


# The floors of ARCHITECTURE.md, top to bottom, by module name (prefixes for packages).
FLOORS = [
    ["cli", "__main__"],
    ["sklearn", "sklearn_cv", "sklearn_input", "sklearn_data", "sklearn_levels", "standardization", "inference", "apply",
     "metrics", "plots",
     "inspect", "generate", "convert"],
    ["sgd", "fullpass"],
    ["stream", "stats", "training", "neuron", "checkpoint", "validation", "weighting",
     "warmstart", "params", "rules", "penalty", "losses", "schedules", "defaults", "stop",
     "report", "progress", "warmup", "atomic", "blas"],
    ["readers"],
    ["units", "errors", "levels", "missing"],
    ["kernels"],
]
# The upward edges ARCHITECTURE.md names, and nothing else.
NAMED_EXCEPTIONS = {
    ("readers.base", "stream"), ("readers.weighted", "weighting"),
    ("params", "fullpass.solvers"), ("validation", "metrics"),
    ("kernels.common", "schedules"), ("kernels.specialize", "progress"),
    ("checkpoint", ""), ("cli", ""),  # the package's __version__
}


def _floor(module: str) -> int:
    name = module[len(PACKAGE) + 1:] if module != PACKAGE else ""
    if not name:
        return -1  # the package itself: its __init__ re-exports from every floor
    top = name.split(".")[0]
    for k, floor in enumerate(FLOORS):
        if top in floor:
            return k
    raise AssertionError(f"{module} is on no floor of ARCHITECTURE.md")


def test_imports_go_down_the_floors():
    graph = import_graph()
    upward = sorted((a[len(PACKAGE) + 1:], b[len(PACKAGE) + 1:]) for a, targets in graph.items()
                    for b in targets if _floor(b) < _floor(a))
    assert set(upward) <= NAMED_EXCEPTIONS, sorted(set(upward) - NAMED_EXCEPTIONS)


if __name__ == "__main__":
    g = import_graph()
    for component in cycles(g):
        print(_describe(g, component))
