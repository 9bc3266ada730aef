"""The package's modules import one another without a circle, counting imports inside functions."""

import ast
from pathlib import Path

PACKAGE = "rldynamics"
SOURCE = Path(__file__).resolve().parents[1] / "src" / PACKAGE


def module_name(path: Path, root: Path = SOURCE.parent) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, known: set[str], root: Path = SOURCE.parent) -> set[str]:
    """The package's modules that ``path`` imports anywhere (module level or in a function)."""
    name = module_name(path, root)
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # "from pkg import sub" imports the submodule when there is one
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            # the longest known module that the target names (a.b.c → a.b when c is a name)
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(SOURCE.rglob("*.py"))
    known = {module_name(p) for p in paths}
    return {module_name(p): imported_modules(p, known) for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of the graph as a list of modules (first repeated last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str):
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_circle_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_imports_inside_functions_are_seen(tmp_path):
    source = tmp_path / "rldynamics" / "mod.py"
    source.parent.mkdir()
    source.write_text("def f():\n    from rldynamics.decompose.factors import read_pair\n")
    known = {"rldynamics", "rldynamics.decompose.factors", "rldynamics.mod"}
    assert imported_modules(source, known, tmp_path) == {"rldynamics.decompose.factors"}


def test_the_package_has_no_import_circle():
    graph = import_graph()
    assert "rldynamics.decompose.param_metrics" in graph and "rldynamics.decompose.factors" in graph
    assert "rldynamics.core.io" in graph["rldynamics.decompose.factors"]
    assert find_cycle(graph) is None, f"import circle: {' → '.join(find_cycle(graph))}"
