"""MkDocs hooks of the docs site: the parts of pages that are generated at build time, never typed.

Each marker is an HTML comment on a line of its own.

- ``<!-- presets: NAME -->`` becomes a table of the preset values of algorithm NAME, one column per
  environment, read from the preset TOML files (``extends`` resolved), with each section's comments.
- ``<!-- results: report -->`` / ``<!-- results: tuning -->`` become the tables of the benchmark records
  under ``docs/benchmark/`` (``summary.csv`` beside ``runs.jsonl``): records whose seeds are all >= 100
  (the report seeds, never used for tuning) on one page, every other record on the other.
- ``<!-- minatar-results: PATH -->`` becomes the tables of a ``scripts/bench_minatar.py`` results file
  (``PATH`` under ``docs/``): per game, each contender's seeds, mean and per-seed final greedy return and
  minutes of training per run.
- A code reference ``[label][module.Symbol.member]`` whose path has a private part (``_Run.optimize``)
  links to its nearest public parent, the object the API pages render; ``scripts/check_doc_links.py``
  checks the full path against the code.
- ``<!-- command-output: ARGS -->`` runs ``python -m algorithms ARGS`` (the ``tinygrad-rl`` command) and
  shows what it printed (``{out}/`` shown as ``runs/``), or the file it wrote when ARGS names ``{out}/FILE``;
  ``<!-- run-example: PATH -->``
  shows a Python example file and what running it printed. Shown output is made by the build, so it
  cannot go stale; a command that fails fails the build.
- Sphinx roles in docstrings (``:func:`x```) render as plain code in the API pages.

Nothing here imports the project's code: TOML, CSV and JSON are read as data, and commands run in a
subprocess.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
BENCHMARK = DOCS / "benchmark"
REPORT_SEED_MIN = 100
PACKAGES = ("tinygrad_rl", "algorithms", "envs_wrappers")
PRESETS = re.compile(r"(?m)^<!--\s*presets:\s*([\w-]+)\s*-->")
PRESETS_INDEX = re.compile(r"(?m)^<!--\s*presets-index\s*-->")
RESULTS = re.compile(r"(?m)^<!--\s*results:\s*(report|tuning)\s*-->")
COMMAND = re.compile(r"(?m)^<!--\s*command-output:\s*(.+?)\s*-->")
EXAMPLE = re.compile(r"(?m)^<!--\s*run-example:\s*(\S+)\s*-->")
MINATAR = re.compile(r"(?m)^<!--\s*minatar-results:\s*(\S+)\s*-->")
MINATAR_CONTENDERS = {"dqn": "ours: DQN", "reference": "reference DQN (PyTorch port)", "ppo": "ours: PPO"}
CODE_REF = re.compile(r"\]\[((?:%s)(?:\.\w+)+)\]" % "|".join(PACKAGES))


# ---------------------------------------------------------------- presets
def preset_files() -> list[Path]:
    return sorted(p for p in (ROOT / "algorithms").rglob("presets/*.toml"))


def _section_comments(text: str, name: str) -> list[str]:
    lines, out, inside = text.splitlines(), [], False
    for line in lines:
        if re.match(r"^\[%s\]\s*$" % re.escape(name), line):
            inside = True
            continue
        if inside:
            if line.startswith("#"):
                out.append(line.lstrip("# ").rstrip())
            elif line.strip():
                break
    return out


def _resolve(sections: dict, name: str, seen=()) -> dict:
    section = dict(sections[name])
    base = section.pop("extends", None)
    if base is None:
        return section
    if base in seen or base not in sections:
        raise ValueError(f"preset [{name}] extends unknown or cyclic [{base}]")
    return {**_resolve(sections, base, seen + (name,)), **section}


def preset_table(name: str) -> str:
    columns, notes = {}, []
    for path in preset_files():
        text = path.read_text()
        sections = tomllib.loads(text)
        if name not in sections:
            continue
        env = path.stem
        columns[env] = _resolve(sections, name)
        comment = " ".join(_section_comments(text, name))
        if comment:
            notes.append(f"- **{env}**: {comment}")
    if not columns:
        return f"No preset file has a `[{name}]` section: the algorithm runs with its config's defaults."
    keys = sorted({k for values in columns.values() for k in values})
    envs = list(columns)

    def fmt(value):
        if value is None:
            return ""
        if isinstance(value, bool):
            return "`true`" if value else "`false`"
        return f"`{value}`"

    rows = ["| key | " + " | ".join(envs) + " |", "|---|" + "---|" * len(envs)]
    rows += [f"| `{k}` | " + " | ".join(fmt(columns[e].get(k)) for e in envs) + " |" for k in keys]
    files = ", ".join(f"`{p.relative_to(ROOT).as_posix()}`" for p in preset_files() if p.stem in columns)
    out = [f"Generated from the preset files ({files}) when the site is built; a key left out keeps the "
           "config dataclass's default.", "", *rows]
    if notes:
        out += ["", "The comments beside each preset, as written there:", "", *notes]
    return "\n".join(out)


def presets_index() -> str:
    """Which algorithm has a preset for which environment: one row per preset file."""
    rows = ["| preset file | environment | algorithms with a table |", "|---|---|---|"]
    for path in preset_files():
        names = sorted(tomllib.loads(path.read_text()))
        rows.append(f"| `{path.relative_to(ROOT).as_posix()}` | {path.stem} | "
                    + ", ".join(f"`{n}`" for n in names) + " |")
    return "\n".join(rows)


# ---------------------------------------------------------------- benchmark records
def _seeds(record_dir: Path) -> list[int]:
    seeds = set()
    runs = record_dir / "runs.jsonl"
    if runs.is_file():
        for line in runs.read_text().splitlines():
            if line.strip():
                seeds.add(int(json.loads(line)["cell"]["seed"]))
    return sorted(seeds)


def _seed_label(seeds: list[int]) -> str:
    if seeds and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])
    return ", ".join(map(str, seeds))


def benchmark_records() -> list[dict]:
    records = []
    for summary in sorted(BENCHMARK.rglob("summary.csv")):
        folder = summary.parent
        seeds = _seeds(folder)
        sweep = folder.with_suffix(".toml")
        about = []
        if sweep.is_file():
            text = sweep.read_text()
            about = [line[2:].rstrip() if line.startswith("# ") else line[1:].rstrip()
                     for line in text.splitlines() if line.startswith("#")]
            declared = tomllib.loads(text).get("seeds")
            if isinstance(declared, int):
                seeds = list(range(declared))
            elif isinstance(declared, list):
                seeds = sorted(int(s) for s in declared)
        with summary.open() as f:
            rows = list(csv.DictReader(f))
        records.append({"folder": folder, "seeds": seeds, "rows": rows, "about": about,
                        "report": bool(seeds) and min(seeds) >= REPORT_SEED_MIN})
    return records


def _num(text: str, digits: int = 2) -> str:
    return "" if text in ("", None) else f"{float(text):,.{digits}f}"


def records_markdown(kind: str, page_dir: Path) -> str:
    out = []
    for record in benchmark_records():
        if record["report"] != (kind == "report"):
            continue
        folder = record["folder"]
        rel = Path(*[".."] * len(page_dir.relative_to(DOCS).parts), folder.relative_to(DOCS)).as_posix()
        name = folder.relative_to(BENCHMARK).as_posix()
        out += [f"### `{name}` — seeds {_seed_label(record['seeds'])}", ""]
        if record["about"]:
            out += ["The sweep file's own comments:", "", "```text", *record["about"], "```", ""]
        out += ["| algorithm | env | seeds | budget | mean ± std | IQM [95% CI] | solve rate (threshold) "
                "| wall time / run |", "|---|---|---|---|---|---|---|---|"]
        for r in record["rows"]:
            budget = f"{int(float(r['budget'])):,} {r['budget_unit']}"
            threshold = f" (≥ {float(r['threshold']):g})" if r.get("threshold") else ""
            solve = (f"{float(r['solve_rate']):.0%}{threshold}" if r.get("solve_rate")
                     else "" if r.get("threshold") else "n/a (no threshold)")
            out.append(f"| {r['algorithm']} | {r['env']} | {r['seeds']} | {budget} | {_num(r['mean'])} ± "
                       f"{_num(r['std'])} | {_num(r['iqm'])} [{_num(r['iqm_ci_low'])}, {_num(r['iqm_ci_high'])}] "
                       f"| {solve} | {_num(r['mean_wall_time_s'], 1)} s |")
        out += ["", f"Full report with its figures: [{name}/report.md]({rel}/report.md).", ""]
        if (folder / "learning_curves.png").is_file():
            out += [f"![{name}: learning curves]({rel}/learning_curves.png)", ""]
    return "\n".join(out) if out else "No benchmark record of this kind yet."


# ---------------------------------------------------------------- MinAtar results
def minatar_results(path: str) -> str:
    data = json.loads((DOCS / path).read_text())
    games = list(dict.fromkeys(key.split("/")[1] for key in data["results"]))
    out = []
    for game in games:
        out += [f"| MinAtar/{game}-v1, {data['steps']:,} env steps | seeds | mean greedy return | per seed "
                "| training per run |", "|---|---|---:|---|---:|"]
        for algo, label in MINATAR_CONTENDERS.items():
            values = data["results"].get(f"{algo}/{game}")
            if not values:
                continue
            seeds = sorted(values, key=int)
            seconds = data.get("train_seconds", {}).get(f"{algo}/{game}")
            average = sum(seconds.values()) / len(seconds) if seconds else None
            minutes = ("not recorded" if average is None else f"{average:.0f} s" if average < 120
                       else f"{average / 60:.0f} min")
            mean = sum(values[s] for s in seeds) / len(seeds)
            out.append(f"| {label} | {_seed_label([int(s) for s in seeds])} | {mean:.2f} | "
                       f"{', '.join(f'{values[s]:.2f}' for s in seeds)} | {minutes} |")
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------- code references
def public_target(identifier: str) -> str:
    """The nearest public parent of a dotted path: the object the API pages render."""
    parts = identifier.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_"):
            return ".".join(parts[:i])
    return identifier


# ---------------------------------------------------------------- generated command output
def _run(argv: list[str], cwd: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def command_output(args: str) -> str:
    with tempfile.TemporaryDirectory() as out:
        argv = [a.replace("{out}", out) for a in shlex.split(args)]
        done = _run([sys.executable, "-m", "algorithms", *argv], out)
        if done.returncode != 0:
            raise RuntimeError(f"docs: `tinygrad-rl {args}` exited {done.returncode}:\n{done.stderr[-2000:]}")
        files = [a for a in argv if a.startswith(out + os.sep) and Path(a).is_file()]
        text = Path(files[0]).read_text() if files else done.stdout
        text = text.replace(out + os.sep, "runs/").replace(out, "runs")      # as if run with --out runs/...
    return "```text\n" + text.rstrip() + "\n```"


def run_example(path: str) -> str:
    source = ROOT / path
    with tempfile.TemporaryDirectory() as out:
        done = _run([sys.executable, str(source)], out)
    if done.returncode != 0:
        raise RuntimeError(f"docs: example {path} exited {done.returncode}:\n{done.stderr[-2000:]}")
    shown = "```python\n" + source.read_text().rstrip() + "\n```"
    printed = done.stdout.replace(str(ROOT) + os.sep, "").rstrip()
    if printed:
        shown += "\n\nIt prints (run when the site was built):\n\n```text\n" + printed + "\n```"
    return shown


# ---------------------------------------------------------------- mkdocs events
SPHINX_ROLE = re.compile(r":(?:py:)?(?:mod|func|class|meth|attr|data|obj|exc):(?=<code)")


def on_page_content(html, page, config, files):
    return SPHINX_ROLE.sub("", html)


def on_page_markdown(markdown, page, config, files):
    page_dir = (DOCS / page.file.src_uri).parent
    markdown = PRESETS_INDEX.sub(lambda m: presets_index(), markdown)
    markdown = PRESETS.sub(lambda m: preset_table(m.group(1)), markdown)
    markdown = RESULTS.sub(lambda m: records_markdown(m.group(1), page_dir), markdown)
    markdown = MINATAR.sub(lambda m: minatar_results(m.group(1)), markdown)
    markdown = COMMAND.sub(lambda m: command_output(m.group(1)), markdown)
    markdown = EXAMPLE.sub(lambda m: run_example(m.group(1)), markdown)
    markdown = CODE_REF.sub(lambda m: f"][{public_target(m.group(1))}]", markdown)
    return markdown
