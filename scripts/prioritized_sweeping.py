"""Prioritized sweeping against Dyna-Q on Dyna mazes of growing resolution: Q updates until the
greedy path is (near) optimal (S&B Example 8.4, after Peng & Williams 1993).

The maze of Figure 8.2 is refined by doubling the rows, then the columns, and so on
(47, 94, 188, 376, 752, 1504, 3008, 6016 open cells). Both methods make at most n = 5 updates per
real step (Dyna-Q: 1 direct + 5 planned; prioritized sweeping: up to 5 pops of its queue). After
every episode the greedy policy (lowest action index among ties) is walked from S; a run stops
when that path reaches the goal in at most --tolerance times the shortest path's steps. A run that
has not stopped after --max-episodes is censored (its count is a lower bound; drawn hollow).

Writes under --out:
  prioritized_sweeping_mazes.png  median updates until (near-)optimal against maze size, log-log,
                                  one line per method and step size, every run as a dot.
Prints the medians, the ratio Dyna-Q / prioritized sweeping, censored runs and the time taken.

    python scripts/prioritized_sweeping.py --runs 5 --sizes 7 --out runs/figures
"""
from __future__ import annotations

import os
import time

import matplotlib.pyplot as plt
import numpy as np
from tabular_plots import OneLineParser, positive_float, positive_int, probability, run_cli, save_figure

from algorithms.tabular import EpsilonGreedy, dyna_q, prioritized_sweeping
from envs_wrappers import DynaMaze
from tinygrad_rl.arrays import spawn_seeds

#: (row_factor, col_factor) of each maze: every step doubles the number of open cells.
RESOLUTIONS = ((1, 1), (2, 1), (2, 2), (4, 2), (4, 4), (8, 4), (8, 8), (16, 8))
STYLES = {"Dyna-Q": "tab:blue", "prioritized sweeping": "tab:red"}
LINESTYLES = ("-", "--", ":", "-.")


def parse_args():
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=positive_int, default=5, help="runs per method and maze (default 5)")
    parser.add_argument("--sizes", type=positive_int, default=7,
                        help=f"how many mazes, from 47 open cells up (default 7, at most {len(RESOLUTIONS)})")
    parser.add_argument("--alphas", type=probability, nargs="+", default=[0.5, 1.0],
                        help="step sizes to compare (default 0.5 1.0)")
    parser.add_argument("--planning-steps", type=positive_int, default=5, help="n (default 5, as the book)")
    parser.add_argument("--epsilon", type=probability, default=0.1)
    parser.add_argument("--gamma", type=probability, default=0.95)
    parser.add_argument("--theta", type=positive_float, default=1e-4, help="priority threshold (default 1e-4)")
    parser.add_argument("--tolerance", type=positive_float, default=1.2,
                        help="stop when the greedy path has at most tolerance x shortest steps (default 1.2)")
    parser.add_argument("--max-episodes", type=positive_int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/prioritized_sweeping")
    args = parser.parse_args()
    if args.sizes > len(RESOLUTIONS):
        parser.error(f"--sizes must be at most {len(RESOLUTIONS)}, got {args.sizes}")
    if args.tolerance < 1:
        parser.error(f"--tolerance must be >= 1, got {args.tolerance}")
    return args


def main() -> None:
    args = parse_args()
    seeds = spawn_seeds(args.seed, args.runs)
    exploration = EpsilonGreedy(args.epsilon)
    methods = {
        "Dyna-Q": lambda env, alpha, seed, stop: dyna_q(
            env, args.max_episodes, args.planning_steps, alpha, args.gamma, exploration, seed, stop_when=stop),
        "prioritized sweeping": lambda env, alpha, seed, stop: prioritized_sweeping(
            env, args.max_episodes, args.planning_steps, alpha, args.gamma, exploration, seed,
            theta=args.theta, stop_when=stop),
    }
    print(f"Prioritized sweeping vs Dyna-Q: {args.runs} runs, n={args.planning_steps}, alphas={args.alphas}, "
          f"epsilon={args.epsilon}, gamma={args.gamma}, theta={args.theta:g}, stop at greedy path <= "
          f"{args.tolerance:g} x shortest, at most {args.max_episodes} episodes")
    sizes = []
    updates = {(method, alpha): [] for alpha in args.alphas for method in methods}
    stopped = {key: [] for key in updates}
    for resolution in RESOLUTIONS[:args.sizes]:
        env = DynaMaze(resolution)
        shortest = env.shortest_path_length()
        sizes.append(len(env.open_states))

        def near_optimal(Q, env=env, shortest=shortest):
            steps = env.greedy_path_length(Q)
            return steps is not None and steps <= args.tolerance * shortest

        line = [f"  {sizes[-1]:>5} cells (shortest path {shortest:>3}):"]
        for alpha in args.alphas:
            medians = {}
            for method, run in methods.items():
                start = time.perf_counter()
                results = [run(env, alpha, seed, near_optimal) for seed in seeds]
                updates[(method, alpha)].append([r.updates for r in results])
                stopped[(method, alpha)].append([r.stopped for r in results])
                medians[method] = float(np.median([r.updates for r in results]))
                censored = sum(not r.stopped for r in results)
                line.append(f"alpha {alpha:g} {method} median {medians[method]:,.0f}"
                            + (f" ({censored} censored)" if censored else "")
                            + f" [{time.perf_counter() - start:.1f}s]")
            line.append(f"ratio {medians['Dyna-Q'] / medians['prioritized sweeping']:.1f}x")
        print(" | ".join(line), flush=True)

    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    for (method, alpha), counts in updates.items():
        counts = np.array(counts, dtype=float)
        done = np.array(stopped[(method, alpha)])
        colour = STYLES[method]
        style = LINESTYLES[args.alphas.index(alpha) % len(LINESTYLES)]
        ax.plot(sizes, np.median(counts, axis=1), style, color=colour, linewidth=2,
                label=f"{method}, alpha = {alpha:g} (median)")
        jitter = 1.0 + 0.04 * (args.alphas.index(alpha) - (len(args.alphas) - 1) / 2)
        for column, size in enumerate(sizes):
            xs = np.full(len(counts[column]), size * jitter)
            ax.scatter(xs[done[column]], counts[column][done[column]], s=12, color=colour, alpha=0.6)
            ax.scatter(xs[~done[column]], counts[column][~done[column]], s=18, facecolors="none",
                       edgecolors=colour, alpha=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(sizes)
    ax.set_xticklabels([str(s) for s in sizes])
    ax.minorticks_off()
    ax.set_xlabel("gridworld size (number of open cells)")
    ax.set_ylabel("Q updates until the greedy path is near optimal")
    ax.set_title(f"Prioritized sweeping vs Dyna-Q on refined Dyna mazes (S&B Example 8.4)\n"
                 f"n={args.planning_steps}, epsilon={args.epsilon}, gamma={args.gamma}, theta={args.theta:g}; "
                 f"{args.runs} runs each (dots; hollow: not there after {args.max_episodes} episodes); "
                 f"stop at <= {args.tolerance:g} x shortest", fontsize=9)
    ax.legend(loc="upper left", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    save_figure(fig, os.path.join(args.out, "prioritized_sweeping_mazes.png"))
    print(f"figure written to {args.out}/")


if __name__ == "__main__":
    run_cli(main)
