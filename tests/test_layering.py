"""The package's layers, read from its own imports (an AST walk): stages are leaves, imports run downward only,
there is no import cycle, and imports inside functions are left to the CLI (where they keep --help fast)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ohlora_cli"

# Lowest layer first; a module belongs to the longest prefix listed.  A module may import its own layer
# and the layers below it, never a layer above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("ohlora_cli", "ohlora_cli.errors", "ohlora_cli.files", "ohlora_cli.progress", "ohlora_cli.config",
              "ohlora_cli.rules", "ohlora_cli.training.presets", "ohlora_cli.assets", "ohlora_cli.shards",
              "ohlora_cli.threads")),
    ("pure", ("ohlora_cli.properties", "ohlora_cli.directions", "ohlora_cli.frechet", "ohlora_cli.edits", "ohlora_cli.motion",
              "ohlora_cli.calibration",
              "ohlora_cli.images", "ohlora_cli.plots", "ohlora_cli.formats", "ohlora_cli.synthetic.renderer",
              "ohlora_cli.synthetic.latent_code", "ohlora_cli.synthetic.dataset")),
    ("catalog", ("ohlora_cli.catalog", "ohlora_cli.migrations")),
    ("models", ("ohlora_cli.models",)),
    ("services", ("ohlora_cli.catalog.registry", "ohlora_cli.catalog.images", "ohlora_cli.scoring",
                  "ohlora_cli.training")),
    ("stages", ("ohlora_cli.stages", "ohlora_cli.synthetic")),  # stages, and the synthetic world's recipes
    ("pipeline", ("ohlora_cli.demo", "ohlora_cli.sharded", "ohlora_cli.studio")),
    ("cli", ("ohlora_cli.cli", "ohlora_cli.__main__")),
]
RANK = {prefix: i for i, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes}


def layer_of(module: str) -> int:
    best = max((p for p in RANK if module == p or module.startswith(p + ".")), key=len)
    return RANK[best]


def module_files() -> dict[str, Path]:
    files = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        files[".".join(parts)] = path
    for path in (ROOT / "migrations").rglob("*.py"):  # installed as ohlora_cli.migrations
        parts = ["ohlora_cli", "migrations", *path.relative_to(ROOT / "migrations").with_suffix("").parts]
        files[".".join(p for p in parts if p != "__init__")] = path
    return files


FILES = module_files()


def _resolve(name: str) -> str | None:
    """The internal module an imported name lives in (``ohlora_cli.stages.score`` for ``from
    ohlora_cli.stages import score``; the package itself for other names)."""
    while name and name not in FILES:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str) -> list[tuple[str, bool, int]]:
    """(internal module imported, inside a function?, line) for every import statement of ``module``."""
    path = FILES[module]
    tree = ast.parse(path.read_text())
    in_function = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for n in ast.walk(f) if n is not f}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in FILES else base for a in node.names]
        for t in targets:
            if t.split(".")[0] == "ohlora_cli" and (resolved := _resolve(t)) and resolved != module:
                out.append((resolved, id(node) in in_function, node.lineno))
    return out


GRAPH = {m: imports(m) for m in FILES}


def test_every_module_has_a_layer():
    assert all(layer_of(m) is not None for m in FILES)
    assert "ohlora_cli.stages.score" in FILES and "ohlora_cli.cli.filter" in FILES  # the walk sees the package


def test_no_stage_imports_another_stage():
    bad = [f"{m}:{line} imports {t}" for m, edges in GRAPH.items() if m.startswith("ohlora_cli.stages.")
           for t, _, line in edges if t.startswith("ohlora_cli.stages.")]
    assert bad == []


def test_imports_run_downward_only():
    bad = [f"{m} ({LAYERS[layer_of(m)][0]}):{line} imports {t} ({LAYERS[layer_of(t)][0]})"
           for m, edges in GRAPH.items() for t, _, line in edges if layer_of(t) > layer_of(m)]
    assert bad == []


def test_no_import_cycle():
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t, _, _ in GRAPH[m]:
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t, [*stack, t])
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_internal_imports_sit_at_module_level_outside_the_cli():
    bad = [f"{m}:{line} imports {t} inside a function" for m, edges in GRAPH.items()
           if not m.startswith("ohlora_cli.cli") and m != "ohlora_cli.catalog.db"  # db: the optional installed copy
           for t, inner, line in edges if inner]
    assert bad == []


@pytest.mark.parametrize("case", [
    ("ohlora_cli.stages.score", "stages"), ("ohlora_cli.scoring.scorers", "services"),
    ("ohlora_cli.catalog.scores", "catalog"), ("ohlora_cli.catalog.registry", "services"),
    ("ohlora_cli.cli.filter", "cli"), ("ohlora_cli.training.presets", "base"),
])
def test_layer_table(case):
    module, layer = case
    assert LAYERS[layer_of(module)][0] == layer


def test_the_checks_can_fail(monkeypatch):
    """A planted stage→stage import and a planted cycle are both caught."""
    monkeypatch.setitem(GRAPH, "ohlora_cli.stages.filter", [*GRAPH["ohlora_cli.stages.filter"],
                                                            ("ohlora_cli.stages.score", False, 1)])
    with pytest.raises(AssertionError):
        test_no_stage_imports_another_stage()
    monkeypatch.setitem(GRAPH, "ohlora_cli.errors", [("ohlora_cli.config", False, 1)])  # config imports errors
    with pytest.raises(AssertionError):
        test_no_import_cycle()
    monkeypatch.setitem(GRAPH, "ohlora_cli.errors", [("ohlora_cli.stages.score", False, 1)])
    with pytest.raises(AssertionError):
        test_imports_run_downward_only()
