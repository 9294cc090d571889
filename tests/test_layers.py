"""The import contract, read from the layer table of docs/ARCHITECTURE.md (the one source: the table cannot drift from
the code without this failing). Static: each module of the package is parsed with `ast`, nothing is imported."""
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "deployprof"
# Third-party packages worth deferring: importing any of them costs tens of milliseconds or more (numpy, onnx:
# ~0.2 s; torch: seconds), and commands that do not need them (`--help`, `--json` ones) must not pay for them.
HEAVY = {"numpy", "onnx", "onnxruntime", "torch", "tensorrt", "sqlalchemy", "rich", "ray", "yaml", "psutil", "polygraphy",
         "cuda", "pynvml", "jtop", "scipy", "selenium", "onnxscript", "onnxconverter_common", "ml_dtypes", "click"}



def layer_table() -> list[tuple[str, list[str]]]:
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    body = doc[doc.index("| layer | modules |"):].split("\n\n")[0]
    rows = [line for line in body.splitlines()[2:] if line.startswith("|")]
    return [(row.split("|")[1].strip(), [m.rstrip("/") for m in re.findall(r"`([\w/]+)`", row.split("|")[2])])
            for row in rows]


def package_modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = package_modules()
LAYERS = layer_table()


def layer_of(module: str):
    """The row naming the module, or the package holding it (the longest match: `report/terminal` over `report/`)."""
    if module == "deployprof":  # the package itself: its version, imported by anyone
        return 0
    rel, best = module.split(".")[1:], None
    for i, (_, names) in enumerate(LAYERS):
        for name in names:
            parts = name.split("/")
            if rel[:len(parts)] == parts and (best is None or len(parts) > best[1]):
                best = (i, len(parts))
    return None if best is None else best[0]


def _owner(name: str):
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name if name in MODULES else None


def imports(module: str) -> list[tuple[str, bool, int]]:
    """(imported module, at module level?, line) for every import statement, `if TYPE_CHECKING:` blocks left out."""
    path = MODULES[module]
    base = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []

    def visit(node, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    parts = base.split(".")
                    target = ".".join(parts[:len(parts) - child.level + 1]) + (f".{child.module}" if child.module else "")
                else:
                    target = child.module
                found.extend((f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target, top, child.lineno)
                             for a in child.names)
            elif isinstance(child, ast.Import):
                found.extend((a.name, top, child.lineno) for a in child.names)
            else:
                visit(child, top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(path.read_text()), True)
    return found


EDGES = {m: imports(m) for m in MODULES}


def heavy_closure(module: str, seen=None) -> set[str]:
    """The heavy third-party packages importing `module` brings, through its module-level imports and its packages'."""
    seen = set() if seen is None else seen
    if module in seen:
        return set()
    seen.add(module)
    heavy: set[str] = set()
    parents = [".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)]
    for name, top, _ in EDGES[module]:
        if top and _owner(name):
            heavy |= heavy_closure(_owner(name), seen)
        elif top and name.split(".")[0] in HEAVY:
            heavy.add(name.split(".")[0])
    for parent in parents:
        heavy |= heavy_closure(parent, seen)
    return heavy


def own_edges():
    for module in MODULES:
        for name, top, line in EDGES[module]:
            target = _owner(name) if name.startswith("deployprof") else None
            if target and target != module:
                yield module, target, top, line


def test_every_module_is_in_the_layer_table():
    assert [name for name, _ in LAYERS] == ["base", "records", "static", "measuring", "running", "rendering", "commands", "views"]
    assert sorted(m for m in MODULES if m != "deployprof" and layer_of(m) is None) == []


def test_imports_go_up_or_sideways():
    wrong = [f"{m}:{line} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
             for m, t, _, line in own_edges() if layer_of(t) > layer_of(m)]
    assert wrong == []


def test_no_import_circle():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for m, t, _, _ in own_edges():
        if not t.startswith(m + "."):  # a package's __init__ importing its own submodules is not a circle
            graph[m].add(t)
    state: dict[str, int] = {}
    circles = []

    def walk(node, path):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                walk(nxt, path + [nxt])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            walk(m, [m])
    assert circles == []


# Every import of a module of ours made inside a function, each named with the heavy package it keeps out of the
# importer (the test checks it still does). A new one is a choice to write down here, not a habit.
DEFERRED = {
    ("deployprof.cli_options", "deployprof.report.terminal"): "rich: only the commands that print tables load it",
    ("deployprof.cli.exporting", "deployprof.lerobot.export"): "torch: only `export --lerobot` needs LeRobot's",
    ("deployprof.export", "deployprof.vla"): "torch: profiling an existing ONNX export never builds a preset",
    ("deployprof.pipeline", "deployprof.lerobot.export"): "torch: only a LeRobot checkpoint subject needs it",
    ("deployprof.train", "deployprof.vla"): "torch: the trainer's module is built when train-bench runs",
    ("deployprof.backends.torch_backend", "deployprof.vla"): "torch: the registry lists the backend without it",
    ("deployprof.report.terminal", "deployprof.vla"): "torch: `models` builds the presets; other tables do not",
}
MAX_DEFERRED = 10


def test_imports_inside_functions_are_few_each_named_and_each_defers_something_heavy():
    inside = [(m, t, line) for m, t, top, line in own_edges() if not top]
    statements = {(m, line) for m, _, line in inside}
    assert len(statements) <= MAX_DEFERRED, sorted(statements)
    unnamed = [f"{m}:{line} imports {t} inside a function: import it at the top, or name it in DEFERRED"
               for m, t, line in inside if (m, t) not in DEFERRED]
    assert unnamed == []
    needless = [f"{m} -> {t} defers nothing heavy now: import it at the top" for m, t in DEFERRED
                if not heavy_closure(t) - heavy_closure(m)]
    assert needless == []
    assert {(m, t) for m, t, _ in inside} == set(DEFERRED), "a named deferral no longer exists: drop it"


def test_the_command_line_loads_each_command_module_only_when_it_runs():
    """cli.COMMANDS (click's lazy subcommands) names each command's module: they sit in the views layer, and the
    group itself stays light (its one import of them is importlib's, by name)."""
    table = ast.literal_eval(next(node.value for node in ast.parse(MODULES["deployprof.cli"].read_text()).body
                                  if isinstance(node, ast.AnnAssign) and ast.unparse(node.target) == "COMMANDS"))
    for module, _, _ in table.values():
        assert f"deployprof.cli.{module}" in MODULES and layer_of(f"deployprof.cli.{module}") == len(LAYERS) - 1


@pytest.mark.parametrize("module", ["deployprof.cli", "deployprof.cli_options", "deployprof.config"])
def test_start_up_modules_bring_nothing_heavy_but_click(module):
    """`deployprof --help` and every --json command start by importing these: click is the CLI itself."""
    assert heavy_closure(module) <= {"click"}
