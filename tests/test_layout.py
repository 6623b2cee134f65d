"""Tests of the package layout: imports point one way, never round in a cycle, and stay lean."""

from __future__ import annotations

import ast
from pathlib import Path

import scaling

ROOT = Path(scaling.__file__).parent

# Layers, lowest first: a module may import only from its own layer or a lower one
# (ARCHITECTURE.md, "Which way imports point").
LAYERS = [
    ("scaling.config", "scaling.laws", "scaling.tiers", "scaling.schedule", "scaling.data", "scaling.fit", "scaling.published",
     "scaling.lr_search"),
    ("scaling.model", "scaling.params", "scaling.flops", "scaling.optimal", "scaling.family",
     "scaling.isoflop", "scaling.run", "scaling.settings"),
    ("scaling.train", "scaling.leases", "scaling.store"),
    ("scaling.scheduling", "scaling.executors", "scaling.worker", "scaling.worker_server", "scaling.sweep"),
    ("scaling.experiments", "scaling.race", "scaling.tuning", "scaling.trained"),
    ("scaling.report",),
    ("scaling.pytest_plugin", "scaling.claim_recorder", "scaling.cli", "scaling.strategies"),
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    for i, names in enumerate(LAYERS):
        if any(module == n or module.startswith(n + ".") for n in names):
            return i
    raise AssertionError(f"{module} has no layer in tests/test_layout.py: add it to LAYERS")


def _imports() -> dict[str, list[tuple[str, int, bool]]]:
    """module -> [(imported scaling module, line, inside a function)]."""
    graph: dict[str, list[tuple[str, int, bool]]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        name = _module_name(path)
        tree = ast.parse(path.read_text(), str(path))
        found: list[tuple[str, int, bool]] = []
        funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        nested = {id(n) for f in funcs for n in ast.walk(f) if n is not f}
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("scaling"):
                targets = [node.module]
                # `from scaling.data import corpus` imports the submodule
                for alias in node.names:
                    if (ROOT.parent / node.module.replace(".", "/") / f"{alias.name}.py").exists():
                        targets.append(f"{node.module}.{alias.name}")
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("scaling")]
            for t in targets:
                if t != "scaling":
                    found.append((t, node.lineno, id(node) in nested))
        graph[name] = found
    return graph


def _is_type_checking_only(path: Path, line: int) -> bool:
    lines = path.read_text().splitlines()
    return any(lines[i].startswith("if TYPE_CHECKING") for i in range(max(0, line - 4), line))


def test_imports_never_point_upward():
    """No module imports a module of a higher layer, at module level or inside a function."""
    bad = []
    for mod, imports in _imports().items():
        for target, line, _ in imports:
            if _layer(target) > _layer(mod):
                bad.append(f"{mod}:{line} imports {target}")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_import_cycles():
    """The import graph of the package's modules, function-level imports included, has no cycle."""
    graph = {m: {t for t, _, _ in imps if t != m} for m, imps in _imports().items()}

    def parents(m: str) -> set[str]:  # importing a.b.c runs a/__init__ and a/b/__init__ too
        parts = m.split(".")
        return {".".join(parts[:i]) for i in range(2, len(parts))}

    edges = {m: {t for t in ts if t in graph and t not in parents(m)} for m, ts in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                cycle = stack[stack.index(t):] + [t]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)


def test_function_level_imports_say_why():
    """An import inside a function defers a heavy dependency, and a comment on it says so."""
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        lines = path.read_text().splitlines()
        for f in ast.walk(tree):
            if not isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            imports = [n for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))]
            # one comment may explain a function's group of deferred imports: on any of them,
            # or on the line just above the first
            first = min((n.lineno for n in imports), default=0)
            text = " ".join(lines[n.lineno - 1] for n in imports) + (lines[first - 2] if first > 1 else "")
            if imports and "#" not in text:
                bad.append(f"{path.relative_to(ROOT.parent)}:{first}")
    assert not bad, "imports inside functions without a comment saying why:\n" + "\n".join(bad)


def test_no_module_over_400_lines():
    """Every module can be read in one sitting (STYLE: split past ~400 lines)."""
    long = {str(p.relative_to(ROOT.parent)): n for p in ROOT.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, f"modules over 400 lines: {long}"
