"""docs/algorithms/: one page per algorithm whose code links point at the lines that hold the code."""
import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["dp", "td", "mc", "reinforce", "dqn", "double_dqn", "a2c", "ppo"]


def checker():
    spec = importlib.util.spec_from_file_location("check_doc_links", ROOT / "scripts" / "check_doc_links.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_code_link_points_at_its_code():
    problems = checker().check(fix=False)
    assert problems == [], "\n".join(problems) + "\n(run: python scripts/check_doc_links.py --fix)"


@pytest.mark.parametrize("page", PAGES)
def test_each_page_has_the_rule_the_code_the_pitfalls_and_a_figure(page):
    text = (ROOT / "docs" / "algorithms" / f"{page}.md").read_text()
    for heading in ("## The update rule", "## Each symbol in the code", "## Pitfalls", "## The figure"):
        assert heading in text
    assert len(re.findall(r"\]\(\.\./\.\./[^)]+#L\d+\)", text)) >= 4
    assert "truncat" in text.lower() or page == "dp"
    for figure in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (ROOT / "docs" / "algorithms" / figure).resolve().is_file(), figure


def test_the_fixer_moves_an_anchor_to_the_line_that_holds_the_code(tmp_path):
    module = checker()
    docs = tmp_path / "docs" / "algorithms"
    docs.mkdir(parents=True)
    page = docs / "x.md"
    page.write_text("[`ratio = log_ratio.exp()`](../../algorithms/losses.py#L3)\n")
    module.ROOT = tmp_path                   # the page is resolved relative to its own folder
    (tmp_path / "algorithms").mkdir()
    (tmp_path / "algorithms" / "losses.py").write_text("a = 1\nb = 2\nc = 3\n\n    ratio = log_ratio.exp()\n")
    assert "line 3 does not hold" in module.check(fix=False, docs=docs)[0]
    assert module.check(fix=True, docs=docs) == []
    assert page.read_text() == "[`ratio = log_ratio.exp()`](../../algorithms/losses.py#L5)\n"


def resolve(reference: str):
    """``pkg.module.Symbol.attr`` to the object it names: the longest importable module, then attributes."""
    parts = reference.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(reference)


def test_the_engine_reading_path_names_code_that_exists():
    """docs/engine/reading_path.md follows one DQN update by symbol; every symbol it names must exist."""
    text = (ROOT / "docs" / "engine" / "reading_path.md").read_text()
    references = set(re.findall(r"`((?:algorithms|tinygrad_rl)(?:\.\w+)+)`", text))
    assert {"algorithms.losses.dqn_loss", "tinygrad_rl.tensor.apply", "tinygrad_rl.tensor.Tensor.backward",
            "tinygrad_rl.optim.Adam", "algorithms.loops.off_policy.train_off_policy"} <= references
    for reference in sorted(references):
        assert resolve(reference) is not None, reference
    assert "#L" not in text  # by symbol, never by line number
