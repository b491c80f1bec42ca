"""The docs site: it builds strictly, every registered algorithm and every course week has its page,
the generated parts hold what their sources say, and no page links code by line number."""
import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from algorithms.registry import algorithm_names

pytestmark = pytest.mark.xdist_group("docs_site")   # the site is built once, on one worker

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# The tabular methods have pages too, one each (TD covers SARSA, Q-learning and expected SARSA).
TABULAR_PAGES = ["dp", "td", "mc", "dyna", "prioritized_sweeping", "exploration"]
COURSE_WEEKS = {1: "week1_", 2: "week2_", 3: "week3_", 4: "week4_", 5: "week5_", 6: "week6_", 7: "week7_"}
TEMPLATE = ("## The update rule", "## Pseudocode", "## Each symbol in the code", "## Hyperparameters",
            "## Results on report seeds", "## References")


def nav_pages() -> list[str]:
    yaml = pytest.importorskip("yaml", reason="PyYAML (installed with mkdocs) reads mkdocs.yml")

    class Loader(yaml.SafeLoader):   # mkdocs.yml's tags (!relative) are read as plain data here
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)

    def walk(item):
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            for value in item.values():
                yield from walk(value)
        elif isinstance(item, list):
            for value in item:
                yield from walk(value)

    return list(walk(config["nav"]))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed: pip install -e '.[docs]' (part of the test extra)")
    pytest.importorskip("material", reason="mkdocs-material is not installed: pip install -e '.[docs]'")
    pytest.importorskip("mkdocstrings", reason="mkdocstrings is not installed: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_the_site_builds_strictly_with_search_and_offline_assets(site):
    index = json.loads((site / "search" / "search_index.json").read_text())
    assert len(index["docs"]) > 50
    home = (site / "index.html").read_text()
    assert "fonts.googleapis" not in home and "fonts.gstatic" not in home
    for script in re.findall(r'<script[^>]+src="([^"]+)"', home):
        assert "://" not in script, f"the home page loads a script from the network: {script}"
    assert (site / "assets" / "katex" / "katex.min.js").is_file()
    assert (DOCS / "assets" / "katex" / "LICENSE").is_file()


def test_every_registered_algorithm_and_tabular_method_has_its_page_in_the_nav():
    nav = set(nav_pages())
    for name in [*algorithm_names(), *TABULAR_PAGES]:
        page = f"algorithms/{name}.md"
        assert page in nav, f"{page} is not in mkdocs.yml's nav"
        text = (DOCS / page).read_text()
        for heading in TEMPLATE:
            assert heading in text, f"{page} lacks {heading!r}"


def test_every_course_week_has_its_page_in_the_nav():
    course = [p for p in nav_pages() if p.startswith("course/week")]
    for week, prefix in COURSE_WEEKS.items():
        pages = [p for p in course if Path(p).name.startswith(prefix)]
        assert pages, f"no course page for week {week}"
        for page in pages:
            text = (DOCS / page).read_text()
            assert "$$" in text and "## Reproduce the figures" in text and "![" in text, page


def test_every_nav_page_exists():
    missing = [p for p in nav_pages() if not (DOCS / p).is_file()]
    assert missing == [], missing


def test_no_page_links_code_by_line_number():
    anchor = re.compile(r"\]\([^)\s]*#L\d+(?:-L\d+)?\)")
    offenders = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in DOCS.rglob("*.md")
                 for m in anchor.finditer(p.read_text())]
    assert offenders == []


def test_results_pages_are_generated_from_the_benchmark_records(site):
    report = (site / "results" / "report_seeds" / "index.html").read_text()
    tuning = (site / "results" / "tuning_seeds" / "index.html").read_text()
    for summary in DOCS.joinpath("benchmark").rglob("summary.csv"):
        seeds = {json.loads(line)["cell"]["seed"] for line in (summary.parent / "runs.jsonl").read_text().splitlines()
                 if line.strip()}
        page = report if min(seeds) >= 100 else tuning
        for row in csv.DictReader(summary.open()):
            assert f"{float(row['mean']):,.2f}" in page, (summary, row["algorithm"])


def test_minatar_tables_are_generated_from_the_results_files(site):
    page = (site / "minatar" / "index.html").read_text()
    shown = re.findall(r"minatar-results:\s*(\S+)\s*-->", (DOCS / "minatar.md").read_text())
    assert shown, "docs/minatar.md shows no results file"
    for path in shown:
        results = json.loads((DOCS / path).read_text())["results"]
        for key, values in results.items():
            mean = sum(values.values()) / len(values)
            assert f">{mean:.2f}</td>" in page, (path, key)
            assert ", ".join(f"{values[s]:.2f}" for s in sorted(values, key=int)) in page, (path, key)


def test_preset_tables_and_command_output_are_generated(site):
    dqn = (site / "algorithms" / "dqn" / "index.html").read_text()
    assert "algorithms/presets/CartPole-v1.toml" in dqn and "lr_end_fraction" in dqn
    listing = (site / "algorithms" / "index.html").read_text()
    for name in algorithm_names():
        assert f"{name}:" in listing
    graph = (site / "engine" / "graph" / "index.html").read_text()
    assert re.search(r"\d+ tensors: \d+ ops", graph)
    assert "Being written" in (site / "engine" / "reading_path" / "index.html").read_text() \
        or (DOCS / "engine" / "reading_path.md").is_file()


def test_the_changelog_is_included(site):
    assert "## Unreleased" in (ROOT / "CHANGELOG.md").read_text()
    assert "Unreleased" in (site / "changelog" / "index.html").read_text()


def test_the_built_search_finds_pages(site):
    import shutil
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: the site's search worker is JavaScript (apt-get install -y nodejs)")
    done = subprocess.run([node, str(ROOT / "scripts" / "docs_search_check.js"), str(site), "prioritized sweeping"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "algorithms/prioritized_sweeping/" in json.loads(done.stdout)
