"""Q-learning vs SARSA on CliffWalking (Sutton & Barto 2018, Example 6.6 and Figure 6.4).

Writes under --out:
  cliffwalking_returns.png  sum of rewards per episode, mean over runs, smoothed, with a
                            95% band of the mean (as Figure 6.4);
  cliffwalking_paths.png    the greedy path each method learned (run 0), drawn on the grid.
Prints the mean online return of the last 100 episodes and how many runs' greedy paths were
the optimal 13-step path along the cliff / a path that never touches the cliff edge.

    python scripts/solve_cliffwalking.py --runs 100 --episodes 500 --out runs/cliffwalking
"""
from __future__ import annotations

import os
import time

import matplotlib.pyplot as plt
import numpy as np
from tabular_plots import OneLineParser, positive_int, probability, run_cli, save_figure

from algorithms.benchmark.stats import smoothed_returns
from algorithms.tabular import EpsilonGreedy, q_learning, sarsa
from envs_wrappers import make_env
from tinygrad_rl.arrays import spawn_seeds

SHAPE = (4, 12)
START, GOAL = 36, 47
CLIFF = set(range(37, 47))
CLIFF_EDGE = set(range(25, 35))  # the row directly above the cliff, columns 1..10
METHODS = {"Q-learning": (q_learning, "tab:red"), "SARSA": (sarsa, "tab:blue")}


def parse_args():
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=positive_int, default=100, help="independent runs per method")
    parser.add_argument("--episodes", type=positive_int, default=500)
    parser.add_argument("--alpha", type=probability, default=0.5, help="step size")
    parser.add_argument("--epsilon", type=probability, default=0.1)
    parser.add_argument("--smooth", type=positive_int, default=10, help="moving-average window (episodes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/cliffwalking")
    return parser.parse_args()


def plot_returns(curves: dict, args, path: str) -> None:
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    episodes = np.arange(1, args.episodes + 1)
    for name, returns in curves.items():
        smoothed = np.stack([smoothed_returns(r, args.smooth) for r in returns])
        mean = smoothed.mean(axis=0)
        half_width = 1.96 * smoothed.std(axis=0, ddof=1) / np.sqrt(len(smoothed)) if len(smoothed) > 1 else 0
        colour = METHODS[name][1]
        ax.plot(episodes, mean, color=colour, label=name)
        ax.fill_between(episodes, mean - half_width, mean + half_width, color=colour, alpha=0.2)
    ax.set_ylim(-100, 0)
    ax.set_xlim(1, args.episodes)
    ax.set_xlabel("episode")
    ax.set_ylabel("sum of rewards during episode")
    ax.set_title(f"CliffWalking, epsilon-greedy (epsilon={args.epsilon}), alpha={args.alpha}\n"
                 f"mean of {args.runs} runs, {args.smooth}-episode moving average, 95% band of the mean")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def plot_paths(paths: dict, path: str) -> None:
    fig, ax = plt.subplots(figsize=(9, 3.6))
    n_rows, n_cols = SHAPE
    for state in range(n_rows * n_cols):
        row, col = divmod(state, n_cols)
        face = "#444444" if state in CLIFF else "#f4f4f4"
        ax.add_patch(plt.Rectangle((col - 0.5, row - 0.5), 1, 1, facecolor=face, edgecolor="#bbbbbb"))
    ax.text(5.5, 3, "The Cliff (reward -100, back to S)", ha="center", va="center", color="white", fontsize=10)
    for state, label in ((START, "S"), (GOAL, "G")):
        row, col = divmod(state, n_cols)
        ax.text(col, row, label, ha="center", va="center", fontsize=14, fontweight="bold")
    offsets = {"Q-learning": 0.08, "SARSA": -0.08}  # keep overlapping segments apart
    for name, states in paths.items():
        rows, cols = np.divmod(np.asarray(states), n_cols)
        ax.plot(cols, rows + offsets[name], "-o", color=METHODS[name][1], markersize=3, linewidth=2.5,
                label=f"{name} greedy path ({len(states) - 1} steps)")
    ax.set_xlim(-0.5, n_cols - 0.5)
    ax.set_ylim(n_rows - 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_xticks(range(n_cols))
    ax.set_yticks(range(n_rows))
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    ax.set_title("Greedy paths after training (run 0): Q-learning walks the edge, SARSA keeps away")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
    save_figure(fig, path)


def main() -> None:
    args = parse_args()
    env = make_env("CliffWalking-v1")
    seeds = spawn_seeds(args.seed, args.runs)
    curves, first_paths = {}, {}
    print(f"CliffWalking: {args.runs} runs x {args.episodes} episodes, alpha={args.alpha}, epsilon={args.epsilon}")
    for name, (method, _) in METHODS.items():
        start = time.perf_counter()
        results = [method(env, args.episodes, args.alpha, 1.0, EpsilonGreedy(args.epsilon), seed) for seed in seeds]
        paths = [r.greedy_path(env) for r in results]
        curves[name] = [r.episode_returns for r in results]
        first_paths[name] = paths[0]
        last_100 = np.array([r.episode_returns[-100:].mean() for r in results])
        optimal = sum(len(p) == 14 and p[-1] == GOAL for p in paths)
        safe = sum(p[-1] == GOAL and not CLIFF_EDGE & set(p) for p in paths)
        spread = last_100.std(ddof=1) if len(last_100) > 1 else 0
        print(f"  {name:<10} last-100-episode online return {last_100.mean():7.2f} +- {spread:5.2f} (sd over runs); "
              f"greedy path: optimal 13-step in {optimal}/{args.runs} runs, away from the edge in {safe}/{args.runs}; "
              f"{time.perf_counter() - start:.1f}s")
    plot_returns(curves, args, os.path.join(args.out, "cliffwalking_returns.png"))
    plot_paths(first_paths, os.path.join(args.out, "cliffwalking_paths.png"))
    print(f"figures written to {args.out}/")


if __name__ == "__main__":
    run_cli(main)
