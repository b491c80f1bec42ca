"""docs/algorithms/: one page per algorithm whose code references name the symbol that holds the code."""
import importlib
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


def test_every_code_reference_names_the_symbol_that_holds_its_code():
    problems = checker().check(fix=False)
    assert problems == [], "\n".join(problems) + "\n(run: python scripts/check_doc_links.py --fix)"


@pytest.mark.parametrize("page", PAGES)
def test_each_page_has_the_rule_the_code_the_pitfalls_and_a_figure(page):
    text = (ROOT / "docs" / "algorithms" / f"{page}.md").read_text()
    for heading in ("## The update rule", "## Each symbol in the code", "## Pitfalls", "## The figure"):
        assert heading in text
    assert len(re.findall(r"\]\[(?:algorithms|tinygrad_rl|envs_wrappers)(?:\.\w+)+\]", text)) >= 4
    assert "truncat" in text.lower() or page == "dp"
    for figure in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (ROOT / "docs" / "algorithms" / figure).resolve().is_file(), figure


def _project(tmp_path, source):
    (tmp_path / "algorithms").mkdir()
    (tmp_path / "algorithms" / "__init__.py").write_text("from .losses import ppo_loss\n")
    (tmp_path / "algorithms" / "losses.py").write_text(source)
    docs = tmp_path / "docs"
    docs.mkdir()
    return docs


def test_a_reference_resolves_by_symbol_wherever_the_code_sits_in_the_file(tmp_path):
    module = checker()
    docs = _project(tmp_path, "import numpy\n\n\n\ndef ppo_loss(batch):\n    ratio = log_ratio.exp()\n")
    (docs / "x.md").write_text("[`ratio = log_ratio.exp()`][algorithms.losses.ppo_loss] "
                               "[`ppo_loss`][algorithms.ppo_loss]\n")
    assert module.check(docs=docs, root=tmp_path) == []


def test_a_missing_symbol_wrong_code_and_line_anchors_are_named(tmp_path):
    module = checker()
    docs = _project(tmp_path, "def ppo_loss(batch):\n    ratio = log_ratio.exp()\n")
    (docs / "x.md").write_text("[`ratio = 2`][algorithms.losses.ppo_loss]\n[`a`][algorithms.losses.a2c_loss]\n"
                               "[code](../algorithms/losses.py#L2)\n`scripts/nowhere.py`\n")
    problems = "\n".join(module.check(docs=docs, root=tmp_path))
    assert "does not hold `ratio = 2`" in problems
    assert "[algorithms.losses.a2c_loss] does not resolve" in problems
    assert "line anchor" in problems and "`scripts/nowhere.py` does not exist" in problems


def test_the_fixer_follows_a_symbol_that_moved_to_another_module(tmp_path):
    module = checker()
    docs = _project(tmp_path, "")
    (tmp_path / "algorithms" / "losses").mkdir()
    (tmp_path / "algorithms" / "losses" / "__init__.py").write_text("")
    (tmp_path / "algorithms" / "losses" / "ppo.py").write_text("def ppo_loss(batch):\n    ratio = log_ratio.exp()\n")
    (tmp_path / "algorithms" / "losses.py").unlink()
    page = docs / "x.md"
    page.write_text("[`ratio = log_ratio.exp()`][algorithms.losses.ppo_loss]\n")
    assert "it is now algorithms.losses.ppo.ppo_loss" in module.check(fix=False, docs=docs, root=tmp_path)[0]
    assert module.check(fix=True, docs=docs, root=tmp_path) == []
    assert page.read_text() == "[`ratio = log_ratio.exp()`][algorithms.losses.ppo.ppo_loss]\n"


def test_dotted_names_and_imports_in_python_blocks_must_resolve(tmp_path):
    module = checker()
    docs = _project(tmp_path, "def ppo_loss(batch):\n    return batch\n")
    (docs / "x.md").write_text("`algorithms.losses` and `algorithms.losses.ppo_loss` and `algorithms.gone`\n\n"
                               "```python\nfrom algorithms.losses import ppo_loss, a2c_loss\nimport numpy\n```\n")
    problems = module.check(docs=docs, root=tmp_path)
    assert problems == ["docs/x.md: `algorithms.gone` names no module or symbol of the project",
                        "docs/x.md: `from algorithms.losses import a2c_loss` does not resolve"]


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
