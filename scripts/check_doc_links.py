"""Check (or fix) the code references of the docs site: by symbol, never by line number.

A code reference is a Markdown reference link whose target is a dotted path into the project,

    [`ratio = log_ratio.exp()`][algorithms.losses.ppo_loss]
    [`dqn_loss`][algorithms.losses.dqn_loss]

The path must name a module file under ``tinygrad_rl/``, ``algorithms/`` or ``envs_wrappers/`` and a
symbol in it (a module-level function, class or assignment, a method of a class, or a name the module
imports from another module of the project, followed). When the label is inline code other than the
symbol's own name, that code must appear in the symbol's source (whitespace ignored). A path in inline
code that names a project file (`` `scripts/minimal_dqn.py` ``) must exist, so must a dotted name in
inline code (`` `algorithms.trainers` ``, `` `tinygrad_rl.graph.summary` ``) and every ``from ... import``
of the project in a ```` ```python ```` block, and every ``::: module`` of the API pages; and no page may
link to a line number (``#L89``). Nothing is imported: each module file is read with ``ast``.

Code moves. ``--fix`` rewrites each reference that no longer resolves to the one symbol of the project
whose name is the same (and whose source holds the code, for a code label), when there is exactly one.

    python scripts/check_doc_links.py [--fix]
"""
from __future__ import annotations

import argparse
import ast
import re
import sys
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGES = ("tinygrad_rl", "algorithms", "envs_wrappers")
REF = re.compile(r"\[(`[^`]+`|[^\]]+)\]\[((?:%s)(?:\.\w+)*)\]" % "|".join(PACKAGES))
LINE_ANCHOR = re.compile(r"\]\([^)\s]*#L\d+(?:-L\d+)?\)")
FILE_SPAN = re.compile(r"`((?:%s|scripts|tests|docs)/[\w./-]+\.(?:py|toml|md))`" % "|".join(PACKAGES))
DOTTED_SPAN = re.compile(r"`((?:%s)(?:\.\w+)*)`" % "|".join(PACKAGES))
API_DIRECTIVE = re.compile(r"^::: ([\w.]+)", re.M)
PY_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
SKIP = ("benchmark",)        # generated benchmark reports are not hand-written pages


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def module_file(root: Path, dotted: str) -> Path | None:
    base = root.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=None)
def _parse(path: Path) -> tuple[ast.Module, str]:
    text = path.read_text()
    return ast.parse(text), text


def _named(body, name: str):
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return node
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return node
    return None


def _imported(root: Path, path: Path, tree: ast.Module, name: str) -> str | None:
    """The dotted module a ``from ... import name`` in this module file brings ``name`` from."""
    package = ".".join(path.relative_to(root).with_suffix("").parts)
    if path.name == "__init__.py":
        package = package.rsplit(".", 1)[0] if package.endswith(".__init__") else package
        package = package.removesuffix(".__init__")
    else:
        package = package.rsplit(".", 1)[0]
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == name for a in node.names):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                return ".".join(base + ([node.module] if node.module else []))
            return node.module
    return None


def resolve(identifier: str, root: Path = ROOT) -> tuple[Path, str] | None:
    """(module file, source of the symbol) for a dotted path, or None when it does not resolve."""
    parts = identifier.split(".")
    for split in range(len(parts), 0, -1):
        path = module_file(root, ".".join(parts[:split]))
        if path is None:
            continue
        names = parts[split:]
        tree, text = _parse(path)
        if not names:
            return path, text
        node = _named(tree.body, names[0])
        if node is None:
            source = _imported(root, path, tree, names[0])
            if source and source.split(".")[0] in PACKAGES and source != ".".join(parts[:split]):
                return resolve(".".join([source] + names), root)
            return None
        for name in names[1:]:
            if not isinstance(node, ast.ClassDef):
                return None
            node = _named(node.body, name)
            if node is None:
                return None
        return path, ast.get_source_segment(text, node) or ""
    return None


def _holds(label: str, identifier: str, source: str) -> bool:
    if not label.startswith("`"):
        return True
    code = label.strip("`").replace("\\|", "|")   # a | in a table cell is written \|
    name = code[:-2] if code.endswith("()") else code
    if name == identifier or identifier.endswith("." + name):   # the symbol's own (dotted) name
        return True
    return _squash(code) in _squash(source)


def all_symbols(root: Path = ROOT) -> list[str]:
    """Every module-level symbol and method of the project's packages, as dotted paths."""
    out = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            module = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
            tree, _ = _parse(path)
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    out.append(f"{module}.{node.name}")
                    if isinstance(node, ast.ClassDef):
                        out += [f"{module}.{node.name}.{sub.name}" for sub in node.body
                                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return out


def _relocate(label: str, identifier: str, root: Path) -> str | None:
    tail = identifier.split(".")
    tail = ".".join(tail[-2:]) if len(tail) > 2 and tail[-2][:1].isupper() else tail[-1]
    found = [s for s in all_symbols(root) if s == tail or s.endswith("." + tail)]
    found = [s for s in found if _holds(label, s, resolve(s, root)[1])]
    return found[0] if len(found) == 1 else None


def pages(docs: Path) -> list[Path]:
    return sorted(p for p in docs.rglob("*.md") if not set(p.relative_to(docs).parts[:-1]) & set(SKIP))


def check(fix: bool = False, docs: Path = DOCS, root: Path = ROOT) -> list[str]:
    """Problems found (after fixing what can be fixed when ``fix``); an empty list when all is well."""
    problems = []
    for doc in pages(docs):
        text = doc.read_text()
        where = doc.relative_to(root) if doc.is_relative_to(root) else doc
        changed = False
        for match in LINE_ANCHOR.finditer(text):
            problems.append(f"{where}: a line anchor {match.group(0)[2:-1]}: link code by symbol instead")
        for match in FILE_SPAN.finditer(text):
            if not (root / match.group(1)).exists():
                problems.append(f"{where}: `{match.group(1)}` does not exist")

        for match in DOTTED_SPAN.finditer(text):
            if resolve(match.group(1), root) is None:
                problems.append(f"{where}: `{match.group(1)}` names no module or symbol of the project")
        for match in API_DIRECTIVE.finditer(text):
            if resolve(match.group(1), root) is None:
                problems.append(f"{where}: the API directive `::: {match.group(1)}` names no module of the project")
        for block in PY_BLOCK.finditer(text):
            try:
                tree = ast.parse(block.group(1))
            except SyntaxError as error:
                problems.append(f"{where}: a python block does not parse: {error}")
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
                    for alias in node.names:
                        if resolve(f"{node.module}.{alias.name}", root) is None:
                            problems.append(f"{where}: `from {node.module} import {alias.name}` does not resolve")

        def visit(match: re.Match) -> str:
            nonlocal changed
            label, identifier = match.groups()
            found = resolve(identifier, root)
            if found is not None and _holds(label, identifier, found[1]):
                return match.group(0)
            moved = _relocate(label, identifier, root)
            what = "does not resolve" if found is None else f"does not hold {label}"
            if fix and moved:
                changed = True
                return f"[{label}][{moved}]"
            problems.append(f"{where}: [{label}][{identifier}] {what}"
                            + (f" (it is now {moved}: run with --fix)" if moved else ""))
            return match.group(0)

        new_text = REF.sub(visit, text)
        if fix and changed:
            doc.write_text(new_text)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fix", action="store_true", help="point each moved reference at its symbol's new place")
    problems = check(parser.parse_args().fix)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
