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
    assert "mnistbench.cli" in edges and "mnistbench.bench.evidence.measure" in edges
    assert cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


# The layers, top to bottom: an import may point down or sideways within its layer, never up.
LAYERS = {"cli": 4, "arguments": 4, "__main__": 4, "cluster": 3, "report": 3, "bench": 2, "networks": 1,
          "errors": 0, "checks": 0, "devices": 0, "provenance": 0, "mnist_files": 0}
FOLDERS = ("networks", "bench", "report", "cluster")


def layer(module: str) -> int:
    """A module's layer: the package root's __init__ is the base; a folder's modules take its layer."""
    parts = module.split(".")
    return 0 if len(parts) == 1 else LAYERS[parts[1]]


def upward_imports(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((a, b) for a, targets in edges.items() for b in targets if layer(b) > layer(a))


def test_imports_point_down_the_layers():
    edges = graph()
    assert edges["mnistbench.errors"] == set()
    assert upward_imports(edges) == []
    assert not {b for a, targets in edges.items() if a.startswith("mnistbench.report") for b in targets
                if b.startswith("mnistbench.cluster")}  # the report and the cluster route know nothing of each other
    assert not {b for a, targets in edges.items() if a.startswith("mnistbench.cluster") for b in targets
                if b.startswith("mnistbench.report")}


def test_the_layer_check_sees_an_upward_import():
    assert upward_imports({"mnistbench.networks.jax_mlp": {"mnistbench.bench.timing"}}) == [
        ("mnistbench.networks.jax_mlp", "mnistbench.bench.timing")]


def test_the_package_root_holds_the_command_line_and_the_base_only():
    root = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert set(root) <= set(LAYERS) | {"__init__"}
    assert sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()) == sorted(FOLDERS)


def test_the_networks_folder_is_read_in_one_sitting():
    """The assignment's answer: at most 800 lines; the JAX network in one file with init, forward,
    loss, grad and jit; nothing of files, processes, clocks or records."""
    folder = PACKAGE / "networks"
    assert sum(len(p.read_text().splitlines()) for p in folder.glob("*.py")) <= 800
    jax_network = (folder / "jax_mlp.py").read_text()
    assert all(needle in jax_network for needle in ("def init_params", "def forward", "def loss_fn",
                                                     "jax.value_and_grad", "jax.jit("))
    assert len(jax_network.splitlines()) <= 150
    banned = ("import time", "import subprocess", "import json", "perf_counter", "open(")
    assert not [(p.name, b) for p in folder.glob("*.py") for b in banned if b in p.read_text()]


def test_tests_mirror_the_package():
    tests = Path(__file__).resolve().parent
    assert sorted(p.name for p in tests.iterdir() if p.is_dir() and (p / "__init__.py").exists()) == sorted(FOLDERS)


def test_no_module_is_longer_than_about_400_lines():
    long = {module_name(p): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_readme_points_a_grader_at_both_implementations():
    """The first screen's file and line ranges hold the two networks (and stay true when code moves)."""
    import re

    readme = (PACKAGE.parents[1] / "README.md").read_text()
    expected = {"jax_mlp.py": ("def init_params", "def relu", "def forward", "def loss_fn", "def momentum_update",
                               "def train_step", "jax.value_and_grad", "jax.jit", "def evaluate"),
                "torch_mlp.py": ("def build_model", "def load_weights", "def make_optimizer", "def loss_fn",
                                 "def train_step", "def evaluate")}
    for name, needles in expected.items():
        first, last = map(int, re.search(rf"{name}`, lines (\d+)–(\d+)\]\(code/mnistbench/networks/{name}#L\1-L\2\)",
                                         readme).groups())
        lines = (PACKAGE / "networks" / name).read_text().splitlines()[first - 1:last]
        text = "\n".join(lines)
        assert all(needle in text for needle in needles), name
        assert lines[0].strip() and lines[-1].strip()  # a range that starts and ends on code
