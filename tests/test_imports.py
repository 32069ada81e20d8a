"""The import graph follows the flow: no circle, no import from a lower layer to a higher one,
no runtime module reaching the exporter, and a package face that loads nothing heavy."""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "stemboard"

# Lower numbers are lower layers; a module may import its own layer or lower ones only.
LAYERS = {
    "stemboard.version": 0,
    "stemboard.errors": 0,
    "stemboard.lazy": 0,
    "stemboard.choices": 0,
    "stemboard.atomic": 0,
    "stemboard.digest": 0,
    "stemboard.console": 0,
    "stemboard.offline": 0,
    "stemboard.templates": 0,
    "stemboard.model_format": 0,
    "stemboard.registry": 0,
    "stemboard.protobuf": 0,
    "stemboard.file_lock": 0,
    "stemboard.signals": 0,
    "stemboard.input_files": 0,
    "stemboard.audio": 1,
    "stemboard.synth": 1,
    "stemboard.export": 1,
    "stemboard.pretrained": 1,
    "stemboard.node": 2,
    "stemboard.evaluation": 2,
    "stemboard.graph": 3,
    "stemboard.render": 4,
    "stemboard.sessions": 4,
    "stemboard.models": 4,
    "stemboard.batch": 5,
    "stemboard.demo": 5,
    "stemboard.studio": 5,
    "stemboard.cli": 5,
    "stemboard": 6,
}
RUNTIME = (
    "stemboard.audio",
    "stemboard.node",
    "stemboard.graph",
    "stemboard.render",
    "stemboard.studio",
)
HEAVY = (
    "onnxruntime",
    "openvino",
    "pedalboard",
    "yaml",
    "torch",
    "matplotlib",
    "starlette",
    "uvicorn",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules_in(package: Path) -> dict[str, Path]:
    return {
        ".".join(path.relative_to(package.parent).with_suffix("").parts).removesuffix(
            ".__init__"
        ): path
        for path in package.rglob("*.py")
    }


@functools.cache
def modules() -> dict[str, Path]:
    return modules_in(PACKAGE)


def imports_of(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports, at any depth of its code (lazy imports included).

    ``from package import submodule`` counts as importing the submodule, as ``import
    package.submodule`` does; a package's own ``__init__`` runs first either way and is not an
    edge (a package face imports nothing of its own, test_the_package_face_loads_nothing_heavy).
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            submodules = {f"{base}.{alias.name}" for alias in node.names}
            if not submodules & set(modules()):
                found.add(base)
            found.update(submodules)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    edges = {}
    for name, path in known.items():
        edges[name] = {target for target in imports_of(name, path) if target in known} - {name}
    return edges


def layer(name: str) -> int:
    """The layer of ``name``: its own entry, or its package's (``stemboard.node.stream`` is in
    ``stemboard.node``); the package face ``stemboard`` is only itself. KeyError when none."""
    listed = [
        prefix
        for prefix in LAYERS
        if name == prefix or (prefix != "stemboard" and name.startswith(prefix + "."))
    ]
    if not listed:
        raise KeyError(f"{name} is in no layer: add it to LAYERS (and to the README's table)")
    return LAYERS[max(listed, key=len)]


def unlisted(names) -> list[str]:
    """The modules no layer lists."""
    missing = []
    for name in names:
        try:
            layer(name)
        except KeyError:
            missing.append(name)
    return missing


def test_every_module_has_a_layer():
    assert unlisted(modules()) == []


def test_a_module_no_layer_lists_fails_the_layer_check(tmp_path):
    package = tmp_path / "stemboard"
    (package / "node").mkdir(parents=True)
    for name in ("__init__.py", "errors.py", "node/__init__.py", "node/new.py", "surprise.py"):
        (package / name).write_text('"""A module."""\n')
    assert unlisted(modules_in(package)) == ["stemboard.surprise"]


def test_the_import_graph_has_no_circle():
    edges = graph()
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "open":
            cycle = [*path[path.index(name) :], name]
            pytest.fail("import circle: " + " -> ".join(cycle))
        state[name] = "open"
        for target in sorted(edges[name]):
            visit(target, [*path, name])
        state[name] = "done"

    for name in sorted(edges):
        visit(name, [])


def test_no_module_imports_a_higher_layer():
    upward = [
        f"{name} ({layer(name)}) -> {target} ({layer(target)})"
        for name, targets in graph().items()
        for target in targets
        if layer(target) > layer(name)
    ]
    assert upward == []


def reachable(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in edges[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_no_runtime_module_reaches_the_exporter_or_torch():
    edges = graph()
    known = modules()
    for name in edges:
        if not name.startswith(RUNTIME):
            continue
        reached = reachable(name, edges) | {name}
        assert not [m for m in reached if m.startswith("stemboard.export")], name
        for module in reached:
            assert not {i for i in imports_of(module, known[module]) if i.startswith("torch")}


def test_the_exporter_imports_only_the_base_layer_and_the_torch_free_binding():
    edges = graph()
    for name, targets in edges.items():
        if name.startswith("stemboard.export"):
            assert all(
                t.startswith(("stemboard.export", "stemboard.pretrained")) or layer(t) == 0
                for t in targets
            ), name


@pytest.mark.parametrize("module", ["stemboard", "stemboard.registry", "stemboard.errors"])
def test_the_package_face_loads_nothing_heavy(module):
    code = f"import sys, {module}; print(sorted(set({HEAVY!r}) & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_package_face_still_gives_every_public_name():
    code = (
        "import stemboard\n"
        "for name in stemboard.__all__: getattr(stemboard, name)\n"
        "print(stemboard.SeparatorNode.__module__, stemboard.render_file.__module__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["stemboard.node.separator", "stemboard.render"]
