"""The house: one role per module, imports that run one way, no module past about 400 lines."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "code" / "mnistbench"
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Package modules ``path`` imports, at the top or inside a function."""
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            names = [f"{target}.{alias.name}" for alias in node.names] if not node.module else []
            found.update(name for name in names if (PACKAGE.parent / name.replace(".", "/")).with_suffix(".py")
                         .exists() or (PACKAGE.parent / name.replace(".", "/")).is_dir())
            if node.module:
                found.add(target)
    return found - {module_name(path)}


def graph() -> dict[str, set[str]]:
    return {module_name(path): imports_of(path) for path in PACKAGE.rglob("*.py")}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append(trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return found


def test_no_module_imports_itself_through_others():
    edges = graph()
    assert "mnistbench.cli" in edges and "mnistbench.evidence.measure" in edges
    assert cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_low_modules_import_nothing_above_them():
    edges = graph()
    assert edges["mnistbench.errors"] == set()
    for model in ("mnistbench.jax_mlp", "mnistbench.torch_mlp"):  # models know nothing of files or the report
        assert not edges[model] & {"mnistbench.results", "mnistbench.experiment", "mnistbench.cli",
                                   "mnistbench.report", "mnistbench.jax_mlp", "mnistbench.torch_mlp"} - {model}


def test_no_module_is_longer_than_about_400_lines():
    long = {module_name(p): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_readme_points_a_grader_at_both_implementations():
    """The first screen's file and line ranges hold the two networks (and stay true when code moves)."""
    import re

    readme = (PACKAGE.parents[1] / "README.md").read_text()
    expected = {"jax_mlp.py": ("def relu", "def forward", "def loss_fn", "def momentum_update", "def train_step",
                               "jax.value_and_grad", "jax.jit", "def evaluate"),
                "torch_mlp.py": ("def build_model", "def load_weights", "def make_optimizer", "def train_step",
                                 "def whole_step", "def evaluate")}
    for name, needles in expected.items():
        first, last = map(int, re.search(rf"{name}`, lines (\d+)–(\d+)\]\(code/mnistbench/{name}#L\1-L\2\)",
                                         readme).groups())
        lines = (PACKAGE / name).read_text().splitlines()[first - 1:last]
        text = "\n".join(lines)
        assert all(needle in text for needle in needles), name
        assert lines[0].strip() and lines[-1].strip()  # a range that starts and ends on code
