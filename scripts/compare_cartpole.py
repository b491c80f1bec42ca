"""A2C vs DQN vs Double DQN vs REINFORCE on CartPole-v1: learning curves over seeds in one figure.

Reads the run folders that ``scripts/bench_solve.py --suite cartpole`` wrote (their
metrics.csv), so no training is repeated. For each run the training episode returns are
smoothed (rolling mean over 20 episodes) and interpolated onto a common grid of env steps;
the figure shows the mean over seeds and the band between the lowest and highest seed.

    python scripts/compare_cartpole.py --runs runs/bench_solve --out docs/figures/deep_compare_cartpole.png
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from algorithms.plots import plt, rolling_mean, save_figure
from algorithms.presets import load_preset

ALGOS = ["dqn", "double_dqn", "a2c", "reinforce"]
COLORS = {"dqn": "tab:red", "double_dqn": "tab:blue", "a2c": "tab:green", "reinforce": "tab:purple"}


def episode_curve(metrics_csv: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(metrics_csv) as f:
        rows = [r for r in csv.DictReader(f) if r["episode_return"]]
    steps = np.array([int(r["env_step"]) for r in rows])
    returns = np.array([float(r["episode_return"]) for r in rows])
    return steps, rolling_mean(returns, 20)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="runs/bench_solve", help="bench_solve.py output folder")
    parser.add_argument("--out", default="runs/compare_cartpole/deep_compare_cartpole.png")
    args = parser.parse_args(argv)
    results_path = Path(args.runs) / "results.jsonl"
    if not results_path.exists():
        print(f"compare_cartpole: {results_path} not found; run scripts/bench_solve.py --suite cartpole first",
              file=sys.stderr)
        return 2
    runs: dict[str, list[Path]] = {algo: [] for algo in ALGOS}
    for line in results_path.read_text().splitlines():
        row = json.loads(line)
        key = json.loads(row["key"])
        algo, env_id, overrides = key[0], key[1], key[4]
        # only runs of the current presets without overrides (older rows are stale)
        current = len(key) == 6 and algo in runs and key[5] == dataclasses.asdict(load_preset(algo, env_id))
        if env_id == "CartPole-v1" and current and row["ok"] and not overrides:
            runs[algo].append(Path(row["out"]) / "metrics.csv")

    fig, ax = plt.subplots(figsize=(8, 4.8))
    print("algo,seeds,env_steps,final_smoothed_return_mean")
    for algo in ALGOS:
        curves = [episode_curve(p) for p in runs[algo] if p.exists()]
        if not curves:
            print(f"{algo},0,,(no runs found)")
            continue
        horizon = min(steps[-1] for steps, _ in curves)
        start = max(steps[0] for steps, _ in curves)      # no extrapolation before the first episode
        grid = np.geomspace(start, horizon, 200)
        values = np.array([np.interp(grid, steps, smoothed) for steps, smoothed in curves])
        ax.plot(grid, values.mean(axis=0), color=COLORS[algo], label=f"{algo} (mean of {len(curves)} seeds)")
        ax.fill_between(grid, values.min(axis=0), values.max(axis=0), color=COLORS[algo], alpha=0.15)
        print(f"{algo},{len(curves)},{horizon},{values.mean(axis=0)[-1]:.1f}")
    ax.axhline(475, color="black", linestyle=":", linewidth=1, label="solved (475)")
    ax.set_xscale("log")
    ax.set_xlabel("env steps (log scale)")
    ax.set_ylabel("training episode return (rolling mean of 20)")
    ax.set_title("CartPole-v1: learning curves, mean and min-max band over seeds")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left")
    save_figure(fig, args.out)
    print(f"# figure: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
