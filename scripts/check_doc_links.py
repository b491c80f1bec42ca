"""Check (or fix) the links from docs/algorithms/*.md into the code.

A link whose text is inline code and whose target carries a line anchor,

    [`ratio = log_ratio.exp()`](../../algorithms/losses/policy_gradient.py#L158)

must point at a line of that file that contains the code (whitespace ignored); every other relative
link must point at a file that exists. Code moves when it is edited, so ``--fix`` moves each anchor
to the line that holds its code now (the nearest such line when the code appears more than once).

    python scripts/check_doc_links.py [--fix]
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "algorithms"
LINK = re.compile(r"\[(`[^`]+`|[^\]]+)\]\(([^)#\s]+)(?:#L(\d+)(?:-L(\d+))?)?\)")


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _matching_lines(lines: list[str], code: str) -> list[int]:
    return [i + 1 for i, line in enumerate(lines) if code in _squash(line)]


def check(fix: bool = False, docs: Path = DOCS) -> list[str]:
    """Problems found (after fixing what can be fixed when ``fix``); an empty list when all is well."""
    problems = []
    for doc in sorted(docs.glob("*.md")):
        text = doc.read_text()
        changed = False

        def visit(match: re.Match) -> str:
            nonlocal changed
            label, target, start, end = match.groups()
            if "://" in target or target.startswith("#"):
                return match.group(0)
            path = (doc.parent / target).resolve()
            where = f"{doc.relative_to(ROOT)}: [{label}]({target}{'#L' + start if start else ''})"
            if not path.is_file():
                problems.append(f"{where}: {target} does not exist")
                return match.group(0)
            if start is None or not label.startswith("`"):
                return match.group(0)
            lines = path.read_text().splitlines()
            first, last = int(start), int(end or start)
            code = _squash(label.strip("`").replace("\\|", "|"))  # a | in a table cell is written \|
            if 1 <= first <= last <= len(lines) and code in _squash("".join(lines[first - 1:last])):
                return match.group(0)
            candidates = _matching_lines(lines, code)
            if not fix or not candidates:
                problems.append(f"{where}: line {first} does not hold `{label.strip('`')}`"
                                + ("" if candidates else " and no line of the file does"))
                return match.group(0)
            line = min(candidates, key=lambda n: abs(n - first))
            changed = True
            return f"[{label}]({target}#L{line})"

        new_text = LINK.sub(visit, text)
        if fix and changed:
            doc.write_text(new_text)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fix", action="store_true", help="move each anchor to the line that holds its code")
    problems = check(parser.parse_args().fix)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
