"""The README is a front door whose claims are checked, and every command the docs show writes under
runs/ (git-ignored) or a path the user names, never into tracked files."""
import configparser
import re
import subprocess
import sys
from pathlib import Path

from algorithms.runs.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PRESET_ENVS = sorted(p.stem for p in (ROOT / "algorithms" / "presets").glob("*.toml"))
OUTPUT_OPTIONS = ("--out", "--record")


def documented_texts() -> dict[str, str]:
    """README, every docs page, and the docstrings of the scripts (their documented commands)."""
    texts = {"README.md": README}
    texts.update({str(p.relative_to(ROOT)): p.read_text() for p in sorted((ROOT / "docs").rglob("*.md"))
                  if "benchmark" not in p.parts})
    texts.update({str(p.relative_to(ROOT)): p.read_text() for p in sorted((ROOT / "scripts").glob("*.py"))})
    return texts


def is_allowed_output(path: str) -> bool:
    """Under runs/, the docs build's temporary {out}, or a placeholder the user fills in (FILE.gif, DIR, OUT/x)."""
    path = path.strip("`'\",;)")
    return (path.startswith(("runs/", "{out}", "...", "$")) or re.match(r"^[A-Z][A-Z_]*(\.[a-z0-9]+|/.*)?$", path)
            is not None or path.startswith("/tmp/"))


def test_the_readme_is_a_short_front_door():
    assert len(README.splitlines()) <= 250
    for heading in ("## Set up", "## Quick start 1: train, evaluate, watch", "## Quick start 2: write your own loss",
                    "## Quick start 3: study a gradient", "## Results", "## License"):
        assert heading in README


def test_the_readmes_test_line_is_what_ci_runs_and_says_what_it_installs():
    ci = (ROOT / ".ci" / "run").read_text()
    line = 'pip install -e ".[test,stats,ray]" && pytest -q'
    assert line in ci.splitlines() and line in README
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    extras = setup["options.extras_require"]
    assert "ray" in extras["ray"] and "tensorboard" in extras["test"]
    said = README[README.index("## Set up"):README.index("## Quick start 1")]
    for claim in ("Ray", "TensorBoard", "SciPy", "MkDocs", " MB", "minutes"):
        assert claim in said, claim


def test_license_and_changelog_exist_and_the_readme_links_them():
    assert "](LICENSE)" in README and "](CHANGELOG.md)" in README
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    assert "MIT" in setup["metadata"]["license"]
    assert (ROOT / "CHANGELOG.md").is_file() and "](changelog.md)" not in README


def test_the_readme_does_not_hand_list_presets():
    """The presets page is generated from algorithms/presets/; a hand-kept list in the README goes stale."""
    for line in README.splitlines():
        named = {env for env in PRESET_ENVS if env in line}
        assert len(named) < 3, f"the README lists presets by hand: {line}"
    assert "docs/howto/presets.md" in README


def test_the_readmes_python_examples_run():
    blocks = re.findall(r"<!-- readme example: [\w -]+ -->\n```python\n(.*?)```", README, re.S)
    assert blocks
    for block in blocks:
        done = subprocess.run([sys.executable, "-c", block], cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        assert done.returncode == 0, done.stderr


def test_documented_commands_write_under_runs_or_a_path_the_user_names():
    offenders = []
    for name, text in documented_texts().items():
        for option in OUTPUT_OPTIONS:
            for match in re.finditer(rf"(?<![\w-]){option}[ =]([^\s`|]+)", text):
                if not is_allowed_output(match.group(1)):
                    offenders.append(f"{name}: {option} {match.group(1)}")
    assert offenders == []


def test_shown_command_output_is_generated_not_typed():
    """Output of train, graph, gradcheck and list shown in the docs comes from the build's command-output
    marker; the README shows none."""
    for marker in ("command-output: train ", "command-output: graph ", "command-output: gradcheck ",
                   "command-output: list"):
        assert any(marker in text for text in documented_texts().values()), marker
    typed = re.compile(r"env steps/s \(training and final evaluation\)|\d+ tensors: \d+ ops|parameters pass\n")
    offenders = [name for name, text in documented_texts().items()
                 if name.endswith(".md") and typed.search(text)]
    assert offenders == []


def test_list_shows_the_tabular_methods_benchmark_runs(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    tabular = out[out.index("tabular (benchmark only"):]
    for name in ("q_learning", "sarsa", "expected_sarsa", "mc_control"):
        assert f"  {name}: envs FrozenLake-v1, CliffWalking-v1, Taxi-v4 (budget in episodes)" in tabular
    assert main(["list", "sarsa"]) == 0
    assert "sarsa: envs" in capsys.readouterr().out


def test_the_readmes_graph_command_works_where_runs_does_not_exist_yet(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["graph", "dqn", "CartPole-v1", "--out", "runs/dqn_graph.txt", "--set", "hidden=32,32",
                 "--batch", "32"]) == 0
    assert (tmp_path / "runs" / "dqn_graph.txt").read_text().startswith("dqn loss")
