"""The package's layout: a subpackage per stage, imports without a circle (counting imports
inside functions) and only from the core and earlier stages, no function over 80 lines."""

import ast
from pathlib import Path

from rldynamics import STAGES

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


# --- the stages' order (rldynamics.STAGES) -------------------------------------------------


def stage_of(module: str) -> str | None:
    """The subpackage a module belongs to (``rldynamics.evaluate.items`` → ``evaluate``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in STAGES) else None


def arrows_back(graph: dict[str, set[str]], stages=None) -> list[str]:
    """Imports from a stage to a later stage in ``stages`` (or to the top-level modules)."""
    order = {stage: i for i, stage in enumerate(stages or STAGES)}
    found = []
    for module, targets in sorted(graph.items()):
        here = stage_of(module)
        if here is None:
            continue
        for target in sorted(targets):
            there = stage_of(target)
            if target != PACKAGE and (there is None or order[there] > order[here]):
                found.append(f"{module} → {target}")
    return found


def test_the_order_check_finds_an_arrow_back():
    graph = {
        "rldynamics.core.io": {"rldynamics.core.errors"},
        "rldynamics.evaluate.items": {"rldynamics.core.io", "rldynamics.claims.derived"},
        "rldynamics.claims.derived": {"rldynamics.evaluate.items", "rldynamics"},
    }
    assert arrows_back(graph) == ["rldynamics.evaluate.items → rldynamics.claims.derived"]
    assert arrows_back({"rldynamics.core.io": {"rldynamics.cli"}}) == [
        "rldynamics.core.io → rldynamics.cli"
    ]


def test_each_stage_imports_only_the_core_and_the_stages_before_it():
    graph = import_graph()
    assert {stage_of(m) for m in graph} - {None} == set(STAGES)
    assert arrows_back(graph) == []


def test_the_package_holds_only_stage_subpackages_and_the_command_line():
    top = {p.name for p in SOURCE.iterdir() if p.suffix == ".py"}
    assert top == {"__init__.py", "__main__.py", "cli.py"}
    folders = {p.name for p in SOURCE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set(STAGES)
    for stage in STAGES:
        assert (SOURCE / stage / "__init__.py").read_text().startswith('"""'), stage
        if stage != "core":  # each stage declares its own commands
            assert "def add_parsers(sub)" in (SOURCE / stage / "cli.py").read_text(), stage


def test_no_function_is_longer_than_80_lines():
    long = []
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > 80:
                    long.append(f"{path.relative_to(SOURCE)}:{node.lineno} {node.name} ({length})")
    assert long == [], long


# Modules read at every command's start (the parser of every stage) or by the DAG in every
# cluster job (workflow/rules/common.smk) must not pull in a heavy library.
LIGHT = [
    "rldynamics.cli",
    "rldynamics.core.errors",
    "rldynamics.core.variants",
    "rldynamics.evaluate.runmodels",
    "rldynamics.checkpoints.series",
]
HEAVY = ("torch", "pandas", "numpy", "lm_eval", "transformers", "matplotlib", "safetensors")


def test_the_command_line_and_the_dag_start_without_heavy_libraries():
    import subprocess
    import sys

    code = (
        "import importlib, sys\n"
        f"for name in {LIGHT!r}: importlib.import_module(name)\n"
        "import rldynamics.cli as cli\n"
        "cli.build_parser()\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "[]"


def test_the_repository_constant_is_the_checkout():
    from rldynamics import REPOSITORY

    assert (REPOSITORY / "Snakefile").is_file() and (REPOSITORY / "workflow" / "rules").is_dir()
