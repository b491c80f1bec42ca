"""The package's import graph, read from the source with ``ast`` (nothing is imported or run).

Imports point one way -- command line -> run management -> loops -> losses, buffers, networks,
model-based parts -> ``tinygrad_rl`` and ``envs_wrappers`` -- so a reader can learn the layers
bottom up and a change low down cannot need a change high up. The tests fail on:

- a cycle between modules (a strongly connected component of the module-level import graph);
- an import that points up the layers of ``algorithms`` (see ``LAYERS``);
- a private name (``_x``, not a dunder) imported from another of our modules, or read off one as an
  attribute (``module._x``): a private name is free to change with its own module;
- an import inside a function, unless it loads an optional extra (``OPTIONAL_EXTRAS``) or a
  platform module: an import hidden in a function is how a cycle is usually dodged.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tinygrad_rl", "envs_wrappers", "algorithms")

# Imports inside a function that load what a plain `pip install -e .` may not have (or what only one
# platform has), so that the package imports without them and says what to install when one is needed.
OPTIONAL_EXTRAS = {
    "tensorboardX": "the `tensorboard` extra",
    "PIL": "the `render` extra (recording)",
    "imageio": "the `video` extra (recording to .mp4)",
    "imageio_ffmpeg": "the `video` extra (recording to .mp4)",
    "ray": "the `ray` extra (benchmark backend)",
    "minatar": "the `minatar` extra (MinAtar's games, GPL-3.0: never a core dependency)",
    "matplotlib": "drawing a graph (tinygrad_rl itself imports only NumPy)",
    "fcntl": "POSIX file locks (not on Windows)",
    "msvcrt": "Windows file locks (only on Windows)",
    # Within the package: the benchmark's sweep backends need scipy (the `stats` extra), which the
    # benchmark command checks for first, so `tinygrad-rl train` runs without it.
    "algorithms.benchmark.backends": "scipy, the `stats` extra",
}

ENGINE_PENDING: dict[str, str] = {}   # places in the engine reported but not failing (none now)

# Layers of algorithms/, top (command line) to bottom; a module may import its own layer or lower.
# The engine and the env wrappers are layer 0; the first matching prefix wins.
LAYERS = [
    (6, ("algorithms.__main__", "algorithms.runs.cli")),
    (5, ("algorithms.runs.study", "algorithms.runs.compare_runs", "algorithms.runs.arguments",
         "algorithms.benchmark")),
    (4, ("algorithms.runs.experiment", "algorithms.runs.record", "algorithms.runs.summary",
         "algorithms.runs.run_folder", "algorithms.runs.plots", "algorithms.runs.tensorboard_log",
         "algorithms.runs.resources", "algorithms.runs.checkpoint_checks",
         "algorithms.presets", "algorithms.builtin")),
    (3, ("algorithms.loops", "algorithms.trainers")),
    (2, ("algorithms.losses", "algorithms.buffers", "algorithms.networks", "algorithms.model_based",
         "algorithms.registry", "algorithms.configs", "algorithms.tabular")),
    # What the loops write through: atomic files and weights, resumable state, process settings.
    (1, ("algorithms.runs.checkpoint", "algorithms.runs.resume", "algorithms.runs.threads",
         "algorithms.runs.safe_files", "algorithms.runs.memory_limits", "algorithms.runs.streams",
         "algorithms.startup")),
    (0, ("tinygrad_rl", "envs_wrappers")),
]
PACKAGE_FACES = {"algorithms": 4, "algorithms.runs": 1}   # algorithms/__init__ registers the built-ins


def layer(module: str) -> int:
    if module in PACKAGE_FACES:
        return PACKAGE_FACES[module]
    for rank, prefixes in LAYERS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise KeyError(f"{module} has no layer in tests/test_import_graph.py's LAYERS; add it where it belongs")


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    imports: set = field(default_factory=set)             # module-level imports of our modules
    private: list = field(default_factory=list)           # (line, what) private names taken from another module
    in_functions: list = field(default_factory=list)      # (line, imported module) imports inside a function


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def read_modules() -> dict[str, Module]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = module_name(path)
            modules[name] = Module(name, path, path.name == "__init__.py")
    for module in modules.values():
        _read_imports(module, modules)
    return modules


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.name.split(".")
    if not module.is_package:
        base = base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _read_imports(module: Module, modules: dict[str, Module]) -> None:
    tree = ast.parse(module.path.read_text(), filename=str(module.path))
    aliases = {}                                      # local name -> our module it is bound to
    in_function = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            in_function.update(id(sub) for sub in ast.walk(node) if sub is not node)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [(alias.name, alias.asname or alias.name.split(".")[0], alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            targets = []
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if sub in modules:                    # `from package import module`
                    targets.append((sub, alias.asname or alias.name, sub))
                else:
                    targets.append((source, None, source))
                    if alias.name.startswith("_") and not alias.name.startswith("__") and source in modules \
                            and source != module.name:
                        module.private.append((node.lineno, f"{alias.name} from {source}"))
        else:
            continue
        for target, bound, raw in targets:
            if id(node) in in_function:
                if (node.lineno, raw) not in module.in_functions:
                    module.in_functions.append((node.lineno, raw))
            elif target in modules or target.split(".")[0] in PACKAGES:
                if target in modules:
                    module.imports.add(target)
                if bound is not None and target in modules:
                    aliases[bound] = target
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases \
                and node.attr.startswith("_") and not node.attr.startswith("__") \
                and aliases[node.value.id] != module.name:
            module.private.append((node.lineno, f"{aliases[node.value.id]}.{node.attr}"))


def _where(module: Module) -> str:
    return str(module.path.relative_to(ROOT))


def pending(module: Module) -> bool:
    return _where(module) in ENGINE_PENDING


def cycles(modules: dict[str, Module]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan 1972), iteratively."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(sorted(modules[root].imports)))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(modules[child].imports))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    return read_modules()


def test_the_graph_is_read(modules):
    assert {"algorithms.runs.cli", "algorithms.loops.training_run", "algorithms.losses.value_based",
            "tinygrad_rl.tensor", "envs_wrappers.registry"} <= set(modules)
    assert "algorithms.loops.training_run" in modules["algorithms.loops.off_policy"].imports
    assert "algorithms.losses" in modules["algorithms.loops.off_policy"].imports


def test_no_cycle_between_modules(modules):
    assert cycles(modules) == []


def test_imports_point_down_the_layers(modules):
    upward = [f"{_where(m)} (layer {layer(m.name)}) imports {target} (layer {layer(target)})"
              for m in modules.values() for target in sorted(m.imports) if layer(target) > layer(m.name)]
    assert upward == []


def test_the_engine_imports_only_itself_and_numpy(modules):
    outside = [f"{_where(m)} imports {target}" for m in modules.values() if m.name.startswith("tinygrad_rl")
               for target in m.imports if not target.startswith("tinygrad_rl")]
    assert outside == []


def test_no_private_name_is_taken_from_another_module(modules):
    taken = [f"{_where(m)}:{line}: {what}" for m in modules.values() if not pending(m) for line, what in m.private]
    assert taken == []


def test_imports_inside_functions_load_only_optional_extras(modules):
    hidden = [f"{_where(m)}:{line}: {target}" for m in modules.values() if not pending(m)
              for line, target in m.in_functions
              if not any(target == extra or target.startswith(extra + ".") for extra in OPTIONAL_EXTRAS)]
    assert hidden == []


def test_the_checks_see_what_they_forbid(tmp_path):
    """A cycle, a private import and a hidden import, in a throwaway tree shaped like ours."""
    package = tmp_path / "algorithms"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import _helper\n")
    (package / "b.py").write_text("from . import a\n\ndef f():\n    from . import a\n\n_helper = 1\n")
    found = {}
    for path in sorted(package.glob("*.py")):
        name = ".".join(path.relative_to(tmp_path).with_suffix("").parts).removesuffix(".__init__")
        found[name] = Module(name, path, path.name == "__init__.py")
    for module in found.values():
        _read_imports(module, found)
    assert cycles(found) == [["algorithms.a", "algorithms.b"]]
    assert found["algorithms.a"].private == [(1, "_helper from algorithms.b")]
    assert found["algorithms.b"].in_functions == [(4, "algorithms.a")]


if __name__ == "__main__":
    everything = read_modules()
    for m in everything.values():
        for line, what in m.private + [(line, f"inside a function: {t}") for line, t in m.in_functions]:
            print(f"{_where(m)}:{line}: {what}" + ("  (engine, pending)" if pending(m) else ""))
    print("cycles:", cycles(everything) or "none")
