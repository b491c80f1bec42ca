"""The DQN-family ablation figure from a benchmark sweep's records: one column per env, training
return (top) and the periodic deterministic evaluation (bottom) against env steps, each setting's
mean over seeds with a 95% percentile-bootstrap band.

The runs come from ``tinygrad-rl benchmark --sweep docs/benchmark/dqn_ablation_cartpole.toml --out
DIR`` (DQN, + Double, + n-step, + dueling, + prioritized replay, all together; the same for
LunarLander); this script only reads ``DIR/runs.jsonl``, keeping the cells of the sweep files given
with ``--sweep`` (a runs.jsonl may hold more). Settings are named by what they add to DQN.

    python scripts/dqn_ablation.py docs/benchmark/dqn_ablation_cartpole \
        --sweep docs/benchmark/dqn_ablation_cartpole.toml --out runs/figures/dqn_ablation.png
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from algorithms.benchmark.records import RUNS_FILE, arm_label, latest_by_cell, load_records
from algorithms.benchmark.stats import stratified_bootstrap_ci
from algorithms.benchmark.sweep import SweepSpec, load_sweep_file
from algorithms.runs.checkpoint import atomic_write
from algorithms.runs.plots import label_env_steps, plt, rolling_mean

ORDER = ["DQN", "+ Double", "+ n-step", "+ dueling", "+ prioritized", "all four"]
SMOOTH = 20          # episodes in the rolling mean of the training return
GRID_POINTS = 200


def display_name(cell: dict, shared: dict | None = None) -> str:
    """"DQN", "+ Double", "+ n-step (n=3)", ... from a cell's algorithm and overrides; settings in
    ``shared`` (those every setting of the env has) are left out of the name."""
    shared = shared or {}
    overrides = {k: v for k, v in (cell.get("overrides") or {}).items() if shared.get(k, object()) != v}
    parts = []
    if cell["algorithm"] in ("double_dqn", "dqn_rainbow"):
        parts.append("Double")
    if overrides.get("n_step", 3 if cell["algorithm"] == "dqn_rainbow" else 1) > 1:
        parts.append(f"n-step (n={overrides.get('n_step', 3)})")
    if overrides.get("dueling", cell["algorithm"] == "dqn_rainbow"):
        parts.append("dueling")
    if overrides.get("prioritized", cell["algorithm"] == "dqn_rainbow"):
        parts.append("prioritized")
    others = [f"{k}={v}" for k, v in overrides.items() if k not in ("n_step", "dueling", "prioritized")]
    if not parts:
        name = "DQN"
    elif len(parts) >= 4:
        name = "all four: " + " + ".join(parts)
    else:
        name = "+ " + " + ".join(parts)
    return name + (f" ({', '.join(others)})" if others else "")


def mean_band(curves: np.ndarray):
    ci = stratified_bootstrap_ci([curves], np.mean, axis=0)
    return curves.mean(axis=0), (None, None) if ci is None else ci


def training_curves(runs: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Each run's rolling-mean training return on a common grid of env steps (step function of the
    last finished episode), up to the shortest run."""
    ends = [np.cumsum(run["episode_lengths"]) for run in runs]
    grid = np.linspace(0, min(e[-1] for e in ends), GRID_POINTS + 1)[1:]
    curves = []
    for run, end in zip(runs, ends):
        smooth = rolling_mean(np.asarray(run["episode_returns"]), SMOOTH)
        index = np.clip(np.searchsorted(end, grid, side="right") - 1, 0, len(smooth) - 1)
        curves.append(smooth[index])
    return grid, np.asarray(curves)


def eval_curves(runs: list[dict]) -> tuple[np.ndarray, np.ndarray] | None:
    """The periodic evaluations, at the env steps every run evaluated at."""
    if not all("eval_curve" in run for run in runs):
        return None
    common = sorted(set.intersection(*(set(run["eval_curve"]["env_steps"]) for run in runs)))
    curves = [[dict(zip(run["eval_curve"]["env_steps"], run["eval_curve"]["mean_return"]))[s] for s in common]
              for run in runs]
    return np.asarray(common, dtype=np.float64), np.asarray(curves)


def plot(records: dict[str, dict], out: Path) -> list[str]:
    groups: dict[tuple[str, str], list[dict]] = {}
    ok = [record for record in records.values() if record["status"] == "ok"]
    shared = {}   # env -> the overrides every cell of that env has (named once, in the env's titles)
    for record in ok:
        items = set((record["cell"].get("overrides") or {}).items())
        env = record["cell"]["env"]
        shared[env] = items if env not in shared else shared[env] & items
    shared = {env: dict(items) for env, items in shared.items()}
    names: dict[str, str] = {}
    for record in ok:
        label = arm_label(record["cell"])
        names[label] = display_name(record["cell"], shared[record["cell"]["env"]])
        groups.setdefault((label, record["cell"]["env"]), []).append(record)
    labels = list(dict.fromkeys(label for label, _ in groups))
    envs = list(dict.fromkeys(env for _, env in groups))
    # One colour per component (the name without its settings), so DQN, + Double, ... look alike in
    # every column, and the rows in the order of ORDER.
    def component(label):
        name = names[label].split(" (")[0].split(":")[0]
        return ORDER.index(name) if name in ORDER else len(ORDER) + sorted(names.values()).index(names[label])
    labels = sorted(labels, key=component)
    colours = {label: plt.get_cmap("tab10")(component(label) % 10) for label in labels}
    fig, axes = plt.subplots(3, len(envs), figsize=(6.4 * len(envs), 11.5), squeeze=False, layout="constrained",
                             gridspec_kw={"height_ratios": [3, 3, 2.2]})
    summary, legend = [], {}
    for column, env in enumerate(envs):
        threshold = next(r["solve_threshold"] for (_, e), rs in groups.items() if e == env for r in rs)
        top, bottom, finals = axes[0, column], axes[1, column], axes[2, column]
        shown = [label for label in labels if (label, env) in groups]
        for row, label in enumerate(shown):
            runs = groups.get((label, env))
            if not runs:
                continue
            seeds = len(runs)
            final = np.array([run["eval"]["mean_return"] for run in runs])
            solved = int(np.sum(final >= threshold))
            x, curves = training_curves(runs)
            mean, (low, high) = mean_band(curves)
            line, = top.plot(x, mean, color=colours[label])
            legend.setdefault(names[label], line)
            y = len(shown) - 1 - row
            finals.scatter(final, y + np.linspace(-0.2, 0.2, seeds), color=colours[label], s=14, zorder=3)
            finals.text(1.01, y, f"{solved}/{seeds}", transform=finals.get_yaxis_transform(), va="center",
                        fontsize=8)
            if low is not None:
                top.fill_between(x, low, high, color=colours[label], alpha=0.15, linewidth=0)
            evaluated = eval_curves(runs)
            if evaluated is not None:
                x, curves = evaluated
                mean, (low, high) = mean_band(curves)
                bottom.plot(x, mean, "o-", markersize=3, color=colours[label])
                if low is not None:
                    bottom.fill_between(x, low, high, color=colours[label], alpha=0.15, linewidth=0)
            summary.append(f"{env} | {names[label]} | {seeds} | {solved}/{seeds} | {final.mean():.1f}")
        for ax in (top, bottom):
            threshold_line = ax.axhline(threshold, color="black", linestyle="--", linewidth=1)
            ax.grid(alpha=0.3)
            label_env_steps(ax.xaxis)
        finals.axvline(threshold, color="black", linestyle="--", linewidth=1)
        finals.set_yticks(range(len(shown)), [names[label].split(":")[0] for label in reversed(shown)], fontsize=7)
        finals.set_ylim(-0.6, len(shown) - 0.4)
        finals.grid(alpha=0.3, axis="x")
        legend.setdefault("solve threshold (gymnasium)", threshold_line)
        seeds = sorted({run["cell"]["seed"] for (_, e), runs in groups.items() if e == env for run in runs})
        common = ", ".join(f"{k}={v}" for k, v in shared[env].items())
        heading = f"{env}" + (f" (all settings: {common})" if common else "")
        top.set(title=f"{heading}\ntraining return (ε-greedy, rolling mean of {SMOOTH} episodes)",
                xlabel="env steps", ylabel="episode return")
        bottom.set(title=f"{env}: deterministic evaluation every {int(np.diff(x[:2])[0]):,} env steps",
                   xlabel="env steps", ylabel="evaluation return (episode mean)")
        for ax in (top, bottom):
            ax.title.set_fontsize(10)
        budget = groups[(shown[0], env)][0]["cell"]["budget"]
        finals.set(title=f"{env}: final evaluation at {budget:,} env steps, one dot per seed\n"
                         f"(seeds {seeds[0]}-{seeds[-1]}; right: seeds solved)",
                   xlabel="evaluation return (mean of 20 deterministic episodes)")
        finals.title.set_fontsize(9)
    fig.legend(legend.values(), legend.keys(), loc="outside lower center", ncol=2, fontsize=8)
    fig.suptitle("DQN ablation: each Rainbow component added to DQN, and all of them together\n"
                 "mean over seeds, band: 95% percentile-bootstrap CI of the mean", fontsize=11)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda handle: fig.savefig(handle, format="png", dpi=110))
    plt.close(fig)
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweeps", nargs="+", help="benchmark output folders (their runs.jsonl are read)")
    parser.add_argument("--sweep", action="append", default=[], metavar="FILE",
                        help="keep only the cells of these sweep files (default: every record)")
    parser.add_argument("--out", required=True, help="PNG to write")
    args = parser.parse_args(argv)
    records = {}
    for folder in args.sweeps:
        path = Path(folder) / RUNS_FILE
        if not path.is_file():
            parser.error(f"{folder} has no {RUNS_FILE}")
        records.update(latest_by_cell(load_records(path)))
    if args.sweep:
        keys = [cell.key for file in args.sweep for cell in SweepSpec.build(**load_sweep_file(file)).cells()]
        missing = [key for key in keys if key not in records]
        if missing:
            parser.error(f"no record of {len(missing)} cells of the sweep, e.g. {missing[0]}")
        records = {key: records[key] for key in keys}
    summary = plot(records, Path(args.out))
    print("env | setting | seeds | solved | final eval mean")
    print("\n".join(summary))
    print(f"figure: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
